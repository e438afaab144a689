import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MalformedError } from "../../src/errors.js";
import {
  DYNASPLIT_COLUMNS,
  exportDynasplitCsv,
  importDynasplitCsv,
  parseCsv,
  pyFloat,
  writeCsv,
} from "../../src/contracts/dynasplitCsv.js";
import { checkMeasurement } from "../../src/contracts/measurement.js";

const dataFile = (name: string) => fileURLToPath(new URL(`../../../shared/data/dynasplit/${name}`, import.meta.url));
const vggText = readFileSync(dataFile("simulation_pool_vgg16.csv"), "utf8");
const vitText = readFileSync(dataFile("simulation_pool_vit.csv"), "utf8");
const opts = (name: string) => ({
  model: { name, sha256: "0".repeat(63) + "1" },
  host: { name: "dynasplit-testbed", board: "rpi4+coral" },
  measuredAt: "2024-10-31T00:00:00.000Z",
});

/** parse a raw CSV row into numbers where numeric, strings otherwise */
const parsedRows = (text: string) =>
  parseCsv(text).map((r) => r.fields.map((f) => (f !== "" && !Number.isNaN(Number(f)) ? Number(f) : f)));

describe("importDynasplitCsv", () => {
  const vgg = importDynasplitCsv(vggText, opts("vgg16"));
  const vit = importDynasplitCsv(vitText, opts("vit-b16"));

  it("reads every row of both published pools (1082 VGG16, 321 ViT runs; 747 and 57 configurations)", () => {
    expect(vgg).toHaveLength(1082);
    expect(vit).toHaveLength(321);
    expect(new Set(vgg.map((m) => m.key)).size).toBe(747);
    expect(new Set(vit.map((m) => m.key)).size).toBe(57);
    for (const m of [...vgg, ...vit]) expect(checkMeasurement(m).ok).toBe(true);
  });

  it("maps the first VGG16 row field by field as in the raw text", () => {
    const raw = vggText.split("\n")[1]!.split(",");
    expect(raw[0]).toBe("0.603");
    const m = vgg[0]!;
    expect(m.config).toEqual({ layer: 22, "cpu-freq": 1200, "edge-accelerator": "max", "server-accelerator": false });
    expect(m.accuracy?.value).toBe(Number(raw[0]));
    expect(m.accuracy?.n).toBe(1000);
    const [lo, hi] = m.accuracy!.ci95;
    expect(lo).toBeLessThan(0.603);
    expect(hi).toBeGreaterThan(0.603);
    expect(m.latencyMs.mean).toBe(Number(raw[1]));
    expect(m.energyJ.total).toBe(Number(raw[2]));
    expect(m.energyJ.device).toBe(Number(raw[3]));
    expect(m.breakdownMs.head).toBe(Number(raw[4]));
    expect(m.energySource).toEqual({ device: "meter", network: null, server: "node" });
    expect(m.utilizationPct?.deviceCpu).toBe(15.6);
    expect(m.bytes).toBe(0);
    expect(m.source).toBe("imported");
    expect(m.key).toContain("cpu-freq=1200;edge-accelerator=max;layer=22;server-accelerator=false");
  });

  it("maps a ViT cloud row: no accuracy, energy = edge + whole cloud node, tensor bytes = KB x 1024", () => {
    const m = vit[0]!;
    expect(m.accuracy).toBeNull();
    expect(m.config).toEqual({ layer: 3, "cpu-freq": 600, "edge-accelerator": "off", "server-accelerator": true });
    expect(m.latencyMs.mean).toBe(186.928416355);
    expect(m.energyJ.server).toBe(91.01736450195312);
    expect(m.energyJ.serverGpu).toBe(6.778214931488037);
    expect(m.energyJ.device! + m.energyJ.server!).toBeCloseTo(m.energyJ.total!, 9);
    expect(m.breakdownMs.server).toBe(99.522917);
    expect(m.breakdownMs.transfer).toBe(11.050954732999998);
    expect(m.bytes).toBe(591.021484375 * 1024);
  });

  it("round-trips both files: same parsed values and, with Python float printing, the same bytes", () => {
    for (const [text, ms] of [
      [vggText, vgg],
      [vitText, vit],
    ] as const) {
      const out = exportDynasplitCsv(ms);
      expect(parsedRows(out)).toEqual(parsedRows(text));
      expect(out).toBe(text);
      expect(importDynasplitCsv(out, opts("again"))).toHaveLength(ms.length);
    }
  });

  it("exports the chosen columns in the chosen order", () => {
    const out = exportDynasplitCsv(vgg.slice(0, 2), { columns: ["layer", "energy"] });
    expect(out).toBe(`layer,energy\n22.0,${vggText.split("\n")[1]!.split(",")[2]}\n22.0,${vggText.split("\n")[2]!.split(",")[2]}\n`);
    expect(exportDynasplitCsv(vgg.slice(0, 1)).split("\n")[0]).toBe(DYNASPLIT_COLUMNS.join(","));
  });
});

describe("malformed CSV gives a one-line MalformedError naming the line", () => {
  const header = vitText.split("\n")[0]!;
  const row = vitText.split("\n")[1]!;
  const cases: [string, string, RegExp][] = [
    ["wrong column count", `${header}\n${row}\n${row},extra\n`, /line 3: expected 16 fields, got 17/],
    ["unterminated quote", `${header}\n${row}\n"${row}\n${row}\n`, /line 3: unterminated quoted field/],
    ["not a number", `${header}\n${row.replace(/^[^,]+/, "fast")}\n`, /line 2: column "latency" is "fast"/],
    ["bad boolean", `${header}\n${row.replace(/True$/, "yes")}\n`, /line 2: column "server-accelerator"/],
    ["unknown column", `${header},strategy\n${row},cloud\n`, /line 1: unknown column/],
    ["missing column", `${header.replace(",layer", "")}\n`, /line 1: missing column.*"layer"/],
  ];
  it.each(cases)("%s", (_name, text, re) => {
    let err: unknown;
    try {
      importDynasplitCsv(text, opts("x"));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MalformedError);
    const msg = (err as Error).message;
    expect(msg).toMatch(re);
    expect(msg).not.toContain("\n");
  });
});

describe("CSV reader/writer (RFC 4180)", () => {
  it("reads quoted fields with commas, doubled quotes, newlines and CRLF", () => {
    expect(parseCsv('a,"b,c","d ""e""",\r\n"x\ny",2\n').map((r) => r.fields)).toEqual([
      ["a", "b,c", 'd "e"', ""],
      ["x\ny", "2"],
    ]);
  });
  it("writes what it reads", () => {
    const field = fc.string({ unit: fc.constantFrom("a", ",", '"', "\n", "\r\n", " ", "é", "1") });
    fc.assert(
      fc.property(fc.array(fc.array(field, { minLength: 2, maxLength: 4 }), { minLength: 1, maxLength: 5 }), (rows) => {
        expect(parseCsv(writeCsv(rows)).map((r) => r.fields)).toEqual(rows);
      }),
    );
  });
  it("prints floats like Python repr", () => {
    expect([1200, 0, 0.603, 1e-5, 0.0001, 1.5e16, 1e22, 123456789012345.6, -2.5].map(pyFloat)).toEqual([
      "1200.0",
      "0.0",
      "0.603",
      "1e-05",
      "0.0001",
      "1.5e+16",
      "1e+22",
      "123456789012345.6",
      "-2.5",
    ]);
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => Object.is(Number(pyFloat(x)), x)));
  });
});
