/**
 * The profiler end to end on fake hardware: a fake cpufreq tree behind the fake kernel, a real
 * local tail server child (dist/ must be built: npm test builds it first), real onnxruntime.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { AccuracyCache } from "../../src/measure/accuracyCache.js";
import { checkMeasurement } from "../../src/contracts/measurement.js";
import { MeasurementStore } from "../../src/measure/measurementStore.js";
import { Profiler, type ProfilerOptions } from "../../src/measure/profiler.js";
import { binding } from "../../src/native/binding.js";
import { rejected } from "../fixtures/caught.js";
import { acpiCpufreqUserspace, bareMachine, hwmonEnergyCounter } from "../fixtures/boards.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const POLICY0 = "sys/devices/system/cpu/cpufreq/policy0";
let analysis: ModelAnalysis;
let path: string;
const tmp = (): string => mkdtempSync(join(tmpdir(), "sw-prof-"));

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
    stateDir: tmp(),
    network: null,
    accuracyN: 4,
    warmUp: 1,
    idleMs: 20,
    stop: { minRuns: 5, maxRuns: 40, ciRel: 0.5, maxMs: 5_000 },
    hostName: "test-host",
    ...extra,
  };
}

describe("profiler on an x86 tree with a userspace governor and an energy counter", () => {
  const t = FakeTree.create();
  let kernel: FakeKernel;
  let profiler: Profiler;
  let store: MeasurementStore;
  const last = (): number => analysis.cuts.length - 1;

  beforeAll(async () => {
    acpiCpufreqUserspace(t);
    hwmonEnergyCounter(t);
    kernel = new FakeKernel(new (binding().Sysfs)());
    store = MeasurementStore.open(join(tmp(), "m.jsonl"));
    profiler = await Profiler.open(base(t, { io: kernel, store, accuracyCache: AccuracyCache.open(join(tmp(), "acc.jsonl")) }));
  }, 60_000);
  afterAll(async () => {
    await profiler.close();
    t.cleanup();
  });

  it("offers the policy's frequency table", async () => {
    expect(await profiler.frequencies()).toEqual([800, 1000, 1200, 1400, 1600, 1800, 2000, 2200]);
  });

  it("measures two cuts at a set frequency, restoring the governor after each", async () => {
    const before = readFileSync(join(t.root, POLICY0, "scaling_governor"), "utf8").trim();
    for (const split of [6, last()]) {
      kernel.writes.length = 0;
      const r = await profiler.measure({ split, cpuFreqMHz: 1200, deviceTarget: "cpu:1", serverTarget: "cpu", codec: "int8" });
      const m = r.measurement;
      expect(checkMeasurement(m).ok).toBe(true);
      expect(r.cached).toBe(false);
      expect(m.config).toEqual({ split, cpuFreqMHz: 1200, deviceTarget: "cpu:1", serverTarget: "cpu", codec: "int8" });
      // set to 1200 MHz through the userspace governor, then restored
      const setspeed = kernel.writes.filter((w) => w.path.endsWith("policy0/scaling_setspeed")).map((w) => w.text.trim());
      expect(setspeed[0]).toBe("1200000");
      expect((m.host.appliedFreqKHz as number[]).every((k) => k === 1200000)).toBe(true);
      // CPU heads are measured on a device thread, as the daemon runs them
      expect(m.host.headThread).toBe("device thread");
      expect(readFileSync(join(t.root, POLICY0, "scaling_governor"), "utf8").trim()).toBe(before);
      expect(m.latencyMs.n).toBeGreaterThanOrEqual(5);
      expect(m.latencyMs.p50).not.toBeNull();
      expect(m.latencyMs.mean).toBeGreaterThan(0);
      expect(m.energySource.device).toBe("hwmon");
      if (split === last()) {
        expect(m.bytes).toBe(0);
        expect(m.breakdownMs.transfer).toBe(0);
        expect(m.breakdownMs.server).toBe(0);
        expect(m.breakdownMs.head).toBeCloseTo(m.latencyMs.mean, 6);
      } else {
        // int8 of the 1x32x8x8 cut tensor: 2048 payload bytes; on the wire plus the protocol's JSON header
        expect(m.bytes).toBe(2048);
        expect(m.wireBytes).toBeGreaterThan(2048);
        expect(m.wireBytes).toBeLessThan(8192 + 2048);
        expect(m.breakdownMs.server).toBeGreaterThan(0);
        const b = m.breakdownMs;
        const sum = (b.head ?? 0) + (b.encode ?? 0) + (b.transfer ?? 0) + (b.server ?? 0) + (b.decode ?? 0);
        expect(Math.abs(sum - m.latencyMs.mean)).toBeLessThan(0.05 * m.latencyMs.mean + 0.2);
        expect(m.energyJ.server).toBeGreaterThan(0);
        expect(m.energySource.server).toBe("estimate");
      }
      expect(m.accuracy?.n).toBe(4);
    }
  }, 120_000);

  it("reuses the store: the same configuration is not measured twice, --fresh measures again", async () => {
    kernel.writes.length = 0;
    const c = { split: 6, cpuFreqMHz: 1200, deviceTarget: "cpu:1", serverTarget: "cpu", codec: "int8" } as const;
    const r = await profiler.measure(c);
    expect(r.cached).toBe(true);
    expect(kernel.writes).toEqual([]);
    const again = MeasurementStore.open(store.path);
    expect(again.all().filter((m) => m.config.split === 6)).toHaveLength(1);
    const fresh = await profiler.measure(c, { fresh: true });
    expect(fresh.cached).toBe(false);
    expect(MeasurementStore.open(store.path).all().filter((m) => m.config.split === 6)).toHaveLength(2);
  }, 60_000);

  it("stops adaptively: at maxRuns when the interval target cannot be met, on the interval when it is loose", async () => {
    const p = await Profiler.open(base(t, { io: kernel, stop: { minRuns: 3, maxRuns: 7, ciRel: 1e-12, maxMs: 60_000 }, accuracy: false }));
    try {
      const r = await p.measure({ split: last(), cpuFreqMHz: 800, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" });
      expect(r.stopReason).toBe("max-runs");
      expect(r.measurement.latencyMs.n).toBe(7);
    } finally {
      await p.close();
    }
    const q = await Profiler.open(base(t, { io: kernel, stop: { minRuns: 4, maxRuns: 500, ciRel: 10, maxMs: 60_000 }, accuracy: false }));
    try {
      const r = await q.measure({ split: last(), cpuFreqMHz: 800, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" });
      expect(r.stopReason).toBe("ci");
      expect(r.measurement.latencyMs.n).toBe(4);
    } finally {
      await q.close();
    }
  }, 60_000);

  it("refuses a frequency the policy does not offer, in one line", async () => {
    const e = await rejected(profiler.measure({ split: last(), cpuFreqMHz: 1250, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }));
    expect(e.message).toMatch(/1250 MHz is not offered/);
    expect(e.message).not.toContain("\n");
  });
});

describe("profiler on a bare machine (no cpufreq, no counter)", () => {
  it("labels the estimate, uses the current frequency and refuses --freq-mhz", async () => {
    const t = FakeTree.create();
    bareMachine(t);
    const p = await Profiler.open(base(t, { accuracy: false, network: "wifi-20mbps", link: "app" }));
    try {
      expect(await p.frequencies()).toEqual(["current"]);
      const e = await rejected(p.measure({ split: 3, cpuFreqMHz: 1000, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }));
      expect(e.message).toMatch(/no cpufreq/);
      const r = await p.measure({ split: 3, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" });
      const m = r.measurement;
      expect(m.energySource.device).toBe("estimate");
      expect(r.notes.join(" ")).toMatch(/estimate/);
      expect(m.config.cpuFreqMHz).toBe("current");
      // 16 KiB cut at 20 Mbit/s up through the app token bucket: at least 6.5 ms of transfer
      expect(m.breakdownMs.transfer).toBeGreaterThan((16384 * 8) / 20_000);
      expect(m.energySource.network).toBe("estimate");
      expect(m.energyJ.network).toBeGreaterThan(0);
      expect(m.energyJ.total).toBeCloseTo((m.energyJ.device ?? 0) + (m.energyJ.network ?? 0) + (m.energyJ.server ?? 0), 12);
      expect(String(m.host.link)).toMatch(/token bucket/i);
    } finally {
      await p.close();
      t.cleanup();
    }
  }, 60_000);
});

describe("profiler, a batched configuration (a stream through the pipeline)", () => {
  it("measures throughput, per-item latency and energy with the bound of the same run; the batch sizes are part of the key", async () => {
    const t = FakeTree.create();
    bareMachine(t);
    const store = MeasurementStore.open(join(tmp(), "m.jsonl"));
    const p = await Profiler.open(base(t, { accuracy: false, network: "wifi-20mbps", link: "app", store, stop: { minRuns: 3, maxRuns: 6, ciRel: 0.5, maxMs: 4_000 } }));
    try {
      const c = { split: 6, cpuFreqMHz: "current" as const, deviceTarget: "cpu", serverTarget: "cpu", codec: "int8" };
      const serial = (await p.measure(c)).measurement;
      const r = await p.measure({ ...c, deviceBatch: 2, serverBatch: 4 });
      const m = r.measurement;
      expect(checkMeasurement(m)).toMatchObject({ ok: true });
      expect(m.config).toMatchObject({ deviceBatch: 2, serverBatch: 4 });
      expect(m.key).not.toBe(serial.key);
      expect(m.pipeline).toMatchObject({ deviceBatch: 2, serverBatch: 4 });
      expect(m.pipeline?.items).toBeGreaterThanOrEqual(3 * 16); // at least minRuns windows of 4 x max(b) items
      expect(m.throughputPerS).toBeCloseTo((m.pipeline?.items ?? 0) / (m.pipeline?.seconds ?? 1), 6);
      expect(m.pipeline?.boundPerS).toBeGreaterThan(0);
      // a stream cannot run faster than its slowest stage allows (a margin for the noise of this machine)
      expect(m.throughputPerS as number).toBeLessThan(1.3 * (m.pipeline?.boundPerS as number));
      expect(m.energySource.device).toBe("estimate");
      expect(m.energyJ.device).toBeGreaterThan(0);
      expect(m.energyJ.total).toBeCloseTo((m.energyJ.device ?? 0) + (m.energyJ.network ?? 0) + (m.energyJ.server ?? 0), 12);
      expect(m.latencyMs.n).toBeGreaterThanOrEqual(m.pipeline?.items as number);
      // stored, and answered from the store the second time
      expect((await p.measure({ ...c, deviceBatch: 2, serverBatch: 4 })).cached).toBe(true);
    } finally {
      await p.close();
      t.cleanup();
    }
  }, 60_000);

  it("liveSpace: batch dimensions join the space; one device batch at split 0 and one server batch at the last split", async () => {
    const t = FakeTree.create();
    bareMachine(t);
    const p = await Profiler.open(base(t, { accuracy: false }));
    try {
      const { liveSpace } = await import("../../src/search/liveSpace.js");
      const L = analysis.cuts.length - 1;
      const live = await liveSpace(p, { split: [0, 6, L], deviceTarget: ["cpu"], serverTarget: ["cpu"], codec: ["raw"], deviceBatch: [1, 4], serverBatch: [1, 8] });
      expect(live.space.dimensions.map((d) => d.name)).toEqual(["split", "cpuFreqMHz", "deviceTarget", "serverTarget", "codec", "deviceBatch", "serverBatch"]);
      // split 0: 2 server batches; split 6: 2 x 2; split L: 2 device batches
      expect(live.space.countValid()).toBe(2 + 4 + 2);
      const plain = await liveSpace(p, { split: [0, 6, L], codec: ["raw"] });
      expect(plain.space.dimensions.map((d) => d.name)).not.toContain("deviceBatch");
      await expect(liveSpace(p, { split: [0, L], deviceBatch: [0] })).rejects.toThrow(/deviceBatch: 0 is not a batch size/);
    } finally {
      await p.close();
      t.cleanup();
    }
  }, 60_000);
});
