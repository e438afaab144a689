/**
 * The daemon's accelerator and GPU-clock switches, for real: tiny_cnn heads on cpu and on webgpu
 * (lavapipe, Mesa's software Vulkan driver, which .ci/run installs: a real WebGPU adapter, NOT an
 * accelerator, so only the mechanism is tested here, no speed), and a GPU clock on a fake tree
 * (a Raspberry Pi 4's cpufreq plus an RK3588 Mali's devfreq without the userspace governor, so
 * the min = max pinning can be read back from plain files). The front (daemonFronts.gpuFront)
 * says a switch to webgpu costs 7 s (a cold shader compilation); the daemon loads and warms
 * every head at start, measures what a switch between loaded heads costs, and decides with that.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { devfreqMali, raspberryPi4 } from "../fixtures/boards.js";
import { gpuFront, writeFront } from "../fixtures/daemonFronts.js";
import { inferJson, startChild, type Child } from "../fixtures/daemonProcess.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const CPU_POLICY = "sys/devices/system/cpu/cpufreq/policy0";
const MALI = "sys/devices/platform/fb000000.gpu/devfreq/fb000000.gpu";
const X = { name: "input", shape: [1, 3, 32, 32], data: seededFloats(3072, 5) };
let dir: string;
let frontPath: string;
let configPath: string;
let lastCut: number;
const children: Child[] = [];
const trees: FakeTree[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-daemon-switch-"));
  const a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  lastCut = a.cuts.length - 1;
  frontPath = writeFront(dir, "gpu.pareto.json", gpuFront({ sha256: a.model.sha256, lastCut, cpuMHz: 1500, gpuMHz: [300, 1000] }));
  // the static policy's configuration: the head on cpu
  configPath = join(dir, "daemon.yaml");
  writeFileSync(configPath, `policyOptions:\n  config: split=${lastCut},cpuFreqMHz=1500,deviceTarget=cpu,serverTarget=cpu,codec=raw,gpuFreqMHz=300\n`);
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  for (const t of trees) t.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function board(): { t: FakeTree; stateDir: string; original: () => string[]; now: () => string[] } {
  const t = FakeTree.create();
  raspberryPi4(t);
  devfreqMali(t, { governors: ["powersave", "performance", "simple_ondemand"] });
  trees.push(t);
  const read = (): string[] => [
    ...["scaling_governor", "scaling_min_freq", "scaling_max_freq"].map((f) => t.read(`${CPU_POLICY}/${f}`)),
    ...["governor", "min_freq", "max_freq"].map((f) => t.read(`${MALI}/${f}`)),
  ];
  const before = read();
  return { t, stateDir: mkdtempSync(join(dir, "state-")), original: () => before, now: read };
}

async function daemon(t: FakeTree, stateDir: string): Promise<Child> {
  const c = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", frontPath, "--config", configPath, "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir], { timeoutMs: 120_000 });
  children.push(c);
  return c;
}

const ask = async (c: Child, parameters: Record<string, unknown>) => {
  const r = await inferJson(c.url, "tiny_cnn", X, parameters);
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return r.body.parameters as Record<string, any>;
};
const stateFiles = (stateDir: string) => readdirSync(stateDir).filter((f) => f.startsWith("cpufreq-"));

describe("splitwatt daemon: accelerator and GPU-clock switches", () => {
  it("measures a switch between loaded heads at start and decides with it (not the front's 7 s cold start); sets the GPU clock only when it changes; measures every real switch; restores CPU and GPU on SIGTERM", async () => {
    const b = board();
    const d = await daemon(b.t, b.stateDir);
    const msgs = d.records().map((r) => r.msg);
    expect(msgs).toEqual(expect.arrayContaining(["controlling the GPU clock", "accelerator switch measured", "GPU clock change measured"]));
    const st0 = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    expect(st0.gpu).toMatchObject({ controlled: true, device: "devfreq:fb000000.gpu" });
    expect(st0.gpu.switchTimeMs.from).toBe("measured");
    expect(st0.gpu.switchTimeMs.used).toBeGreaterThan(0);
    expect(st0.accelerator.switchTimeMs.from).toBe("measured");
    expect(Object.keys(st0.accelerator.switchTimeMs.measuredAtStart).sort()).toEqual(["cpu", "webgpu"]);
    // the cold start (session + first run) is reported apart, and the switch between loaded heads is far below it
    expect(st0.accelerator.switchTimeMs.coldStartMs.webgpu).toBeGreaterThan(st0.accelerator.switchTimeMs.measuredAtStart.webgpu);
    expect(st0.accelerator.switchTimeMs.measuredAtStart.webgpu).toBeLessThan(1000);

    // 1. a loose deadline: the frugal webgpu head at the low clock (with the front's 7 s it would be the cpu head)
    const first = await ask(d, { deadline_ms: 1000 });
    expect(JSON.parse(first.config)).toMatchObject({ deviceTarget: "webgpu", gpuFreqMHz: 300 });
    expect(first).toMatchObject({ device_target: "webgpu", gpu_freq_mhz: 300, accelerator_switched: false });
    expect(first.predicted_switch_ms).toBeGreaterThanOrEqual(0);
    expect([b.t.read(`${MALI}/min_freq`), b.t.read(`${MALI}/max_freq`)]).toEqual(["300000000", "300000000"]);
    // the same again: no clock written, no switch
    expect(await ask(d, { deadline_ms: 1000 })).toMatchObject({ gpu_freq_mhz: 300, gpu_switch_ms: 0, accelerator_switched: false });
    // 2. the head on cpu (the static policy's configuration), twice: an accelerator switch, then none
    const toCpu = await ask(d, { deadline_ms: 1000, policy: "static" });
    expect(toCpu).toMatchObject({ device_target: "cpu", accelerator_switched: true, gpu_switch_ms: 0 });
    expect(await ask(d, { deadline_ms: 1000, policy: "static" })).toMatchObject({ device_target: "cpu", accelerator_switched: false });
    // 3. back to webgpu: both heads have a steady time at these clocks now, so the switch is measured
    const back = await ask(d, { deadline_ms: 1000 });
    expect(back).toMatchObject({ device_target: "webgpu", accelerator_switched: true });
    expect(back.accelerator_switch_ms).toBeGreaterThanOrEqual(0);
    const again = await ask(d, { deadline_ms: 1000, policy: "static" });
    expect(again.accelerator_switch_ms).toBeGreaterThanOrEqual(0);
    // 4. a tight deadline: the fast clock (a GPU clock change, timed)
    const fast = await ask(d, { deadline_ms: 10 });
    expect(JSON.parse(fast.config)).toMatchObject({ deviceTarget: "webgpu", gpuFreqMHz: 1000 });
    expect(fast.gpu_switch_ms).toBeGreaterThan(0);
    expect(b.t.read(`${MALI}/max_freq`)).toBe("1000000000");

    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    expect(st.accelerator.current).toBe("webgpu");
    expect(st.accelerator.switches).toBe(4);
    expect(st.accelerator.byTarget.cpu).toMatchObject({ switches: 2, measured: 1 });
    expect(st.accelerator.byTarget.webgpu.switches).toBe(2);
    expect(st.accelerator.byTarget.webgpu.measured).toBeGreaterThanOrEqual(1);
    expect(st.gpu).toMatchObject({ currentMHz: 1000 });
    const m = await (await fetch(`${d.url}/metrics`)).text();
    expect(m).toMatch(/^splitwatt_daemon_accelerator_switches_total\{target="cpu"\} 2$/m);
    expect(m).toMatch(/^splitwatt_daemon_accelerator_switches_total\{target="webgpu"\} 2$/m);
    expect(m).toMatch(/^splitwatt_daemon_accelerator_switch_seconds_count\{target="cpu"\} 1$/m);
    // the requests' changes: 300 MHz (the calibration left it at 1000), then 1000
    expect(m).toMatch(/^splitwatt_daemon_gpu_frequency_switches_total 2$/m);
    expect(m).toMatch(/^splitwatt_daemon_gpu_frequency_hertz 1000000000$/m);
    const check = spawnSync("promtool", ["check", "metrics"], { input: m, encoding: "utf8" });
    expect(check.status, check.stdout + check.stderr).toBe(0);

    const exit = await d.stop("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    expect(b.now()).toEqual(b.original());
    expect(stateFiles(b.stateDir)).toEqual([]);
    expect(d.records().find((r) => r.msg === "stopped")).toMatchObject({ restoredCpufreq: ["policy0"], restoredGpu: ["devfreq:fb000000.gpu"] });
  }, 180_000);

  it("after SIGKILL the CPU and GPU settings stay in one state file; the next start restores both first and restores them again on SIGTERM", async () => {
    const b = board();
    const d1 = await daemon(b.t, b.stateDir);
    await ask(d1, { deadline_ms: 1000 });
    expect((await d1.stop("SIGKILL")).signal).toBe("SIGKILL");
    expect(b.t.read(`${MALI}/max_freq`)).toBe("300000000");
    expect(stateFiles(b.stateDir)).toHaveLength(1);
    const saved = JSON.parse(readFileSync(join(b.stateDir, stateFiles(b.stateDir)[0]!), "utf8")) as { gpus?: Array<{ id: string }> };
    expect(saved.gpus?.map((g) => g.id)).toEqual(["devfreq:fb000000.gpu"]);
    const d2 = await daemon(b.t, b.stateDir);
    const restored = d2.records().find((r) => r.msg === "restored cpufreq settings a previous run left behind");
    expect(restored?.policies).toEqual(["policy0", "devfreq:fb000000.gpu"]);
    expect((await ask(d2, { deadline_ms: 10 })).gpu_freq_mhz).toBe(1000);
    expect((await d2.stop("SIGTERM")).code).toBe(0);
    expect(b.now()).toEqual(b.original());
    expect(stateFiles(b.stateDir)).toEqual([]);
  }, 180_000);
});
