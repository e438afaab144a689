/**
 * Accelerator and GPU-clock switches in the decisions (src/schedule/policies/switchPricing.ts):
 * hand-built fronts whose answers follow from the figures in the comments. One sample per
 * configuration and minSamples 1, so every probability is 0 or 1.
 */
import { describe, expect, it } from "vitest";
import { canonicalConfigKey, type Config } from "../../src/contracts/measurement.js";
import type { ParetoEntry } from "../../src/contracts/paretoFile.js";
import { switchCostMs } from "../../src/predict/switchCost.js";
import { createPolicy } from "../../src/schedule/policies/index.js";
import { SwitchPricing } from "../../src/schedule/policies/switchPricing.js";
import type { PolicyState } from "../../src/schedule/policy.js";
import { entry, loaded, paretoDoc } from "../fixtures/paretoFixtures.js";

const key = (e: { config: Config }) => canonicalConfigKey(e.config);
const state = (current: Config | null, o: Partial<PolicyState> = {}): PolicyState => ({ nowMs: 0, link: {}, serverUp: true, current, ...o });
const exact = { minSamples: 1 };

/** An all-on-device configuration with a measured switch cost (undefined: a file written before switch costs were recorded). */
function onDevice(deviceTarget: string, head: number, deviceJ: number, switchCost?: ParetoEntry["switchCost"], extra: Config = {}): ParetoEntry {
  const e = entry({ config: { split: 2, cpuFreqMHz: 1200, deviceTarget, ...extra }, head, energy: { device: deviceJ } });
  return switchCost === undefined ? e : { ...e, switchCost };
}

const DIMS = [
  { name: "split", values: [1, 2] },
  { name: "cpuFreqMHz", values: [1200] },
  { name: "deviceTarget", values: ["cpu", "webgpu"] },
];

/*
 *   CPU   head on cpu     60 ms, 0.60 J (10 W), switching to it: 12 ms (a CPU session)
 *   GPU   head on webgpu  20 ms, 0.30 J (15 W), switching to it: 1500 ms (shader compilation)
 */
const CPU = onDevice("cpu", 60, 0.6, { acceleratorMs: 12, gpuFreqMs: null });
const GPU = onDevice("webgpu", 20, 0.3, { acceleratorMs: 1500, gpuFreqMs: null });
const front = () => loaded(paretoDoc({ dimensions: DIMS, archive: [CPU, GPU] }));

describe("accelerator switches in the splitwatt policy", () => {
  it("a cheaper webgpu configuration loses when its switch time breaks the deadline, and wins when it is already current", () => {
    const p = createPolicy("splitwatt", front(), exact);
    // from CPU: GPU takes 20 + 1500 ms > 100, so P = 0
    const fromCpu = p.decide({ deadlineMs: 100 }, state(CPU.config));
    expect([key(fromCpu.entry), fromCpu.feasible, fromCpu.switchCost]).toEqual([key(CPU), true, null]);
    // already on webgpu: no switch, 20 ms and 0.30 J
    const fromGpu = p.decide({ deadlineMs: 100 }, state(GPU.config));
    expect([key(fromGpu.entry), fromGpu.switchCost]).toEqual([key(GPU), null]);
    expect(fromGpu.probability).toBe(1);
    // nothing runs yet: everything changes; CPU pays its own 12 ms and 10 W x 12 ms = 0.12 J
    const first = p.decide({ deadlineMs: 100 }, state(null));
    expect(key(first.entry)).toBe(key(CPU));
    expect(first.switchCost).toEqual({ timeMs: 12, energyJ: expect.closeTo(0.12, 12), cpuFreqMs: 0, acceleratorMs: 12, gpuFreqMs: 0, assumed: [] });
    expect(first.reason).toMatch(/switch counted: accelerator 12\.0 ms, 0\.120 J$/);
    // the prediction is the configuration's own; the switch is in the probability
    expect(first.predicted.latencyMs).toBeCloseTo(60, 12);
  });

  it("the switch's energy counts too: with time enough, a switch of 1.5 s at 15 W (22.5 J) is dearer than staying on the CPU", () => {
    const p = createPolicy("splitwatt", front(), exact);
    const d = p.decide({ deadlineMs: 5000 }, state(CPU.config));
    expect(key(d.entry)).toBe(key(CPU));
    // GPU's expected energy with the switch: 0.3 + 15 W x 1.5 s
    expect(d.reason).toMatch(/lowest expected energy \(0\.600 J\)/);
  });

  it("a measured switch time (acceleratorSwitchMs, what the daemon measures between loaded heads) replaces the file's", () => {
    const p = createPolicy("splitwatt", front(), { ...exact, acceleratorSwitchMs: { webgpu: 2 } });
    const d = p.decide({ deadlineMs: 100 }, state(CPU.config));
    // 20 + 2 ms, 0.3 + 15 W x 2 ms = 0.33 J < 0.6 J
    expect(key(d.entry)).toBe(key(GPU));
    expect(d.switchCost).toMatchObject({ timeMs: 2, acceleratorMs: 2, energyJ: expect.closeTo(0.33 - 0.3, 12), assumed: [] });
  });

  it("an unmeasured switch (no switchCost in the file) is not 0: it counts as a CPU-frequency switch and the decision says so", () => {
    const old = loaded(paretoDoc({ dimensions: DIMS, archive: [onDevice("cpu", 60, 0.6), onDevice("webgpu", 20, 0.3)] }));
    // a CPU switch of 50 ms: from cpu, webgpu takes 20 + 50 = 70 ms (fits 100, not 60)
    const cpuSwitch = { timeMs: 50, energyJ: 0.01 };
    const p = createPolicy("splitwatt", old, { ...exact, switchCost: cpuSwitch });
    const fits = p.decide({ deadlineMs: 100 }, state(CPU.config));
    expect(key(fits.entry)).toBe(key(GPU));
    expect(fits.switchCost).toEqual({ timeMs: 50, energyJ: 0.01, cpuFreqMs: 0, acceleratorMs: 50, gpuFreqMs: 0, assumed: ["accelerator"] });
    expect(fits.reason).toMatch(/the accelerator switch was not measured: counted as a CPU-frequency switch/);
    const late = p.decide({ deadlineMs: 60 }, state(CPU.config));
    expect(key(late.entry)).toBe(key(CPU));
    // with no CPU switch cost either, the change still shows as assumed, not as a silent 0
    const zero = createPolicy("splitwatt", old, exact).decide({ deadlineMs: 100 }, state(CPU.config));
    expect(zero.switchCost).toMatchObject({ timeMs: 0, energyJ: 0, assumed: ["accelerator"] });
  });

  it("hysteresis compares energies with the switch counted: a switch's energy can use up the saving", () => {
    // REMOTE: split 1 on cpu, 30 ms, 0.29 J (9.67 W): 3.3% below GPU's 0.30 J
    const REMOTE = { ...entry({ config: { split: 1, cpuFreqMHz: 1200, deviceTarget: "cpu" }, head: 10, transfer: 15, server: 5, energy: { device: 0.29 } }), switchCost: { acceleratorMs: 12, gpuFreqMs: null } };
    const f = loaded(paretoDoc({ dimensions: DIMS, archive: [CPU, GPU, REMOTE] }));
    const decide = (o: Record<string, unknown>) => createPolicy("splitwatt", f, { ...exact, ...o }).decide({ deadlineMs: 100 }, state(GPU.config));
    // a free switch: 3.3% saved, kept under a 5% margin, taken under 1%
    expect(key(decide({ hysteresis: 0.05, acceleratorSwitchMs: { cpu: 0 } }).entry)).toBe(key(GPU));
    expect(key(decide({ hysteresis: 0.01, acceleratorSwitchMs: { cpu: 0 } }).entry)).toBe(key(REMOTE));
    // the measured 12 ms at 9.67 W (0.116 J) makes REMOTE dearer than staying: no margin needed
    const kept = decide({ hysteresis: 0 });
    expect(key(kept.entry)).toBe(key(GPU));
    // the current configuration is kept only while it meets the target: below 20 ms GPU cannot, REMOTE (30 + 12) neither, CPU neither
    const tight = decide({ hysteresis: 0.5, acceleratorSwitchMs: { cpu: 0 } });
    expect(key(tight.entry)).toBe(key(GPU));
    const none = createPolicy("splitwatt", f, { ...exact, hysteresis: 0.5 }).decide({ deadlineMs: 15 }, state(GPU.config));
    expect(none.feasible).toBe(false);
  });

  it("at split 0 no head runs: a device target change there costs nothing", () => {
    const A = { ...entry({ config: { split: 0, cpuFreqMHz: 1200, deviceTarget: "webgpu" }, head: 0, transfer: 30, server: 10, energy: { device: 0.1, network: 0.05, server: 0.2 } }), switchCost: { acceleratorMs: null, gpuFreqMs: null } };
    const f = loaded(paretoDoc({ dimensions: [{ name: "split", values: [0, 2] }, ...DIMS.slice(1)], archive: [CPU, A] }));
    const d = createPolicy("splitwatt", f, exact).decide({ deadlineMs: 100 }, state(CPU.config));
    expect([key(d.entry), d.switchCost]).toEqual([key(A), null]);
  });
});

describe("GPU-clock switches", () => {
  const GDIMS = [...DIMS, { name: "gpuFreqMHz", values: [300, 900] }];
  // at 900 MHz: 10 ms, 0.35 J; at 300 MHz: 20 ms, 0.30 J (15 W); setting the clock took 0.4 ms
  const G900 = onDevice("webgpu", 10, 0.35, { acceleratorMs: 1500, gpuFreqMs: 0.4 }, { gpuFreqMHz: 900 });
  const G300 = onDevice("webgpu", 20, 0.3, { acceleratorMs: 1500, gpuFreqMs: 0.4 }, { gpuFreqMHz: 300 });

  it("counted when the clock changes: its time against the deadline, 15 W x 0.4 ms in the energy; unmeasured: as a CPU switch, named", () => {
    const p = createPolicy("splitwatt", loaded(paretoDoc({ dimensions: GDIMS, archive: [G900, G300] })), exact);
    const tight = p.decide({ deadlineMs: 20.2 }, state(G900.config));
    expect(key(tight.entry)).toBe(key(G900));
    const loose = p.decide({ deadlineMs: 100 }, state(G900.config));
    expect(key(loose.entry)).toBe(key(G300));
    expect(loose.switchCost).toEqual({ timeMs: 0.4, energyJ: expect.closeTo(0.006, 12), cpuFreqMs: 0, acceleratorMs: 0, gpuFreqMs: 0.4, assumed: [] });
    // a measured figure from the daemon replaces the file's: 2 ms, 20 + 2 ms and 0.3 + 15 W x 2 ms = 0.33 J (5.7% below 0.35 J)
    const measured = (gpuFreqSwitchMs: number) => createPolicy("splitwatt", loaded(paretoDoc({ dimensions: GDIMS, archive: [G900, G300] })), { ...exact, gpuFreqSwitchMs });
    expect(key(measured(2).decide({ deadlineMs: 21.9 }, state(G900.config)).entry)).toBe(key(G900));
    expect(key(measured(2).decide({ deadlineMs: 22 }, state(G900.config)).entry)).toBe(key(G300));
    // 5 ms: 0.3 + 0.075 J, dearer than staying
    expect(key(measured(5).decide({ deadlineMs: 100 }, state(G900.config)).entry)).toBe(key(G900));
    const unmeasured = { ...G300, switchCost: { acceleratorMs: 1500, gpuFreqMs: null } };
    const u = createPolicy("splitwatt", loaded(paretoDoc({ dimensions: GDIMS, archive: [G900, unmeasured] })), { ...exact, switchCost: { timeMs: 3, energyJ: 0.002 } });
    expect(u.decide({ deadlineMs: 100 }, state(G900.config)).switchCost).toEqual({ timeMs: 3, energyJ: 0.002, cpuFreqMs: 0, acceleratorMs: 0, gpuFreqMs: 3, assumed: ["gpuFreq"] });
  });
});

describe("neurosurgeon counts the switch in the latency it minimises", () => {
  it("webgpu is the faster head once loaded, but not for the request that has to switch to it", () => {
    const p = createPolicy("neurosurgeon", front(), exact);
    const fromCpu = p.decide({ deadlineMs: 100 }, state(CPU.config));
    expect([key(fromCpu.entry), fromCpu.switchCost]).toEqual([key(CPU), null]);
    const fromGpu = p.decide({ deadlineMs: 100 }, state(GPU.config));
    expect(key(fromGpu.entry)).toBe(key(GPU));
    // the same policy object again from CPU: the memo follows the current configuration
    expect(key(p.decide({ deadlineMs: 100 }, state(CPU.config)).entry)).toBe(key(CPU));
    const measured = createPolicy("neurosurgeon", front(), { ...exact, acceleratorSwitchMs: { webgpu: 2 } }).decide({ deadlineMs: 21 }, state(CPU.config));
    // 22 ms: the latency-optimal, beyond the 21 ms deadline (P 0, infeasible), its switch in the decision
    expect([key(measured.entry), measured.feasible, measured.probability]).toEqual([key(GPU), false, 0]);
    expect(measured.switchCost).toMatchObject({ timeMs: 2, acceleratorMs: 2 });
  });
});

describe("SwitchPricing agrees with switchCostMs (src/predict/switchCost.ts) on every pair", () => {
  it("time of each part: what switchCostMs gives, an unmeasured part as the CPU switch; the CPU part when the frequency changes", () => {
    const entries = [
      onDevice("cpu", 60, 0.6, { acceleratorMs: 12, gpuFreqMs: 0.3 }, { gpuFreqMHz: 300 }),
      onDevice("webgpu", 20, 0.3, { acceleratorMs: 1500, gpuFreqMs: 0.4 }, { gpuFreqMHz: 300 }),
      onDevice("webgpu", 10, 0.35, { acceleratorMs: 1400, gpuFreqMs: null }, { gpuFreqMHz: 900 }),
      onDevice("cpu", 90, 0.5, undefined, { gpuFreqMHz: 900, cpuFreqMHz: 600 }),
      { ...entry({ config: { split: 0, cpuFreqMHz: 600, deviceTarget: "webgpu", gpuFreqMHz: 300 }, head: 0, transfer: 30, server: 10, energy: { device: 0.1 } }), switchCost: { acceleratorMs: 9, gpuFreqMs: 0.5 } },
    ];
    const space = paretoDoc({ dimensions: [{ name: "split", values: [0, 2] }, { name: "cpuFreqMHz", values: [600, 1200] }, { name: "deviceTarget", values: ["cpu", "webgpu"] }, { name: "gpuFreqMHz", values: [300, 900] }], archive: entries }).space;
    const cpu = { timeMs: 7, energyJ: 0.02 };
    const pricing = new SwitchPricing(entries, space, { switchCost: cpu });
    for (const from of [null, ...entries.map((e) => e.config), { split: 2, cpuFreqMHz: 1200, deviceTarget: "cpu:2", gpuFreqMHz: 600 }]) {
      pricing.from(from);
      entries.forEach((to, i) => {
        const s = switchCostMs(from, to);
        const accel = s.acceleratorMs === null ? cpu.timeMs : s.acceleratorMs;
        const gpu = s.gpuFreqMs === null ? cpu.timeMs : s.gpuFreqMs;
        const cpuPart = from === null || from.cpuFreqMHz !== to.config.cpuFreqMHz ? cpu.timeMs : 0;
        expect([from, i, pricing.timeMs(i)]).toEqual([from, i, expect.closeTo(cpuPart + accel + gpu, 12)]);
        const parts = pricing.parts(i);
        expect(parts?.assumed ?? []).toEqual([...(s.acceleratorMs === null ? ["accelerator"] : []), ...(s.gpuFreqMs === null ? ["gpuFreq"] : [])]);
      });
    }
  });
});
