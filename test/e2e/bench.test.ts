import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBenchResults } from "../../src/contracts/benchResults.js";
import { writeParetoFile } from "../../src/contracts/paretoFile.js";
import { fiveConfigs } from "../fixtures/paretoFixtures.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const data = resolve(repo, "../shared/data/dynasplit");
const vgg = join(data, "simulation_pool_vgg16.csv");
const vit = join(data, "simulation_pool_vit.csv");
const trace50 = join(data, "network_latency_50_samples.csv");

function cli(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout, cwd: repo, env: { ...process.env, CI: "true" } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

let dir: string;
let front: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sw-bench-e2e-"));
  front = join(dir, "vgg16.pareto.json");
  const r = cli(["optimize", "--replay", vgg, "--budget", "60", "--seed", "1", "--out", front]);
  expect(r.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const oneLineExit2 = (r: { code: number | null; stderr: string }, pattern: RegExp) => {
  expect(r.code).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/^splitwatt: error\[E_USAGE\]: /);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
};

describe("splitwatt bench --replay", () => {
  it("writes results.json (schema), summary.md and report.html; --per-request one row per request and strategy; a bandwidth trace gives a timeline; the same seed gives the same figures, with any number of threads", () => {
    const bw = join(dir, "bw.csv");
    expect(cli(["workload", "--bandwidth", "step", "--levels-mbps", "400,50,400", "--every-ms", "15000", "--out", bw]).code).toBe(0);
    const out = join(dir, "run");
    const args = ["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", front, "--seed", "3", "--bandwidth-trace", bw];
    const r = cli([...args, "--out", out, "--per-request"]);
    // the front was searched in this pool: its samples are the replay's whole distribution, said once
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^note: the front was searched in this same pool, .*--min-samples 1/)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^# splitwatt bench: simulation_pool_vgg16/);
    expect(r.stdout).toMatch(/\|  \| cloud-only \| edge-only \| static-fastest \| static-min-energy \| neurosurgeon \| dynasplit \| splitwatt \| random \|/);
    const doc = readBenchResults(out);
    expect(doc.strategies.map((s) => [s.name, s.requests])).toEqual(["cloud-only", "edge-only", "static-fastest", "static-min-energy", "neurosurgeon", "dynasplit", "splitwatt", "random"].map((n) => [n, 50]));
    expect(doc.workload).toMatchObject({ requests: 50, network: "vgg16" });
    expect(doc.timeline!.length).toBeGreaterThan(0);
    expect(new Set(doc.timeline!.map((t) => t.bandwidthMbps))).toEqual(new Set([400, 50]));
    expect(readFileSync(join(out, "summary.md"), "utf8")).toMatch(/- replay: all strategies/);
    expect(readFileSync(join(out, "report.html"), "utf8")).toMatch(/^<!DOCTYPE html>/);
    const rows = readFileSync(join(out, "requests.csv"), "utf8").trim().split("\n");
    expect(rows[0]).toBe("Index,Network,ArrivalMs,DeadlineMs,Strategy,Config,LatencyMs,EnergyJ,DeviceJ,NetworkJ,ServerJ,Met");
    expect(rows).toHaveLength(1 + 50 * 8);
    // the per-request rows add up to the summary
    const dyn = rows.slice(1).map((l) => l.split(",")).filter((f) => f[4] === "dynasplit");
    expect(dyn.filter((f) => f[11] === "0")).toHaveLength(doc.strategies.find((s) => s.name === "dynasplit")!.missed);
    // the first run shared the strategies over the machine's cores; one thread gives the same figures
    const again = join(dir, "again");
    expect(cli([...args, "--out", again, "--threads", "1"]).code).toBe(0);
    expect(readBenchResults(again).strategies).toEqual(doc.strategies);
    expect(readBenchResults(again).timeline).toEqual(doc.timeline);
    expect(doc.policyOptions).toMatchObject({ minSamples: 1 });
    // --min-samples wins, and a front from another pool keeps the daemon's guard: no note either way
    const guarded = cli([...args, "--out", join(dir, "guarded"), "--min-samples", "100", "--strategies", "splitwatt"]);
    expect([guarded.code, guarded.stderr]).toEqual([0, ""]);
    expect(readBenchResults(join(dir, "guarded")).policyOptions).toMatchObject({ minSamples: 100 });
  });

  it("bad input: one line, exit 2, naming what to pass instead", () => {
    const live = join(dir, "live.pareto.json");
    writeParetoFile(live, fiveConfigs().doc);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", live, "--out", join(dir, "x1")]), /has configuration dimensions cpu-freq, edge-accelerator, layer, server-accelerator but front .*live\.pareto\.json has cpuFreqMHz, split; pass the pool the front was optimised on/);
    const vitFront = join(dir, "vit.pareto.json");
    expect(cli(["optimize", "--replay", vit, "--budget", "20", "--out", vitFront]).code).toBe(0);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", vitFront, "--out", join(dir, "x2")]), /the pool has no runs of .*pass the pool the front was optimised on/);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg19", "--front", front, "--out", join(dir, "x3")]), /has no rows for --network vgg19; its networks are vgg16, resnet50, mobilenetv2, vit: pass one of them/);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--front", front, "--out", join(dir, "x4")]), /several networks .*pass --network NAME/);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", front, "--strategies", "dynasplit,oracle"]), /unknown strategy "oracle"; use a comma-separated list of splitwatt, dynasplit, neurosurgeon, edge-only, cloud-only, static, static-fastest, static-min-energy, random/);
    oneLineExit2(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", join(dir, "nope.json")]), /cannot read pareto file .*nope\.json \(ENOENT\)/);
    oneLineExit2(cli(["bench", "--workload", trace50]), /give exactly one of --replay POOL\.csv, --reproduce dynasplit or --daemon/);
    const v2 = join(dir, "v2");
    expect(cli(["bench", "--replay", vgg, "--workload", trace50, "--network", "vgg16", "--front", front, "--strategies", "dynasplit", "--out", v2]).code).toBe(0);
    const doc = JSON.parse(readFileSync(join(v2, "results.json"), "utf8"));
    writeFileSync(join(v2, "results.json"), JSON.stringify({ ...doc, version: 2 }));
    oneLineExit2(cli(["report", v2]), /results\.json is results version 2; this splitwatt reads version 1: run splitwatt bench again/);
  });

  it("report: DIR re-renders from results.json alone, DIR_A DIR_B compares, --front draws one front", () => {
    // the runs of the first test
    const a = join(dir, "run");
    const b = join(dir, "again");
    rmSync(join(a, "report.html"));
    rmSync(join(a, "summary.md"));
    const r = cli(["report", a]);
    expect(r.code).toBe(0);
    expect(existsSync(join(a, "report.html")) && existsSync(join(a, "summary.md"))).toBe(true);
    const cmp = join(dir, "cmp.html");
    const c = cli(["report", a, b, "--out", cmp]);
    expect(c.code).toBe(0);
    const html = readFileSync(cmp, "utf8");
    expect(html).toContain("run vs again");
    expect((html.match(/<svg/g) ?? []).length).toBe(1);
    const f = cli(["report", "--front", front]);
    expect(f.stdout.trim()).toBe(`wrote ${join(dir, "vgg16.front.html")}`);
    expect(readFileSync(join(dir, "vgg16.front.html"), "utf8")).toContain("simulation_pool_vgg16: Pareto front");
    oneLineExit2(cli(["report"]), /give one result directory/);
  });
});

describe("splitwatt workload", () => {
  it("DynaSplit's generator: the range exactly, the same file for the same seed; bandwidth traces; bad arguments exit 2", () => {
    const w = join(dir, "w.csv");
    expect(cli(["workload", "--weibull-shape", "1", "--min-ms", "118.8", "--max-ms", "10287.6", "--n", "1000", "--seed", "5", "--network", "vit", "--out", w]).code).toBe(0);
    const lines = readFileSync(w, "utf8").trim().split("\n");
    expect(lines[0]).toBe("Index,Network,Latency");
    const xs = lines.slice(1).map((l) => Number(l.split(",")[2]));
    expect([xs.length, Math.min(...xs), Math.max(...xs)]).toEqual([1000, 118.8, 10287.6]);
    expect(cli(["workload", "--min-ms", "118.8", "--max-ms", "10287.6", "--n", "1000", "--seed", "5", "--network", "vit"]).stdout).toBe(readFileSync(w, "utf8"));
    expect(cli(["workload", "--bandwidth", "walk", "--min-mbps", "5", "--max-mbps", "100", "--step-mbps", "10", "--every-ms", "1000", "--duration-ms", "3000"]).stdout).toMatch(/^TimeMs,BandwidthMbps\n0,52\.5\n1000,/);
    oneLineExit2(cli(["workload", "--min-ms", "10", "--max-ms", "5", "--n", "10"]), /0 < min < max/);
    oneLineExit2(cli(["workload", "--bandwidth", "step", "--every-ms", "10"]), /--levels-mbps is required here/);
  });
});

describe("splitwatt bench --reproduce dynasplit", () => {
  it("prints cloud-only, edge-only, static, dynasplit and splitwatt figures next to the published ones", () => {
    const out = join(dir, "repro");
    const r = cli(["bench", "--reproduce", "dynasplit", "--data", data, "--out", out], 120_000);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const row = (model: string, n: number, strategy: string) => {
      const line = r.stdout.split("\n").find((l) => l.startsWith(`| ${model} | ${n} | ${strategy} |`));
      expect(line, `${model} ${n} ${strategy}`).toBeDefined();
      return line!.split("|").map((c) => c.trim()).slice(1, -1);
    };
    // their testbed: cloud 69.06 J (1 of 50 missed), DynaSplit 19.22 J (2 missed)
    expect(row("vgg16", 50, "cloud-only").slice(5, 7)).toEqual(["69.06", "1"]);
    expect(row("vgg16", 50, "dynasplit").slice(5, 7)).toEqual(["19.22", "2"]);
    expect(row("vit", 50, "dynasplit").slice(5, 7)).toEqual(["87.75", "9"]);
    // their simulation: 114 (cloud-only) and 513 (DynaSplit, their front) missed of 10,000
    const cloud = row("vgg16", 10000, "cloud-only");
    expect(cloud[6]).toBe("114");
    expect(Number(cloud[4])).toBeGreaterThan(90);
    expect(Number(cloud[4])).toBeLessThan(140);
    expect(Number(cloud[3])).toBeCloseTo(69.0, 0);
    expect(row("vgg16", 10000, "dynasplit")[6]).toBe("513");
    expect(row("vit", 10000, "dynasplit")[6]).toBe("1371");
    // their rule on the pool's exhaustive front: about 33.2 J
    expect(Number(row("vgg16", 10000, "dynasplit, exhaustive front")[3])).toBeCloseTo(33.2, 0);
    expect(row("vgg16", 10000, "splitwatt")).toBeDefined();
    expect(readFileSync(join(out, "reproduction.md"), "utf8")).toContain("| vgg16 | 10000 | splitwatt |");
    expect(readBenchResults(join(out, "vgg16-10000")).strategies.map((s) => s.name)).toContain("splitwatt, guarded");
  });
});
