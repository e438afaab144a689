/**
 * The GPU clock as a search dimension: the profiler on a fake board with a Mali GPU under
 * devfreq (fake tree behind the fake kernel, which applies devfreq's rules), heads on the WebGPU
 * provider for real (lavapipe here: the fake GPU clock and the real adapter are unrelated, so
 * this checks the dimension's plumbing, set and restore, not its effect), a real local tail
 * server child (dist/ must be built: npm test builds it first).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkMeasurement } from "../../src/contracts/measurement.js";
import { Profiler, type ProfilerOptions } from "../../src/measure/profiler.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { binding } from "../../src/native/binding.js";
import { liveSpace } from "../../src/search/liveSpace.js";
import { bareMachine, devfreqMali, MALI_TABLE } from "../fixtures/boards.js";
import { rejected } from "../fixtures/caught.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const MALI = "sys/devices/platform/fb000000.gpu/devfreq/fb000000.gpu";
let analysis: ModelAnalysis;
let path: string;

beforeAll(async () => {
  path = await zooPath("tiny_cnn");
  analysis = await analyzeModel(loadModel(path));
});

function base(t: FakeTree, extra: Partial<ProfilerOptions> = {}): ProfilerOptions {
  return {
    analysis,
    modelName: "tiny_cnn",
    modelPath: path,
    evalSet: "agreement",
    sysfsRoot: t.sysfsRoot,
    procRoot: t.procRoot,
    devRoot: t.devRoot,
    stateDir: mkdtempSync(join(tmpdir(), "sw-profgpu-")),
    network: null,
    accuracy: false,
    warmUp: 1,
    idleMs: 0,
    stop: { minRuns: 3, maxRuns: 10, ciRel: 1, maxMs: 2_000 },
    hostName: "test-host",
    ...extra,
  };
}

describe("gpuFreqMHz on a board with a devfreq GPU (Mali, RK3588 fixture)", () => {
  const t = FakeTree.create();
  let kernel: FakeKernel;
  let profiler: Profiler;
  const L = (): number => analysis.cuts.length - 1;

  beforeAll(async () => {
    bareMachine(t);
    devfreqMali(t);
    kernel = new FakeKernel(new (binding().Sysfs)());
    profiler = await Profiler.open(base(t, { io: kernel }));
  }, 60_000);
  afterAll(async () => {
    await profiler.close();
    t.cleanup();
  });

  it("is a dimension with the GPU's table when a device target runs on the GPU; the clock matters only to a GPU head", async () => {
    expect(profiler.gpuClock).toBe("devfreq:fb000000.gpu");
    const mhz = MALI_TABLE.map((hz) => hz / 1e6);
    expect(profiler.gpuFrequencies()).toEqual(mhz);
    const live = await liveSpace(profiler, { split: [0, 6, L()], codec: ["raw"], deviceTarget: ["cpu", "webgpu"], serverTarget: ["cpu"] });
    const dims = live.space.dimensions;
    expect(dims.map((d) => d.name)).toEqual(["split", "cpuFreqMHz", "gpuFreqMHz", "deviceTarget", "serverTarget", "codec"]);
    expect(dims.find((d) => d.name === "gpuFreqMHz")?.values).toEqual(mhz);
    // split 0: one config (cpu, lowest clock); splits 6 and L: cpu at the lowest clock + webgpu at each of 8
    expect(live.space.countValid()).toBe(1 + 2 * (1 + mhz.length));
    expect(live.anchors.deviceDimensions).toEqual(["cpuFreqMHz", "gpuFreqMHz", "deviceTarget"]);
    // without a GPU head the clock is no dimension
    const cpuOnly = await liveSpace(profiler, { split: [0, L()], codec: ["raw"], deviceTarget: ["cpu"], serverTarget: ["cpu"] });
    expect(cpuOnly.space.dimensions.map((d) => d.name)).not.toContain("gpuFreqMHz");
    const e = await rejected(liveSpace(profiler, { split: [0, L()], codec: ["raw"], deviceTarget: ["cpu"], serverTarget: ["cpu"], gpuFreqMHz: [800] }));
    expect(e.message).toMatch(/gpuFreqMHz needs a device target on the GPU \(webgpu\)/);
  }, 120_000);

  it("the profiler sets the clock for the measurement and restores it after; the record has the applied clock, its set time and the adapter", async () => {
    kernel.writes.length = 0;
    const r = await profiler.measure({ split: L(), cpuFreqMHz: "current", gpuFreqMHz: 800, deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" });
    const m = r.measurement;
    expect(checkMeasurement(m).ok).toBe(true);
    expect(m.config).toEqual({ split: L(), cpuFreqMHz: "current", gpuFreqMHz: 800, deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" });
    // through devfreq's userspace governor, verified by cur_freq, then put back
    expect(kernel.writeLog(t.root).slice(0, 2)).toEqual([`${MALI}/governor=userspace`, `${MALI}/userspace/set_freq=800000000`]);
    expect(m.host.gpuFreq).toMatchObject({ device: "devfreq:fb000000.gpu", appliedKHz: 800_000, method: "userspace-set_freq" });
    expect(t.read(`${MALI}/governor`)).toBe("simple_ondemand");
    expect(t.exists(`${MALI}/userspace`)).toBe(false);
    expect(m.switchCost?.gpuFreqMs).toBeGreaterThan(0);
    expect(m.switchCost?.gpuFreqMs).toBe((m.host.gpuFreq as { setMs: number }).setMs);
    // the head ran on the WebGPU adapter, warmed up apart (this machine: lavapipe, software)
    expect(m.host.warmUp).toMatchObject({ target: "webgpu" });
    expect(m.switchCost?.acceleratorMs).toBeGreaterThan(0);
    expect(m.adapter?.device?.software).toBe(true);
    expect(m.adapter?.server).toBeNull();
    expect(r.notes.join(" ")).toMatch(/software GPU \(head on llvmpipe.*not accelerator figures/);
  }, 120_000);

  it("a CPU head at the lowest clock through the live evaluator: the clock is set and restored too", async () => {
    const live = await liveSpace(profiler, { split: [0, 6, L()], codec: ["raw"], deviceTarget: ["cpu", "webgpu"], serverTarget: ["cpu"] });
    kernel.writes.length = 0;
    const res = await live.evaluate({ split: 6, cpuFreqMHz: "current", gpuFreqMHz: 300, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }, {});
    expect(res?.entry?.switchCost?.gpuFreqMs).toBeGreaterThan(0);
    expect(res?.entry?.adapter).toEqual({ device: null, server: null });
    expect(kernel.writeLog(t.root)).toContain(`${MALI}/userspace/set_freq=300000000`);
    expect(t.read(`${MALI}/governor`)).toBe("simple_ondemand");
  }, 120_000);
});

describe("gpuFreqMHz on a board without a GPU clock", () => {
  it("is refused in one line, and the space has no such dimension", async () => {
    const t = FakeTree.create();
    bareMachine(t);
    const p = await Profiler.open(base(t));
    try {
      expect(p.gpuFrequencies()).toEqual([]);
      const e = await rejected(p.measure({ split: 3, cpuFreqMHz: "current", gpuFreqMHz: 800, deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" }));
      expect(e.message).toMatch(/exposes no GPU clock/);
      expect(e.message).not.toContain("\n");
      const live = await liveSpace(p, { split: [0, 3, analysis.cuts.length - 1], codec: ["raw"], deviceTarget: ["cpu", "webgpu"], serverTarget: ["cpu"] });
      expect(live.space.dimensions.map((d) => d.name)).not.toContain("gpuFreqMHz");
    } finally {
      await p.close();
      t.cleanup();
    }
  }, 60_000);
});
