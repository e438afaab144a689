import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { checkParetoFile } from "../../src/contracts/paretoFile.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const pool = resolve(repo, "../shared/data/dynasplit/simulation_pool_vgg16.csv");
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function cli(args: string[], cwd = repo) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000, cwd, env: { ...process.env, CI: "true" } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "sw-optimize-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;

describe("splitwatt optimize --replay", () => {
  it("--json prints the pareto document: the issue's shape, pool columns as config keys, 50 evaluations", () => {
    const r = cli(["optimize", "--replay", pool, "--budget", "50", "--seed", "1", "--json"]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ version: 2, model: "simulation_pool_vgg16", mode: "replay", objectives: ["latency", "energy"], algorithm: "nsga3", seed: 1, budget: 50, evaluations: 50 });
    expect(doc.space.dimensions.map((d: { name: string }) => d.name)).toEqual(["layer", "cpu-freq", "edge-accelerator", "server-accelerator"]);
    expect(typeof doc.hypervolume).toBe("number");
    expect(doc.front.length).toBeGreaterThan(0);
    for (const f of doc.front) {
      expect(Object.keys(f.config).sort()).toEqual(["cpu-freq", "edge-accelerator", "layer", "server-accelerator"]);
      expect(typeof f.config["server-accelerator"]).toBe("boolean");
      expect(f).toMatchObject({ latencyMs: expect.any(Number), energyJ: { total: expect.any(Number) }, accuracy: { value: expect.any(Number) } });
      expect(Object.keys(f.latency).sort()).toEqual(["max", "n", "p50", "p95", "p99", "samples"]);
      // the pool's per-part columns travel with every entry
      expect(f.breakdownMs.head).toEqual(expect.any(Number));
      expect(f.bytes).toEqual(expect.any(Number));
    }
    expect(doc.archive).toHaveLength(50);
    // the document passes its own schema
    expect(checkParetoFile(doc)).toMatchObject({ ok: true, fileVersion: 2 });
    // plain progress lines on stderr (not a TTY), ending at the budget
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(/^optimize: 50\/50 evaluations .*hypervolume/);
    // the same arguments give the same document, apart from the time stamp
    const again = JSON.parse(cli(["optimize", "--replay", pool, "--budget", "50", "--seed", "1", "--json"]).stdout);
    expect({ ...again, generatedAt: null }).toEqual({ ...doc, generatedAt: null });
  });

  it("writes --out and prints a summary; --network is recorded with a one-line warning", () => {
    const d = tmp();
    const out = join(d, "vgg.pareto.json");
    const r = cli(["optimize", "--replay", pool, "--budget", "30", "--algorithm", "random", "--objectives", "latency,energy,accuracy", "--network", "wifi", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Pareto front \(\d+\)/);
    expect(r.stdout).toContain(`wrote ${out}`);
    expect(r.stderr).toMatch(/warning: replay uses the transfer times measured in the pool; --network wifi/);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    expect(doc).toMatchObject({ network: "wifi", algorithm: "random", evaluations: 30, objectives: ["latency", "energy", "accuracy"] });
  });

  it("a bad pool path, a bad --algorithm and a missing mode exit 2 with one line", () => {
    const missing = cli(["optimize", "--replay", "/nonexistent/pool.csv", "--json"]);
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toBe(true);
    expect(missing.stderr).toMatch(/error\[E_USAGE\]: cannot read pool \/nonexistent\/pool.csv \(ENOENT\)/);
    const alg = cli(["optimize", "--replay", pool, "--algorithm", "simulated-annealing"]);
    expect(alg.code).toBe(2);
    expect(oneLine(alg.stderr)).toBe(true);
    expect(alg.stderr).toMatch(/--algorithm: use nsga2, nsga3, random or exhaustive/);
    const none = cli(["optimize", "--budget", "5"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/give exactly one of --replay/);
    const obj = cli(["optimize", "--replay", pool, "--objectives", "latency,cost"]);
    expect(obj.code).toBe(2);
    expect(obj.stderr).toMatch(/unknown objective "cost"/);
  });
});
