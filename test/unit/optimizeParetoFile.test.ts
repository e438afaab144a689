import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MalformedError, UsageError } from "../../src/errors.js";
import { canonicalConfigKey } from "../../src/contracts/measurement.js";
import type { EvaluationResult } from "../../src/search/evaluator.js";
import { optimize } from "../../src/search/optimize.js";
import { checkParetoFile, readParetoFile, V1_WARNING, writeParetoFile, type ParetoFile } from "../../src/contracts/paretoFile.js";
import { paretoDocument } from "../../src/search/paretoDocument.js";
import { Space } from "../../src/search/space.js";

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "splitwatt-pareto-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const space = new Space([
  { name: "layer", values: [0, 1, 2, 3, 4, 5], ordered: true },
  { name: "edge-accelerator", values: ["max", "off"], ordered: false },
  { name: "server-accelerator", values: [false, true], ordered: false },
]);

async function document(): Promise<ParetoFile> {
  return (await run()).doc;
}

async function run(): Promise<{ doc: ParetoFile; asked: string[] }> {
  const asked: string[] = [];
  const r = await optimize({
    space,
    objectives: ["latency", "energy", "accuracy"],
    budget: 10,
    seed: 3,
    algorithm: "nsga2",
    constraints: { maxLatencyMs: 500 },
    evaluate: async (c): Promise<EvaluationResult> => {
      asked.push(canonicalConfigKey(c));
      const l = c.layer as number;
      const lat = 50 + 40 * l + (c["server-accelerator"] ? 0 : 25) + (c["edge-accelerator"] === "max" ? -5 : 0);
      return { latencyMs: lat, latency: { p50: lat, p95: lat * 1.1, p99: null, max: lat * 1.2, n: 4 }, energyJ: 30 - 5 * l, accuracy: c["edge-accelerator"] === "max" ? 0.6 : 0.61 };
    },
  });
  return { doc: paretoDocument(r, { mode: "replay", source: { pool: "/x/pool.csv", sha256: "ab".repeat(32) }, model: "pool", network: null, space, generatedAt: "2025-01-02T03:04:05.000Z" }), asked };
}

/** The version-1 document the same run would have written (what older splitwatt versions left on disk). */
function asVersion1(doc: ParetoFile): Record<string, unknown> {
  const { archive: _archive, front, ...rest } = doc;
  return {
    ...rest,
    version: 1,
    front: front.map((f) => ({ config: f.config, latencyMs: f.latencyMs, energyJ: f.energyJ.total, accuracy: f.accuracy?.value ?? null, latency: { p50: f.latency.p50, p95: f.latency.p95, p99: f.latency.p99, max: f.latency.max, n: f.latency.n } })),
  };
}

describe("pareto file", () => {
  it("has the issue's shape and round-trips through write and read (atomically, no temp file left)", async () => {
    const doc = await document();
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(["version", "model", "space", "objectives", "algorithm", "seed", "budget", "evaluations", "hypervolume", "front", "archive"]));
    expect(doc.version).toBe(2);
    expect(doc.space.dimensions.map((d) => d.name)).toEqual(["layer", "edge-accelerator", "server-accelerator"]);
    expect(doc.evaluations).toBe(10);
    expect(doc.front.length).toBeGreaterThan(0);
    for (const f of [...doc.front, ...doc.archive]) {
      expect(Object.keys(f).sort()).toEqual(["accuracy", "breakdownMs", "bytes", "conditions", "config", "energyJ", "energySource", "key", "latency", "latencyMs", "wireBytes"]);
      expect(Object.keys(f.latency).sort()).toEqual(["max", "n", "p50", "p95", "p99", "samples"]);
      expect(Object.keys(f.energyJ).sort()).toEqual(["device", "network", "server", "total"]);
    }
    expect(doc.hypervolumeReference.objectiveSpace).toEqual(["latencyMs (mean)", "energyJ", "1 - accuracy"]);
    expect(doc.constraints).toEqual({ maxLatencyMs: 500, minAccuracy: null });
    const d = tmp();
    const file = join(d, "sub", "run.pareto.json");
    writeParetoFile(file, doc);
    expect(readdirSync(join(d, "sub"))).toEqual(["run.pareto.json"]);
    expect(readParetoFile(file)).toEqual({ doc, fileVersion: 2, perPart: true, warnings: [] });
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(doc);
  });

  it("the schema rejects bad files with a one-line reason", async () => {
    const good = await document();
    const bad = (mutate: (d: Record<string, unknown>) => void): string => {
      const d = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
      mutate(d);
      const r = checkParetoFile(d);
      expect(r.ok).toBe(false);
      return r.ok ? "" : r.reason;
    };
    expect(bad((d) => (d.version = 3))).toMatch(/^version/);
    expect(bad((d) => delete d.archive)).toMatch(/^archive/);
    expect(bad((d) => (d.archive as unknown[]).pop())).toMatch(/archive has \d+ configurations but evaluations is/);
    expect(bad((d) => ((d.archive as { config: Record<string, unknown> }[])[0]!.config.layer = 99))).toMatch(/archive\.0\.config\.layer/);
    expect(bad((d) => delete d.front)).toMatch(/^front/);
    expect(bad((d) => ((d.front as { energyJ: { total: number } }[])[0]!.energyJ.total = -1))).toMatch(/front\.0\.energyJ/);
    expect(bad((d) => ((d.front as { accuracy: { value: number } }[])[0]!.accuracy.value = 1.5))).toMatch(/accuracy/);
    expect(bad((d) => (d.objectives = ["latency", "latency"]))).toMatch(/twice/);
    expect(bad((d) => (d.objectives = ["speed"]))).toMatch(/^objectives/);
    expect(bad((d) => (d.algorithm = "sa"))).toMatch(/^algorithm/);
    expect(bad((d) => (d.evaluations = 11))).toMatch(/exceed the budget/);
    expect(bad((d) => ((d.front as { config: Record<string, unknown> }[])[0]!.config.layer = 99))).toMatch(/not a value of that dimension/);
    expect(bad((d) => ((d.front as { config: Record<string, unknown> }[])[0]!.config = { layer: 1 }))).toMatch(/do not match the space/);
    expect(bad((d) => (d.front as unknown[]).push((d.front as unknown[])[0]))).toMatch(/appears twice/);
    expect(checkParetoFile(JSON.parse(JSON.stringify(good))).ok).toBe(true);
    expect(new Set(good.front.map((f) => canonicalConfigKey(f.config))).size).toBe(good.front.length);
  });

  it("reading: a missing file is a usage error, broken JSON or content is malformed; writing refuses an invalid document", async () => {
    const d = tmp();
    expect(() => readParetoFile(join(d, "none.pareto.json"))).toThrow(UsageError);
    writeFileSync(join(d, "broken.pareto.json"), "{ not json");
    expect(() => readParetoFile(join(d, "broken.pareto.json"))).toThrow(MalformedError);
    writeFileSync(join(d, "wrong.pareto.json"), JSON.stringify({ version: 2 }));
    expect(() => readParetoFile(join(d, "wrong.pareto.json"))).toThrow(/invalid at/);
    const doc = { ...(await document()), budget: 0 };
    expect(() => writeParetoFile(join(d, "x.pareto.json"), doc)).toThrow(UsageError);
    expect(existsSync(join(d, "x.pareto.json"))).toBe(false);
    expect(readdirSync(d).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("the archive holds exactly the evaluated configurations, in evaluation order, and contains the front", async () => {
    const { doc, asked } = await run();
    expect(doc.archive.map((e) => canonicalConfigKey(e.config))).toEqual(asked);
    expect(doc.archive).toHaveLength(doc.evaluations);
    const archived = new Set(doc.archive.map((e) => canonicalConfigKey(e.config)));
    for (const f of doc.front) expect(archived.has(canonicalConfigKey(f.config))).toBe(true);
    // dominated configurations are kept too: the archive is larger than the front here
    expect(doc.archive.length).toBeGreaterThan(doc.front.length);
  });

  it("a version-1 file still loads, upgraded, with one warning that per-part prediction is unavailable", async () => {
    const doc = await document();
    const d = tmp();
    const file = join(d, "old.pareto.json");
    writeFileSync(file, JSON.stringify(asVersion1(doc)));
    const loaded = readParetoFile(file);
    expect(loaded.fileVersion).toBe(1);
    expect(loaded.perPart).toBe(false);
    expect(loaded.warnings).toEqual([`${file} ${V1_WARNING}`]);
    expect(loaded.warnings[0]).not.toContain("\n");
    expect(loaded.doc.version).toBe(2);
    expect(loaded.doc.front.map((f) => [f.config, f.latencyMs, f.energyJ.total, f.accuracy?.value])).toEqual(doc.front.map((f) => [f.config, f.latencyMs, f.energyJ.total, f.accuracy?.value]));
    for (const f of loaded.doc.front) {
      expect(f.breakdownMs).toEqual({ head: null, encode: null, transfer: null, server: null, decode: null });
      expect([f.bytes, f.wireBytes, f.conditions.bandwidthMbps]).toEqual([null, null, null]);
    }
    // only the front was kept in version 1
    expect(loaded.doc.archive).toEqual(loaded.doc.front);
  });
});
