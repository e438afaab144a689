/**
 * Accelerator targets and switch costs without a GPU: the `webgpu` target name on both sides,
 * the refused power-preference spellings, the session options it implies, the thread choices a
 * search offers, the switch-cost rules the daemon counts, and the additive contract fields
 * (`adapter`, `switchCost`) that older files lack.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkMeasurement, measurementKey, onSoftwareAdapter, softwareAdapterLabel, type Config, type Measurement, type WebGpuAdapter } from "../../src/contracts/measurement.js";
import { checkParetoFile, entryOfMeasurement, type ParetoFile } from "../../src/contracts/paretoFile.js";
import { switchCostMs } from "../../src/predict/switchCost.js";
import { canonicalTargetName, executionTargetName, parseExecutionTarget, targetSessionOptions, usesGpuAdapter } from "../../src/runtime/executionTarget.js";
import { sessionOptions } from "../../src/runtime/sessionFactory.js";
import { cpuThreadChoices } from "../../src/runtime/targetAvailability.js";
import { acceleratorSwitchCostMs } from "../../src/runtime/warmUp.js";
import { caught } from "../fixtures/caught.js";

/** lavapipe as src/runtime/webgpu.ts names it on this machine (Mesa 25 from bookworm-backports). */
const LAVAPIPE: WebGpuAdapter = {
  vendor: "mesa",
  architecture: null,
  device: "llvmpipe (LLVM 15.0.6, 256 bits)",
  driver: "llvmpipe",
  description: "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)",
  software: true,
  identifiedBy: "only-vulkan-device",
};
const ORIN: WebGpuAdapter = { vendor: "nvidia", architecture: null, device: "NVIDIA Orin (nvgpu)", driver: "NVIDIA", description: "540.4.0", software: false, identifiedBy: "only-vulkan-device" };

describe("the webgpu execution target", () => {
  it("parses on both sides with one canonical name, and runs on a GPU adapter", () => {
    for (const side of ["device", "server"] as const) {
      const t = parseExecutionTarget("webgpu", side);
      expect(t).toEqual({ kind: "webgpu" });
      expect(executionTargetName(t)).toBe("webgpu");
      expect(canonicalTargetName("webgpu", side)).toBe("webgpu");
      expect(usesGpuAdapter(t)).toBe(true);
    }
    expect(usesGpuAdapter(parseExecutionTarget("cpu:2", "device"))).toBe(false);
  });

  it("refuses power-preference spellings in one line (onnxruntime-node takes none): exit 2, says to use webgpu", () => {
    for (const text of ["webgpu:low-power", "webgpu:high-performance", "webgpu:"]) {
      const e = caught(() => parseExecutionTarget(text, "device"));
      expect(e.message).toMatch(/no WebGPU power preference.*use webgpu$/);
      expect(e.message).not.toContain("\n");
      expect((e as { exitCode?: number }).exitCode).toBe(2);
    }
  });

  it("a device target the side does not offer names what it offers", () => {
    const e = caught(() => parseExecutionTarget("cuda", "device"));
    expect(e.message).toMatch(/device target "cuda" is not available here: use cpu, cpu:N, webgpu/);
  });

  it("session options: the WebGPU provider with onnxruntime's defaults (no provider options: the binding refuses unknown ones), threads only for cpu", () => {
    expect(targetSessionOptions({ kind: "webgpu" })).toEqual({ executionProviders: [{ name: "webgpu" }] });
    const o = sessionOptions({ target: { kind: "webgpu" }, purpose: "inference" });
    expect(o.executionProviders).toEqual([{ name: "webgpu" }]);
    expect(o.intraOpNumThreads).toBeUndefined();
  });

  it("cpu:N choices a search offers: the powers of two below the core count", () => {
    expect([1, 2, 3, 4, 6, 8, 12].map(cpuThreadChoices)).toEqual([[], [1], [1, 2], [1, 2], [1, 2, 4], [1, 2, 4], [1, 2, 4, 8]]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 512 }), (cores) => {
        const c = cpuThreadChoices(cores);
        return c.every((n) => n < cores && Number.isInteger(Math.log2(n))) && c.length === Math.ceil(Math.log2(cores));
      }),
    );
  });
});

describe("switch costs the daemon counts", () => {
  it("accelerator: session creation plus the first run's excess over the steady state (tiny_cnn on lavapipe, cold Mesa cache: 7 s first run)", () => {
    expect(acceleratorSwitchCostMs({ sessionCreateMs: 600, firstRunMs: 7000, steadyRunMs: 5 })).toBe(7595);
    // a first run no slower than the steady state adds nothing beyond the session
    expect(acceleratorSwitchCostMs({ sessionCreateMs: 12, firstRunMs: 3, steadyRunMs: 4 })).toBe(12);
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1e5, noNaN: true }), fc.double({ min: 0, max: 1e5, noNaN: true }), fc.double({ min: 0, max: 1e5, noNaN: true }), (s, f, st) => {
        const c = acceleratorSwitchCostMs({ sessionCreateMs: s, firstRunMs: f, steadyRunMs: st });
        return c >= s && c >= s + f - st - 1e-9 && acceleratorSwitchCostMs({ sessionCreateMs: s, firstRunMs: f + 1, steadyRunMs: st }) >= c;
      }),
    );
  });

  it("counted only for what changes; an unmeasured change is null (never silently 0); no head at split 0 costs nothing", () => {
    const cost = { acceleratorMs: 1500, gpuFreqMs: 0.4 };
    const cpu: Config = { split: 5, cpuFreqMHz: 1500, gpuFreqMHz: 300, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" };
    const gpu: Config = { ...cpu, gpuFreqMHz: 900, deviceTarget: "webgpu" };
    expect(switchCostMs(cpu, { config: gpu, switchCost: cost })).toEqual({ acceleratorMs: 1500, gpuFreqMs: 0.4, totalMs: 1500.4 });
    expect(switchCostMs(gpu, { config: { ...gpu, split: 7 }, switchCost: cost })).toEqual({ acceleratorMs: 0, gpuFreqMs: 0, totalMs: 0 });
    expect(switchCostMs(gpu, { config: { ...gpu, gpuFreqMHz: 600 }, switchCost: cost })).toEqual({ acceleratorMs: 0, gpuFreqMs: 0.4, totalMs: 0.4 });
    expect(switchCostMs(null, { config: gpu, switchCost: cost }).totalMs).toBe(1500.4);
    expect(switchCostMs(cpu, { config: gpu })).toEqual({ acceleratorMs: null, gpuFreqMs: null, totalMs: null });
    expect(switchCostMs(gpu, { config: { ...cpu, split: 0 }, switchCost: { acceleratorMs: null, gpuFreqMs: 0.4 } })).toEqual({ acceleratorMs: 0, gpuFreqMs: 0.4, totalMs: 0.4 });
    // configurations without a GPU clock dimension never count one
    const { gpuFreqMHz: _a, ...noGpuFrom } = cpu;
    const { gpuFreqMHz: _b, ...noGpuTo } = gpu;
    expect(switchCostMs(noGpuFrom, { config: noGpuTo, switchCost: { acceleratorMs: 10, gpuFreqMs: null } })).toEqual({ acceleratorMs: 10, gpuFreqMs: 0, totalMs: 10 });
  });
});

const SHA = "cd".repeat(32);
function record(config: Config, extra: Partial<Measurement> = {}): Measurement {
  return {
    version: 1,
    key: measurementKey(config, "box", SHA),
    config,
    model: { name: "tiny_cnn", sha256: SHA },
    host: { name: "box" },
    latencyMs: { mean: 10, p50: 10, p95: 12, p99: 13, n: 5, samples: [9, 10, 10, 12, 13] },
    breakdownMs: { head: 10, encode: 0, transfer: 0, server: 0, decode: 0 },
    bytes: 0,
    energyJ: { device: 0.1, network: null, server: 0, total: 0.1 },
    energySource: { device: "estimate", network: null, server: "estimate" },
    accuracy: null,
    measuredAt: "2025-01-02T03:04:05.000Z",
    source: "measured",
    ...extra,
  };
}

describe("adapter and switch cost in the contracts (additive: older records and files still load)", () => {
  const config: Config = { split: 14, cpuFreqMHz: "current", deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" };

  it("a measurement says which adapter each part ran on and what switching to it costs; records without them still validate", () => {
    const m = record(config, { adapter: { device: LAVAPIPE, server: null }, switchCost: { acceleratorMs: 700, gpuFreqMs: null } });
    expect(checkMeasurement(m).ok).toBe(true);
    expect(checkMeasurement(record(config)).ok).toBe(true);
    const bad = checkMeasurement({ ...m, adapter: { device: { ...LAVAPIPE, software: "yes" }, server: null } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.reason).toMatch(/^adapter\.device\.software/);
    const e = entryOfMeasurement(m);
    expect(e.adapter).toEqual({ device: LAVAPIPE, server: null });
    expect(e.switchCost).toEqual({ acceleratorMs: 700, gpuFreqMs: null });
    expect("adapter" in entryOfMeasurement(record(config))).toBe(false);
  });

  it("a version-2 pareto file loads with and without adapter / switchCost", () => {
    const m = record(config, { adapter: { device: LAVAPIPE, server: null }, switchCost: { acceleratorMs: 700, gpuFreqMs: null } });
    const entry = entryOfMeasurement(m);
    const doc: ParetoFile = {
      version: 2,
      generatedAt: "2025-01-02T03:04:05.000Z",
      mode: "live",
      source: {},
      model: "tiny_cnn",
      network: null,
      space: {
        dimensions: Object.entries(config).map(([name, v]) => ({ name, values: [v], ordered: false })),
        validConfigurations: 1,
      },
      objectives: ["latency", "energy"],
      latencyStat: "mean",
      constraints: { maxLatencyMs: null, minAccuracy: null },
      algorithm: "exhaustive",
      memetic: false,
      populationSize: 2,
      seed: 1,
      budget: 1,
      evaluations: 1,
      cachedEvaluations: 0,
      unevaluable: 0,
      generations: 0,
      aborted: false,
      hypervolume: 0,
      hypervolumeReference: { normalisation: "feasible-evaluated-ideal-nadir", objectiveSpace: [], ideal: null, nadir: null, reference: [1.1, 1.1] },
      front: [entry],
      archive: [entry],
    };
    const withIt = checkParetoFile(JSON.parse(JSON.stringify(doc)));
    expect(withIt.ok).toBe(true);
    if (withIt.ok) expect(withIt.value.archive[0]?.adapter?.device?.software).toBe(true);
    const { adapter: _a, switchCost: _s, ...old } = entry;
    expect(checkParetoFile(JSON.parse(JSON.stringify({ ...doc, front: [old], archive: [old] }))).ok).toBe(true);
  });

  it("software adapters are labelled; hardware ones and CPU targets are not", () => {
    expect(onSoftwareAdapter({ device: LAVAPIPE, server: null })).toBe(true);
    expect(onSoftwareAdapter({ device: null, server: LAVAPIPE })).toBe(true);
    expect(onSoftwareAdapter({ device: ORIN, server: null })).toBe(false);
    expect(onSoftwareAdapter({ device: null, server: null })).toBe(false);
    expect(onSoftwareAdapter(undefined)).toBe(false);
    expect(softwareAdapterLabel({ device: LAVAPIPE, server: LAVAPIPE })).toBe(
      "software GPU (head on llvmpipe (LLVM 15.0.6, 256 bits), tail on llvmpipe (LLVM 15.0.6, 256 bits)): a CPU implementation of Vulkan, not accelerator figures",
    );
    expect(softwareAdapterLabel({ device: ORIN, server: null })).toBeNull();
  });
});
