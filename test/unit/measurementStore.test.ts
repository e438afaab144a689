import { spawn, execFileSync } from "node:child_process";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { canonicalConfigKey, checkMeasurement, measurementKey, testbedServer, type Config, type Measurement, type Testbed } from "../../src/contracts/measurement.js";
import { MeasurementStore } from "../../src/measure/measurementStore.js";

const SHA = "ab".repeat(32);
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const distStore = join(repoRoot, "dist/measure/measurementStore.js");
const distMeasurement = join(repoRoot, "dist/contracts/measurement.js");

function record(config: Config, extra: Partial<Measurement> = {}): Measurement {
  return {
    version: 1,
    key: measurementKey(config, "pi4", SHA),
    config,
    model: { name: "vgg16", sha256: SHA },
    host: { name: "pi4", board: "rpi4", cores: 4 },
    latencyMs: { mean: 12.5, p50: 12, p95: 14, p99: 15, n: 3, samples: [11, 12, 14.5] },
    breakdownMs: { head: 5, encode: 0.5, transfer: 2, server: 4, decode: 0.5 },
    bytes: 4096,
    energyJ: { device: 0.4, network: null, server: 1.2, total: 1.6 },
    energySource: { device: "ina3221", network: null, server: "nvml" },
    accuracy: { value: 0.7, n: 100, ci95: [0.6, 0.78] },
    measuredAt: "2025-01-02T03:04:05.000Z",
    source: "measured",
    ...extra,
  };
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "splitwatt-store-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("canonical keys", () => {
  it("sort dimensions and ignore config key order", () => {
    expect(canonicalConfigKey({ split: 5, cpuFreqMHz: 1200 })).toBe("cpuFreqMHz=1200;split=5");
    const a = measurementKey({ split: 5, cpuFreqMHz: 1200, codec: "fp16", gpu: true }, "pi4", SHA);
    const b = measurementKey({ gpu: true, codec: "fp16", cpuFreqMHz: 1200, split: 5 }, "pi4", SHA);
    expect(a).toBe(b);
    expect(a).toBe(`pi4|${SHA}|codec=fp16;cpuFreqMHz=1200;gpu=true;split=5`);
  });
  it("escape separators so different configs never share a key", () => {
    expect(canonicalConfigKey({ a: "x;b=y" })).not.toBe(canonicalConfigKey({ a: "x", b: "y" }));
    expect(() => canonicalConfigKey({})).toThrow(UsageError);
    expect(() => canonicalConfigKey({ f: Number.NaN })).toThrow(UsageError);
  });
});

describe("the testbed part of the key", () => {
  const local: Testbed = { server: "local", network: "wifi-20mbps", link: "kernel", board: "rpi4", deviceEnergy: "estimate", serverEnergy: "marginal@generic-x86" };
  const remote: Testbed = { ...local, server: "http://10.0.0.2:8000", link: "real" };

  it("is canonical and documented: host|sha256|testbed|config, fields sorted", () => {
    expect(measurementKey({ split: 5 }, "pi4", SHA, local)).toBe(
      `pi4|${SHA}|board=rpi4;deviceEnergy=estimate;link=kernel;network=wifi-20mbps;server=local;serverEnergy=marginal@generic-x86|split=5`,
    );
    // field order does not matter, every field does
    const shuffled = Object.fromEntries(Object.entries(local).reverse()) as Testbed;
    expect(measurementKey({ split: 5 }, "pi4", SHA, shuffled)).toBe(measurementKey({ split: 5 }, "pi4", SHA, local));
    const keys = new Set<string>([measurementKey({ split: 5 }, "pi4", SHA)]);
    for (const k of Object.keys(local) as Array<keyof Testbed>) keys.add(measurementKey({ split: 5 }, "pi4", SHA, { ...local, [k]: k === "link" ? "app" : `${local[k]}-other` }));
    keys.add(measurementKey({ split: 5 }, "pi4", SHA, local));
    expect(keys.size).toBe(2 + Object.keys(local).length);
  });

  it("a server URL is one server however it is written; a user's password is not part of it", () => {
    expect(testbedServer("HTTP://Server:8000/")).toBe("http://server:8000");
    expect(testbedServer("http://bob:secret@server:8000")).toBe("http://server:8000");
    expect(testbedServer("http://server:8000/v2/")).toBe("http://server:8000/v2");
    expect(() => testbedServer("not a url")).toThrow(UsageError);
  });

  it("records with and without a testbed validate against their own key form; the store keeps them apart", () => {
    const old = record({ split: 5 });
    const withTb = record({ split: 5 }, { testbed: remote, key: measurementKey({ split: 5 }, "pi4", SHA, remote) });
    expect(checkMeasurement(old).ok).toBe(true);
    expect(checkMeasurement(withTb).ok).toBe(true);
    // a testbed that does not match the key is refused (a record cannot claim another testbed)
    expect(checkMeasurement({ ...withTb, testbed: local })).toMatchObject({ ok: false, reason: expect.stringMatching(/does not match its config\/host\/model\/testbed/) });
    expect(checkMeasurement({ ...withTb, testbed: { ...remote, link: "wormhole" } }).ok).toBe(false);
    const file = join(tmp(), "m.jsonl");
    const s = MeasurementStore.open(file);
    s.append(old);
    s.append(withTb);
    expect(s.size).toBe(2);
    expect(s.get(measurementKey({ split: 5 }, "pi4", SHA, remote))).toEqual(withTb);
    expect(s.get(measurementKey({ split: 5 }, "pi4", SHA, local))).toBeUndefined();
    s.close();
  });
});

describe("MeasurementStore.rewrite (store clear, store import)", () => {
  const lines = (file: string) => readFileSync(file, "utf8").split("\n").filter((l) => l !== "");

  it("an edit that fails leaves the store as it was and no temporary file", () => {
    const d = tmp();
    const file = join(d, "m.jsonl");
    const s = MeasurementStore.open(file);
    s.append(record({ split: 1 }));
    s.close();
    const before = readFileSync(file, "utf8");
    expect(() =>
      MeasurementStore.rewrite(file, () => {
        throw new Error("crash in the middle");
      }),
    ).toThrow("crash in the middle");
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(readdirSync(d)).toEqual(["m.jsonl"]);
  });

  it("keeps unreadable lines as they are and drops what the edit drops", () => {
    const file = join(tmp(), "m.jsonl");
    writeFileSync(file, `${JSON.stringify(record({ split: 1 }))}\ngarbage\n${JSON.stringify(record({ split: 2 }))}\n`);
    const n = MeasurementStore.rewrite(file, (ls) => {
      const kept = ls.filter((l) => l.record?.config.split !== 1);
      return { lines: kept.map((l) => l.text), result: ls.length - kept.length };
    });
    expect(n).toBe(1);
    expect(lines(file)).toEqual(["garbage", JSON.stringify(record({ split: 2 }))]);
  });

  it("another process appending meanwhile: the edit runs again on what it wrote, nothing is lost", () => {
    const file = join(tmp(), "m.jsonl");
    const s = MeasurementStore.open(file);
    s.append(record({ split: 1 }));
    let calls = 0;
    MeasurementStore.rewrite(file, (ls) => {
      calls++;
      // the first time, an appender adds a record while the new file is being made
      if (calls === 1) s.append(record({ split: 2 }));
      return { lines: ls.filter((l) => l.record?.config.split !== 1).map((l) => l.text), result: null };
    });
    expect(calls).toBe(2);
    expect(lines(file).map((l) => JSON.parse(l).config.split)).toEqual([2]);
    // and the appender, still open on the replaced file, appends to the new one
    s.append(record({ split: 3 }));
    s.close();
    expect(lines(file).map((l) => JSON.parse(l).config.split)).toEqual([2, 3]);
    expect(MeasurementStore.open(file).warnings).toEqual([]);
  });

  it("read() does not create a store; a missing one is a UsageError", () => {
    const file = join(tmp(), "none.jsonl");
    expect(() => MeasurementStore.read(file)).toThrow(UsageError);
    expect(existsSync(file)).toBe(false);
  });
});

describe("MeasurementStore", () => {
  it("appends, reopens and gets by key regardless of config key order", () => {
    const file = join(tmp(), "deep/er/pool.jsonl");
    const s = MeasurementStore.open(file);
    const r1 = record({ split: 5, cpuFreqMHz: 1200 });
    const r2 = record({ split: 6, cpuFreqMHz: 1200 });
    s.append(r1);
    s.append(r2);
    s.append({ ...r1, latencyMs: { ...r1.latencyMs, mean: 13 } }); // a repeated run of r1's config
    s.close();
    expect(readFileSync(file, "utf8").split("\n")).toHaveLength(4);

    const t = MeasurementStore.open(file);
    expect(t.warnings).toEqual([]);
    expect(t.all()).toHaveLength(3);
    expect(t.size).toBe(2);
    const key = measurementKey({ cpuFreqMHz: 1200, split: 5 }, "pi4", SHA);
    expect(t.has(key)).toBe(true);
    expect(t.get(key)?.latencyMs.mean).toBe(13); // latest wins
    expect(t.get(r2.key)).toEqual(r2);
    expect(t.has("nope")).toBe(false);
    t.close();
  });

  it("rejects invalid records with a UsageError and writes nothing", () => {
    const file = join(tmp(), "pool.jsonl");
    const s = MeasurementStore.open(file);
    const good = record({ split: 1 });
    const bad: unknown[] = [
      { ...good, version: 2 },
      { ...good, key: "wrong" },
      { ...good, latencyMs: { ...good.latencyMs, mean: -1 } },
      { ...good, energySource: { ...good.energySource, device: "guess" } },
      { ...good, energySource: { ...good.energySource, network: "meter" } }, // source for a null energy
      { ...good, measuredAt: "yesterday" },
      { ...good, model: { name: "m", sha256: "xyz" } },
      { ...good, surprise: 1 },
    ];
    for (const b of bad) expect(() => s.append(b as Measurement)).toThrow(UsageError);
    expect(readFileSync(file, "utf8")).toBe("");
    s.close();
    expect(() => s.append(good)).toThrow(/closed/);
  });

  it("skips a hand-made truncated last line with a warning, then appends on a fresh line", () => {
    const file = join(tmp(), "pool.jsonl");
    const s = MeasurementStore.open(file);
    s.append(record({ split: 1 }));
    s.append(record({ split: 2 }));
    s.close();
    const full = JSON.stringify(record({ split: 3 }));
    appendFileSync(file, full.slice(0, full.length >> 1)); // cut mid-record, no newline
    const t = MeasurementStore.open(file);
    expect(t.all()).toHaveLength(2);
    expect(t.warnings).toHaveLength(1);
    expect(t.warnings[0]).toMatch(/line 3: partial record/);
    t.append(record({ split: 4 }));
    t.close();

    const u = MeasurementStore.open(file);
    expect(u.all().map((m) => m.config.split)).toEqual([1, 2, 4]);
    expect(u.warnings).toHaveLength(1); // the old fragment, now a complete (bad) line
    expect(u.warnings[0]).toMatch(/line 3: not valid JSON/);
    u.close();
    const lines = readFileSync(file, "utf8").split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[4]).toBe("");
  });

  it("skips corrupt middle lines and never throws on them", () => {
    const file = join(tmp(), "pool.jsonl");
    writeFileSync(file, `${JSON.stringify(record({ split: 1 }))}\n{"version":1}\ngarbage\n\n${JSON.stringify(record({ split: 2 }))}\n`);
    const s = MeasurementStore.open(file);
    expect(s.all()).toHaveLength(2);
    expect(s.warnings).toEqual([expect.stringMatching(/^line 2: invalid record/), expect.stringMatching(/^line 3: not valid JSON/)]);
    s.close();
  });

  describe("crash safety (child appending through dist/, killed with SIGKILL)", () => {
    beforeAll(() => {
      // `npm test` compiles first; build here when run on its own
      if (!existsSync(distStore) || !existsSync(distMeasurement)) {
        execFileSync(process.execPath, [join(repoRoot, "node_modules/typescript/bin/tsc"), "-p", join(repoRoot, "tsconfig.json")]);
      }
    }, 120_000);

    it("keeps every complete record, skips at most the one in flight, and stays appendable", async () => {
      const dir = tmp();
      const file = join(dir, "pool.jsonl");
      const child = join(dir, "child.mjs");
      writeFileSync(
        child,
        `import { MeasurementStore } from ${JSON.stringify(pathToFileURL(distStore).href)};
import { measurementKey } from ${JSON.stringify(pathToFileURL(distMeasurement).href)};
const sha = ${JSON.stringify(SHA)};
const store = MeasurementStore.open(process.argv[2]);
const pad = "x".repeat(20000); // big records make a kill inside write() more likely
for (let i = 0; ; i++) {
  const config = { split: i % 23, cpuFreqMHz: 600 + (i % 7) * 200, run: i };
  store.append({
    version: 1, key: measurementKey(config, "pi4", sha), config,
    model: { name: "vgg16", sha256: sha }, host: { name: "pi4", note: pad },
    latencyMs: { mean: i, p50: null, p95: null, p99: null, n: 1 },
    breakdownMs: { head: null, encode: null, transfer: null, server: null, decode: null },
    bytes: i, energyJ: { device: 1, network: null, server: null, total: 1 },
    energySource: { device: "estimate", network: null, server: null },
    accuracy: null, measuredAt: new Date().toISOString(), source: "measured",
  });
  process.stdout.write(i + "\\n");
}
`,
      );
      const proc = spawn(process.execPath, [child, file], { stdio: ["ignore", "pipe", "inherit"] });
      let acked = -1;
      await new Promise<void>((resolve, reject) => {
        proc.on("error", reject);
        proc.on("exit", () => resolve());
        proc.stdout.on("data", (d: Buffer) => {
          const last = d.toString().trim().split("\n").pop();
          if (last !== undefined && last !== "") acked = Math.max(acked, Number(last));
          if (acked >= 150 && proc.exitCode === null && !proc.killed) proc.kill("SIGKILL");
        });
      });
      expect(proc.signalCode).toBe("SIGKILL");

      const s = MeasurementStore.open(file);
      const runs = s.all().map((m) => m.config.run as number);
      // every acknowledged append is there, in order, with no gaps
      expect(runs.length).toBeGreaterThanOrEqual(acked + 1);
      expect(runs).toEqual(runs.map((_, i) => i));
      expect(s.warnings.length).toBeLessThanOrEqual(1);
      for (const w of s.warnings) expect(w).toMatch(/partial record/);
      s.close();

      // simulate the worst case explicitly: a kill half-way through the next line
      const text = readFileSync(file, "utf8");
      const cut = text.endsWith("\n") ? text + text.split("\n")[0]!.slice(0, 5000) : text;
      writeFileSync(file, cut);
      const t = MeasurementStore.open(file);
      expect(t.all()).toHaveLength(runs.length);
      expect(t.warnings).toEqual([expect.stringMatching(/partial record/)]);
      t.append(record({ split: 99 }));
      t.close();

      const u = MeasurementStore.open(file);
      expect(u.all()).toHaveLength(runs.length + 1);
      expect(u.get(measurementKey({ split: 99 }, "pi4", SHA))?.config.split).toBe(99);
      expect(readFileSync(file, "utf8").endsWith("\n")).toBe(true);
      u.close();
    });
  });
});
