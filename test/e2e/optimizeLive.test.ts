/**
 * Live `splitwatt optimize` through the built CLI on this machine (local tail server child,
 * real onnxruntime, the estimate energy source): a complete run, and a run killed with SIGKILL
 * part-way that, restarted with the same arguments, continues from the measurement store.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-optlive-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// CPU targets only: the WebGPU ones (slow shader compilation on lavapipe) are covered by test/e2e/webgpu.test.ts
const QUICK = ["--network", "none", "--no-accuracy", "--min-runs", "3", "--max-seconds", "1", "--warm-up", "1", "--idle-ms", "0", "--device-targets", "cpu", "--server-targets", "cpu"];
const args = (store: string, budget: number) => ["optimize", "--model", "tiny_cnn", "--budget", String(budget), "--seed", "3", "--store", store, ...QUICK];
const lines = (f: string): number => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter((l) => l.trim() !== "").length : 0);
/** pids of processes whose environment carries `mark` (children inherit it) */
const marked = (mark: string): number[] =>
  readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/environ`, "latin1").includes(mark);
      } catch {
        return false;
      }
    })
    .map(Number);

describe("splitwatt optimize --model (live)", () => {
  it("searches the live space, writes a versioned pareto file, every evaluation measured and stored", () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const out = join(d, "tiny.pareto.json");
    const r = spawnSync(process.execPath, [bin, ...args(store, 8), "--out", out], { encoding: "utf8", timeout: 300_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: d } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    expect(doc.version).toBe(2);
    expect(doc.archive).toHaveLength(8);
    expect(doc.mode).toBe("live");
    expect(doc.space.dimensions.map((x: { name: string }) => x.name)).toEqual(["split", "cpuFreqMHz", "deviceTarget", "serverTarget", "codec"]);
    expect(doc.evaluations).toBe(8);
    expect(lines(store)).toBe(8);
    expect(doc.front.length).toBeGreaterThan(0);
    for (const f of doc.front) {
      expect(f.latencyMs).toBeGreaterThan(0);
      expect(f.energyJ.total).toBeGreaterThan(0);
      expect(f.latency.n).toBeGreaterThanOrEqual(3);
    }
    expect(r.stderr).toMatch(/estimate/);
  }, 300_000);

  it("killed with SIGKILL part-way, the same command continues from the store without measuring again", async () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const mark = `SW_TEST_MARK=${process.pid}-${Date.now()}`;
    const env = { ...process.env, CI: "true", SPLITWATT_STATE_DIR: d, SW_TEST_MARK: mark.slice("SW_TEST_MARK=".length) };
    const child = spawn(process.execPath, [bin, ...args(store, 10), "--json"], { env, stdio: ["ignore", "pipe", "pipe"] });
    await new Promise<void>((done, fail) => {
      const timer = setInterval(() => {
        if (lines(store) >= 4) {
          clearInterval(timer);
          child.kill("SIGKILL");
          done();
        }
      }, 20);
      child.once("exit", (code) => {
        clearInterval(timer);
        fail(new Error(`optimize exited (${code}) before it was killed`));
      });
    });
    await new Promise((r) => child.once("exit", r));
    const kept = lines(store);
    expect(kept).toBeGreaterThanOrEqual(4);
    // the local tail server went with it (its stdin closed)
    const deadline = Date.now() + 5000;
    while (marked(mark).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(marked(mark)).toEqual([]);
    const r = spawnSync(process.execPath, [bin, ...args(store, 10), "--json"], { encoding: "utf8", timeout: 300_000, env });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.evaluations).toBe(10);
    expect(doc.cachedEvaluations).toBe(kept);
    // nothing measured twice: one record per evaluated configuration
    expect(lines(store)).toBe(10);
    // and the result is the one an uninterrupted run gives (same seed, same answers)
    const d2 = tmp();
    const whole = spawnSync(process.execPath, [bin, ...args(store, 10), "--json"], { encoding: "utf8", timeout: 300_000, env: { ...env, SPLITWATT_STATE_DIR: d2 } });
    const doc2 = JSON.parse(whole.stdout);
    expect(doc2.cachedEvaluations).toBe(10);
    expect(doc2.front.map((f: { config: unknown }) => f.config)).toEqual(doc.front.map((f: { config: unknown }) => f.config));
  }, 300_000);

  it("--config FILE.yaml: dimensions, objectives, constraints and measuring from the file, --budget from the command line wins", () => {
    const d = tmp();
    const cfg = join(d, "opt.yaml");
    writeFileSync(
      cfg,
      [
        "model: tiny_cnn",
        "network: none",
        `store: ${join(d, "m.jsonl")}`,
        "dimensions:",
        "  split: [0, 6, 9, 14]",
        "  codec: [raw, int8]",
        "  deviceTarget: [cpu]",
        "  serverTarget: cpu",
        "objectives: [latency, energy, accuracy]",
        "constraints: { minAccuracy: 0.5 }",
        "budget: 99",
        "seed: 2",
        "measure: { minRuns: 3, maxSeconds: 1, warmUp: 1, idleMs: 0, accuracyN: 4 }",
        "out: result.pareto.json",
        "",
      ].join("\n"),
    );
    const r = spawnSync(process.execPath, [bin, "optimize", "--config", cfg, "--budget", "5"], { encoding: "utf8", timeout: 300_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: d } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(readFileSync(join(d, "result.pareto.json"), "utf8"));
    expect(doc.budget).toBe(5);
    expect(doc.seed).toBe(2);
    expect(doc.objectives).toEqual(["latency", "energy", "accuracy"]);
    expect(doc.constraints).toEqual({ maxLatencyMs: null, minAccuracy: 0.5 });
    const dims = Object.fromEntries(doc.space.dimensions.map((x: { name: string; values: unknown[] }) => [x.name, x.values]));
    expect(dims.split).toEqual([0, 6, 9, 14]);
    expect(dims.codec).toEqual(["raw", "int8"]);
    expect([dims.deviceTarget, dims.serverTarget]).toEqual([["cpu"], ["cpu"]]);
    expect(doc.network).toBeNull();
    expect(doc.front.length).toBeGreaterThan(0);
    for (const f of doc.front) expect(f.accuracy.value).toBeGreaterThanOrEqual(0.5);
    expect(lines(join(d, "m.jsonl"))).toBe(5);
  }, 300_000);

  it("--guided: predicted front measured right after the anchors, within the budget", () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const r = spawnSync(process.execPath, [bin, ...args(store, 10), "--guided", "--json"], { encoding: "utf8", timeout: 300_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: d } });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.status).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.evaluations).toBe(10);
    expect(doc.source.guided.nodeProfiles).toBe(1);
    expect(doc.source.guided.predicted).toBe(doc.space.validConfigurations);
    expect(doc.source.guided.matchedNodeTime).toBeGreaterThan(0.5);
    expect(r.stderr).toMatch(/guided: 1 node profile/);
    // the store holds what was measured: the anchors and the seeds come first, in that order
    const keys = readFileSync(store, "utf8").trim().split("\n").map((l) => JSON.parse(l).config);
    expect(keys).toHaveLength(10);
    const L = Math.max(...doc.space.dimensions[0].values);
    expect(keys[0].split).toBe(L);
    expect(keys[1].split).toBe(0);
  }, 300_000);

  it("bad input: one line, exit 2", () => {
    const d = tmp();
    const bad = join(d, "bad.yaml");
    writeFileSync(bad, "model: tiny_cnn\ndimensions:\n  split: sometimes\n");
    const cases: Array<[string[], RegExp]> = [
      [["optimize", "--config", bad], /dimensions\.split/],
      [["optimize", "--config", join(d, "missing.yaml")], /cannot read/],
      [["optimize", "--model", "tiny_cnn", "--replay", "x.csv"], /exactly one of/],
      [["optimize", "--model", "tiny_cnn", "--objectives", "latency,accuracy", "--no-accuracy"], /must be measured/],
      [["optimize", "--replay", "x.csv", "--guided"], /for live mode/],
    ];
    for (const [a, re] of cases) {
      const r = spawnSync(process.execPath, [bin, ...a], { encoding: "utf8", timeout: 60_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: d } });
      expect(r.status, `${a.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  }, 120_000);
});
