import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeParetoFile } from "../../src/contracts/paretoFile.js";
import { entry, fiveConfigs, paretoDoc } from "../fixtures/paretoFixtures.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const pool = resolve(repo, "../shared/data/dynasplit/simulation_pool_vgg16.csv");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000, cwd: repo, env: { ...process.env, CI: "true" } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}
const oneLine = (s: string) => s.trim().split("\n").length === 1;

let dir: string;
let five: string;
let v1: string;
let targets: string;
beforeAll(() => {
  // the head on cpu: 60 ms, 0.6 J, switching to it 12 ms; on webgpu: 20 ms, 0.3 J, switching to it 1500 ms (test/unit/switchCosts.test.ts)
  const cpu = { ...entry({ config: { split: 2, cpuFreqMHz: 1200, deviceTarget: "cpu" }, head: 60, energy: { device: 0.6 } }), switchCost: { acceleratorMs: 12, gpuFreqMs: null } };
  const gpu = { ...entry({ config: { split: 2, cpuFreqMHz: 1200, deviceTarget: "webgpu" }, head: 20, energy: { device: 0.3 } }), switchCost: { acceleratorMs: 1500, gpuFreqMs: null } };
  const dims = [
    { name: "split", values: [1, 2] },
    { name: "cpuFreqMHz", values: [1200] },
    { name: "deviceTarget", values: ["cpu", "webgpu"] },
  ];
  dir = mkdtempSync(join(tmpdir(), "sw-decide-"));
  const { doc } = fiveConfigs();
  five = join(dir, "five.pareto.json");
  writeParetoFile(five, doc);
  targets = join(dir, "targets.pareto.json");
  writeParetoFile(targets, paretoDoc({ dimensions: dims, archive: [cpu, gpu] }));
  // the same front as a version-1 file (summary figures only)
  v1 = join(dir, "five-v1.pareto.json");
  const { archive: _a, version: _v, front, ...rest } = doc;
  writeFileSync(
    v1,
    JSON.stringify({
      version: 1,
      ...rest,
      evaluations: front.length,
      front: front.map((f) => ({ config: f.config, latencyMs: f.latencyMs, energyJ: f.energyJ.total, accuracy: f.accuracy?.value ?? null, latency: { p50: null, p95: null, p99: null, max: null, n: 1 } })),
    }),
  );
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("splitwatt decide", () => {
  it("prints the decision: config, predicted latency by part, energy by part with sources, P(meet), feasible, reason", () => {
    // fixture (test/fixtures/paretoFixtures.ts fiveConfigs): at 2 Mbit/s only D (all on the device, 120 ms) meets 130 ms
    const r = cli(["decide", "--front", five, "--deadline-ms", "130", "--bandwidth-mbps", "2", "--rtt-ms", "10", "--server-wait-ms", "0"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("policy splitwatt on five.pareto.json, deadline 130 ms");
    expect(r.stdout).toContain("link: bandwidth 2 Mbit/s, RTT 10 ms, server wait 0 ms");
    expect(r.stdout).toMatch(/^config {6}split=2 cpuFreqMHz=1200$/m);
    expect(r.stdout).toMatch(/^latency {5}120\.00 ms predicted/m);
    expect(r.stdout).toMatch(/^energy {6}1\.200 J: device 1\.200 \(estimate\)/m);
    expect(r.stdout).toMatch(/^feasible {4}yes$/m);
  });

  it("--json: the same decision for scripts; without link figures each configuration is predicted as measured", () => {
    const r = cli(["decide", "--front", five, "--deadline-ms", "100", "--json"]);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d).toMatchObject({
      policy: "splitwatt",
      fileVersion: 2,
      deadlineMs: 100,
      link: { bandwidthMbps: null, rttMs: null, serverWaitMs: null },
      serverUp: true,
      config: { split: 1, cpuFreqMHz: 600 },
      predicted: { latencyMs: expect.closeTo(60, 9), breakdownMs: { head: 30, transfer: expect.closeTo(20, 9), server: 10 }, energyJ: { total: expect.closeTo(0.95, 9) }, perPart: true },
      feasible: true,
      warnings: [],
    });
    expect(d.probability).toBeGreaterThanOrEqual(0.99);
    expect(d.reason).toMatch(/lowest expected energy/);
    // every policy answers through the same command
    const pick = (policy: string, extra: string[] = []) => JSON.parse(cli(["decide", "--front", five, "--deadline-ms", "100", "--policy", policy, "--json", ...extra]).stdout).config;
    expect(pick("dynasplit")).toEqual({ split: 1, cpuFreqMHz: 600 });
    expect(pick("neurosurgeon")).toEqual({ split: 1, cpuFreqMHz: 1200 });
    expect(pick("edge-only")).toEqual({ split: 2, cpuFreqMHz: 600 });
    expect(pick("cloud-only")).toEqual({ split: 0, cpuFreqMHz: 1200 });
    expect(pick("static", ["--config", "split=2,cpuFreqMHz=1200"])).toEqual({ split: 2, cpuFreqMHz: 1200 });
    expect(pick("splitwatt", ["--server-down"])).toEqual({ split: 2, cpuFreqMHz: 1200 });
    // B (60 ms, measured once) meets 61 ms with P ~0.95 under the small-sample guard: not at the default 0.99, yes at 0.9
    const at = (target: string[]) => JSON.parse(cli(["decide", "--front", five, "--deadline-ms", "61", "--json", ...target]).stdout);
    expect(at([]).config).toEqual({ split: 1, cpuFreqMHz: 1200 });
    const lax = at(["--target", "0.9"]);
    expect(lax.config).toEqual({ split: 1, cpuFreqMHz: 600 });
    expect(lax.probability).toBeCloseTo(0.952, 3);
  });

  it("--head-scale: heads predicted at that multiple of their measured time, as the daemon's DeviceSpeed would have them", () => {
    // 2 Mbit/s: only D (all on the device, head 120 ms) meets 130 ms; with heads 1.5x as slow it cannot (180 ms)
    const args = ["decide", "--front", five, "--deadline-ms", "130", "--bandwidth-mbps", "2", "--rtt-ms", "10", "--server-wait-ms", "0", "--json"];
    const asMeasured = JSON.parse(cli(args).stdout);
    const slow = JSON.parse(cli([...args, "--head-scale", "1.5"]).stdout);
    expect(asMeasured).toMatchObject({ config: { split: 2, cpuFreqMHz: 1200 }, feasible: true, predicted: { latencyMs: expect.closeTo(120, 9) } });
    expect(slow.link.headScale).toBe(1.5);
    expect(slow.feasible).toBe(false);
    const d = JSON.parse(cli([...args.slice(0, 4), "1000", ...args.slice(5), "--head-scale", "1.5", "--policy", "static", "--config", "split=2,cpuFreqMHz=1200"]).stdout);
    expect(d.predicted.latencyMs).toBeCloseTo(180, 9);
    expect(d.predicted.breakdownMs.head).toBeCloseTo(180, 9);
    const bad = cli([...args, "--head-scale", "0"]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toBe(true);
    expect(bad.stderr).toMatch(/head-time scale as a positive number/);
  });

  it("--head-cv / --bandwidth-cv: heads or a link that vary more now lower P; D (120 ms) at 140 ms stays feasible at 5%, not at 20% (sd 24 ms)", () => {
    const args = ["decide", "--front", five, "--deadline-ms", "140", "--bandwidth-mbps", "2", "--rtt-ms", "10", "--server-wait-ms", "0", "--json"];
    const calm = JSON.parse(cli([...args, "--head-cv", "0.05"]).stdout);
    expect(calm).toMatchObject({ config: { split: 2, cpuFreqMHz: 1200 }, feasible: true });
    const busy = JSON.parse(cli([...args, "--head-cv", "0.2"]).stdout);
    expect(busy.link.headCv).toBe(0.2);
    expect(busy.feasible).toBe(false);
    expect(busy.probability).toBeLessThan(0.99);
    const bad = cli([...args, "--head-cv", "-1"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--head-cv is a fraction >= 0/);
    // --bandwidth-cv: B (60 ms, 20 of them the transfer) meets 100 ms as measured; with the rate varying by its mean, P = Phi(2) < 0.99
    const b = ["decide", "--front", five, "--deadline-ms", "100", "--json"];
    expect(JSON.parse(cli(b).stdout)).toMatchObject({ config: { split: 1, cpuFreqMHz: 600 }, probability: 1 });
    const shaky = JSON.parse(cli([...b, "--bandwidth-cv", "1", "--policy", "static", "--config", "split=1,cpuFreqMHz=600"]).stdout);
    expect(shaky.probability).toBeLessThan(0.99);
    expect(shaky.link.bandwidthCv).toBe(1);
  });

  it("--current: switches are counted from the configuration running now; a cheaper webgpu head loses to its 1.5 s switch, and wins once current", () => {
    const run = (extra: string[]) => cli(["decide", "--front", targets, "--deadline-ms", "100", "--json", ...extra]);
    const fromCpu = JSON.parse(run(["--current", "split=2,cpuFreqMHz=1200,deviceTarget=cpu"]).stdout);
    expect([fromCpu.config.deviceTarget, fromCpu.switchCost, fromCpu.current]).toEqual(["cpu", null, { split: 2, cpuFreqMHz: 1200, deviceTarget: "cpu" }]);
    const fromGpu = JSON.parse(run(["--current", "split=2,cpuFreqMHz=1200,deviceTarget=webgpu"]).stdout);
    expect([fromGpu.config.deviceTarget, fromGpu.switchCost]).toEqual(["webgpu", null]);
    // nothing running yet: the cpu head is loaded first (12 ms at 10 W)
    const first = JSON.parse(run([]).stdout);
    expect([first.config.deviceTarget, first.current]).toEqual(["cpu", null]);
    expect(first.switchCost).toEqual({ timeMs: 12, energyJ: expect.closeTo(0.12, 9), cpuFreqMs: 0, acceleratorMs: 12, gpuFreqMs: 0, assumed: [] });
    const text = cli(["decide", "--front", targets, "--deadline-ms", "100"]);
    expect(text.stdout).toMatch(/^switch {6}12\.00 ms, 0\.120 J from nothing running yet \(give --current\): accelerator 12\.00 ms$/m);
    // neurosurgeon too: the latency it minimises includes the switch
    expect(JSON.parse(run(["--policy", "neurosurgeon", "--current", "split=2,cpuFreqMHz=1200,deviceTarget=cpu"]).stdout).config.deviceTarget).toBe("cpu");
    expect(JSON.parse(run(["--policy", "neurosurgeon", "--current", "split=2,cpuFreqMHz=1200,deviceTarget=webgpu"]).stdout).config.deviceTarget).toBe("webgpu");
    const bad = cli(["decide", "--front", targets, "--deadline-ms", "100", "--current", "split=2,deviceTarget=tpu"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^splitwatt: error\[E_USAGE\]: configuration "split=2,deviceTarget=tpu": deviceTarget=tpu is not a value of deviceTarget; use one of cpu, webgpu\n$/);
  });

  it("on an optimize --replay front of DynaSplit's VGG16 pool: dynasplit takes the cheapest edge configuration within 438.4 ms", () => {
    const out = join(dir, "vgg.pareto.json");
    const o = cli(["optimize", "--replay", pool, "--algorithm", "exhaustive", "--budget", "917", "--out", out]);
    expect(o.code).toBe(0);
    const d = JSON.parse(cli(["decide", "--front", out, "--policy", "dynasplit", "--deadline-ms", "438.448", "--json"]).stdout);
    // the front's all-on-edge members by energy: 600 MHz max (447.5 ms), 1000 MHz std (438.7 ms), then 1200 MHz std (436.4 ms, 2.2430 J)
    expect(d.config).toEqual({ layer: 22, "cpu-freq": 1200, "edge-accelerator": "std", "server-accelerator": false });
    expect(d.feasible).toBe(true);
    expect(d.predicted.perPart).toBe(false);
    const cloud = JSON.parse(cli(["decide", "--front", out, "--policy", "dynasplit", "--deadline-ms", "50", "--json"]).stdout);
    expect([cloud.config.layer, cloud.feasible]).toEqual([0, false]);
  });

  it("a version-1 file: one warning line, dynasplit answers, splitwatt is refused saying why", () => {
    const ok = cli(["decide", "--front", v1, "--policy", "dynasplit", "--deadline-ms", "100"]);
    expect(ok.code).toBe(0);
    expect(oneLine(ok.stderr)).toBe(true);
    expect(ok.stderr).toMatch(/^splitwatt: warning: .*version-1 pareto file.*; only the dynasplit and static policies work on it$/m);
    expect(ok.stdout).toMatch(/^config {6}split=1 cpuFreqMHz=600$/m);
    const bad = cli(["decide", "--front", v1, "--deadline-ms", "100"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split("\n").at(-1)).toMatch(/^splitwatt: error\[E_USAGE\]: policy splitwatt needs the per-part data .* use dynasplit or static/);
  });

  it("bad input: one line, exit 2, saying what to give instead", () => {
    const garbage = join(dir, "garbage.pareto.json");
    writeFileSync(garbage, "{ not json");
    const cases: [string[], RegExp][] = [
      [["decide", "--front", five, "--deadline-ms", "100", "--policy", "fastest"], /unknown policy "fastest"; use one of splitwatt, dynasplit, neurosurgeon, edge-only, cloud-only, static/],
      [["decide", "--front", five, "--deadline-ms", "-5"], /--deadline-ms: give the deadline as a positive number of ms/],
      [["decide", "--front", five, "--deadline-ms", "soon"], /--deadline-ms: give the deadline as a positive number of ms/],
      [["decide", "--front", five, "--deadline-ms", "100", "--bandwidth-mbps", "0"], /--bandwidth-mbps: give the bandwidth as a positive number/],
      [["decide", "--front", five, "--deadline-ms", "100", "--min-accuracy", "2"], /--min-accuracy is a fraction in \[0, 1\]/],
      [["decide", "--front", five, "--deadline-ms", "100", "--min-accuracy", "0.95"], /E_NO_CANDIDATE.*reaches accuracy 0\.95 \(the best has 0\.9000\)/],
      [["decide", "--front", join(dir, "missing.json"), "--deadline-ms", "100"], /cannot read pareto file .*missing\.json \(ENOENT\)/],
      [["decide", "--front", garbage, "--deadline-ms", "100"], /E_USAGE.*is not valid JSON/],
      [["decide", "--front", five, "--deadline-ms", "100", "--policy", "static", "--config", "split=9,cpuFreqMHz=600"], /split=9 is not a value of split; use one of 0, 1, 2/],
      [["decide", "--front", five, "--deadline-ms", "100", "--config", "split=1,cpuFreqMHz=600"], /--config is the static policy's configuration/],
      [["decide", "--front", five], /required option '--deadline-ms <ms>' not specified/],
    ];
    for (const [args, want] of cases) {
      const r = cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
      expect(r.stderr).toMatch(want);
      expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
    }
  });
});
