/**
 * The daemon's pure parts: request parameters, energy by part, the decision log, runnable
 * configurations, the API name of a model, the accelerator switch tracker and the policy book's
 * measured switch times.
 */
import { describe, expect, it } from "vitest";
import { boardProfile } from "../../src/hw/boardProfile.js";
import type { EnergyWindow } from "../../src/hw/energyMeter.js";
import type { ExecutionResult } from "../../src/runtime/splitExecutor.js";
import { HttpError } from "../../src/transport/http/httpError.js";
import { networkProfile } from "../../src/transport/networkProfile.js";
import { defaultModelName } from "../../src/schedule/daemon/defaultModelName.js";
import { DecisionLog, type DecisionRecord } from "../../src/schedule/daemon/decisionLog.js";
import { energyParts } from "../../src/schedule/daemon/energyParts.js";
import { requestParams } from "../../src/schedule/daemon/requestParams.js";
import { runnableConfig } from "../../src/schedule/daemon/runnableConfig.js";
import { AcceleratorSwitches } from "../../src/schedule/daemon/acceleratorSwitches.js";
import { PolicyBook } from "../../src/schedule/daemon/policyBook.js";
import { entry, loaded, paretoDoc } from "../fixtures/paretoFixtures.js";

const httpError = (f: () => unknown): HttpError => {
  try {
    f();
  } catch (e) {
    return e as HttpError;
  }
  throw new Error("expected an HttpError");
};

describe("request parameters", () => {
  const defaults = { deadlineMs: undefined, policy: "splitwatt" };
  it("numbers given as numbers or numeric strings; the policy defaults to the daemon's; a default deadline fills in", () => {
    const get = (p: Record<string, unknown>) => (k: string) => p[k];
    expect(requestParams(get({ deadline_ms: 40 }), defaults, "parameters")).toEqual({ deadlineMs: 40, minAccuracy: undefined, policy: "splitwatt" });
    expect(requestParams(get({ deadline_ms: "12.5", min_accuracy: "0.9", policy: "dynasplit" }), defaults, "query")).toEqual({ deadlineMs: 12.5, minAccuracy: 0.9, policy: "dynasplit" });
    expect(requestParams(get({}), { deadlineMs: 80, policy: "edge-only" }, "parameters")).toEqual({ deadlineMs: 80, minAccuracy: undefined, policy: "edge-only" });
  });
  it.each([
    [{}, /no deadline: send deadline_ms/],
    [{ deadline_ms: 0 }, /positive number of ms, got 0/],
    [{ deadline_ms: Number.POSITIVE_INFINITY }, /positive number/],
    [{ deadline_ms: "" }, /positive number of ms, got ""/],
    [{ deadline_ms: true }, /positive number of ms, got true/],
    [{ deadline_ms: 5, min_accuracy: -0.1 }, /min_accuracy must be a fraction/],
    [{ deadline_ms: 5, policy: 7 }, /policy must be a policy's name, got 7/],
  ])("%j is a 400 saying what to send", (p, re) => {
    const e = httpError(() => requestParams((k) => (p as Record<string, unknown>)[k], defaults, "parameters"));
    expect(e).toBeInstanceOf(HttpError);
    expect(e.status).toBe(400);
    expect(e.message).toMatch(re);
  });
});

const window = (deviceJ: number, complete = true, estimated = true): EnergyWindow => ({
  durationMs: 10,
  span: { fromMs: 0, toMs: 10 },
  deviceJ,
  deviceComplete: complete,
  source: estimated ? "estimate" : "rapl",
  estimated,
  sources: [],
  cpuUtilisation: 0.5,
  freqMHz: null,
  freqSource: null,
});

const result = (o: Partial<ExecutionResult> & { transferMs?: number; serverMs?: number }): ExecutionResult => ({
  outputs: {},
  timings: { headMs: 1, encodeMs: 0, transferMs: o.transferMs ?? 0, serverMs: o.serverMs ?? 0, decodeMs: 0, totalMs: 1 + (o.transferMs ?? 0) + (o.serverMs ?? 0) },
  tensorBytes: o.tensorBytes ?? 0,
  wireBytes: o.wireBytes ?? 0,
  receivedBytes: 0,
  server: o.server ?? null,
});

describe("energy by part", () => {
  const wifi = networkProfile("wifi-20mbps");
  const ctx = { network: wifi, serverProfile: boardProfile("generic-x86"), serverAccounting: "marginal" as const, bandwidthMbps: null };
  it("all on the device: the window's device energy, nothing for the network or the server", () => {
    const e = energyParts(result({}), window(0.05), false, ctx);
    expect(e).toEqual({ energyJ: { device: 0.05, network: 0, server: 0, total: 0.05 }, source: { device: "estimate", network: "estimate", server: null }, devicePending: false });
  });
  it("remote: radio tx over the upload time at the estimated bandwidth (else the profile's), rx for the rest of the time on the wire; the server's own figure when it reports one", () => {
    // 250 kB at 20 Mbit/s = 100 ms upload within 130 ms on the wire
    const server = { serverMs: 5, computeMs: 4, load: null, energyJ: 0.02, energySource: "rapl", shapedMs: 0 };
    const r = result({ transferMs: 130, serverMs: 5, wireBytes: 250_000, server });
    const e = energyParts(r, window(0.1, true, false), false, ctx);
    const want = (wifi.radio.txW * 100 + wifi.radio.rxW * 30) / 1000;
    expect(e.energyJ.network).toBeCloseTo(want, 9);
    expect(e.energyJ.server).toBe(0.02);
    expect(e.source).toEqual({ device: "rapl", network: "estimate", server: "rapl" });
    expect(e.energyJ.total).toBeCloseTo(0.1 + want + 0.02, 9);
    // at an estimated 50 Mbit/s the upload is 40 ms of the 130
    const at50 = energyParts(r, window(0.1), false, { ...ctx, bandwidthMbps: 50 });
    expect(at50.energyJ.network).toBeCloseTo((wifi.radio.txW * 40 + wifi.radio.rxW * 90) / 1000, 9);
    // no server figure: its power model over the compute time, labelled estimate (node accounting: node)
    const est = energyParts(result({ transferMs: 10, serverMs: 5, wireBytes: 1000, server: { ...server, energyJ: null, energySource: null } }), window(0.1), false, ctx);
    expect(est.source.server).toBe("estimate");
    expect(est.energyJ.server).toBeGreaterThan(0);
    expect(energyParts(result({ transferMs: 10, serverMs: 5, wireBytes: 1000, server: { ...server, energyJ: null, energySource: null } }), window(0.1), false, { ...ctx, serverAccounting: "node" }).source.server).toBe("node");
  });
  it("an external meter's figure not in yet: device null and pending, total null; no network profile: network null", () => {
    const e = energyParts(result({}), { ...window(0, false, false), source: "meter" }, true, { ...ctx, network: null });
    expect(e).toMatchObject({ energyJ: { device: null, network: null, total: null }, source: { device: "meter", network: null }, devicePending: true });
  });
});

describe("decision log", () => {
  const rec = (id: number, met: boolean, fallback: string | null = null): DecisionRecord => ({
    id,
    at: "t",
    policy: "splitwatt",
    configKey: "k",
    deadlineMs: 10,
    latencyMs: met ? 5 : 20,
    predictedLatencyMs: 5,
    probability: 0.99,
    feasible: true,
    deadlineMet: met,
    fallback,
    energyJ: 0.1,
    deviceEnergySource: "estimate",
  });
  it("keeps the last N, counts everything since start: hits, misses, hit rate, fallbacks", () => {
    const l = new DecisionLog(3);
    expect(l.summary().hitRate).toBeNull();
    [true, true, false, true, false].forEach((m, i) => l.add(rec(i + 1, m, i === 4 ? "breaker-open" : null)));
    expect(l.recent().map((r) => r.id)).toEqual([3, 4, 5]);
    expect(l.summary()).toEqual({ total: 5, hits: 3, misses: 2, hitRate: 0.6, fallbacks: 1, infeasible: 0 });
    expect(l.find(2)).toBeUndefined();
    expect(l.find(4)?.deadlineMet).toBe(true);
  });
});

describe("runnable configurations and names", () => {
  it("a live config as the daemon runs it; values it cannot run are one-line usage errors", () => {
    expect(runnableConfig({ split: 3, cpuFreqMHz: 1500, deviceTarget: "cpu:0", serverTarget: "cpu", codec: "int8+none" }, 14)).toEqual({
      split: 3,
      cpuFreqMHz: 1500,
      gpuFreqMHz: null,
      deviceTarget: "cpu",
      codec: { codec: "int8", compression: "none" },
      executorKey: "3|cpu",
      // its runs' key: the configuration as the front names it, without codec and server target
      runKey: "cpuFreqMHz=1500;deviceTarget=cpu:0;split=3",
    });
    expect(runnableConfig({ split: 14, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }, 14).cpuFreqMHz).toBeNull();
    expect(() => runnableConfig({ split: 15, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }, 14)).toThrow(/split=15 is not a cut of this model \(0-14\)/);
    expect(() => runnableConfig({ split: 2, cpuFreqMHz: "fast", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }, 14)).toThrow(/cpuFreqMHz=fast/);
    expect(() => runnableConfig({ split: 2, cpuFreqMHz: 600, deviceTarget: "npu", serverTarget: "cpu", codec: "raw" }, 14)).toThrow(/device target "npu"/);
    // a GPU clock where the board has one (optimize's gpuFreqMHz dimension)
    expect(runnableConfig({ split: 3, cpuFreqMHz: 1500, gpuFreqMHz: 600, deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" }, 14)).toMatchObject({ gpuFreqMHz: 600, deviceTarget: "webgpu", executorKey: "3|webgpu" });
    expect(() => runnableConfig({ split: 3, cpuFreqMHz: 1500, gpuFreqMHz: "max", deviceTarget: "webgpu", serverTarget: "cpu", codec: "raw" }, 14)).toThrow(/gpuFreqMHz=max is not a frequency in MHz/);
  });
  it.each([
    ["paddle:cls", "paddle-cls"],
    ["tiny_cnn", "tiny_cnn"],
    ["/models/My Net.v2.onnx", "My-Net.v2"],
    ["./resnet18.ONNX", "resnet18"],
  ])("the API name of %s is %s", (spec, name) => expect(defaultModelName(spec)).toBe(name));
});

describe("accelerator switches, measured", () => {
  it("a head run on another target than the previous one is a switch; its cost is the run's excess over that head's steady time at the same clocks", () => {
    const a = new AcceleratorSwitches();
    a.seed("5|webgpu@-/-", 6);
    // the first head run is no switch (nothing ran before)
    expect(a.observe({ target: "cpu", key: "5|cpu@-/-", headMs: 0.4, clocksChanged: false })).toEqual({ switched: false, ms: null });
    expect(a.observe({ target: "webgpu", key: "5|webgpu@-/-", headMs: 9, clocksChanged: false })).toEqual({ switched: true, ms: 3 });
    // back on cpu: its steady time (0.4) is known from the first run
    expect(a.observe({ target: "cpu", key: "5|cpu@-/-", headMs: 0.3, clocksChanged: false })).toEqual({ switched: true, ms: 0 });
    // webgpu again, faster than steady: never below 0; the steady time follows runs on the same target only
    expect(a.observe({ target: "webgpu", key: "5|webgpu@-/-", headMs: 5, clocksChanged: false }).ms).toBe(0);
    a.observe({ target: "webgpu", key: "5|webgpu@-/-", headMs: 11, clocksChanged: false }); // steady 6 -> 7
    expect(a.observe({ target: "cpu", key: "5|cpu@-/-", headMs: 2.4, clocksChanged: false }).ms).toBeCloseTo(2, 12);
    // a clock change just before: counted as a switch, not measured (the clock's time is not the accelerator's)
    expect(a.observe({ target: "webgpu", key: "5|webgpu@600/-", headMs: 20, clocksChanged: true })).toEqual({ switched: true, ms: null });
    // no steady time at these clocks yet: not measured either
    expect(a.observe({ target: "cpu", key: "5|cpu@600/-", headMs: 1, clocksChanged: false })).toEqual({ switched: true, ms: null });
    expect(a.switches).toBe(6);
    expect(a.current).toBe("cpu");
    const t = a.byTarget();
    expect(t.webgpu).toEqual({ switches: 3, measured: 2, lastMs: 0, meanMs: expect.closeTo(0.8 * 3, 12), maxMs: 3 });
    expect(t.cpu).toMatchObject({ switches: 3, measured: 2, lastMs: expect.closeTo(2, 12), maxMs: expect.closeTo(2, 12) });
  });
});

describe("policy book: measured switch times", () => {
  const cpu = { ...entry({ config: { split: 2, cpuFreqMHz: 1200, deviceTarget: "cpu" }, head: 60, energy: { device: 0.6 } }), switchCost: { acceleratorMs: 12, gpuFreqMs: null } };
  const gpu = { ...entry({ config: { split: 2, cpuFreqMHz: 1200, deviceTarget: "webgpu" }, head: 20, energy: { device: 0.3 } }), switchCost: { acceleratorMs: 1500, gpuFreqMs: null } };
  const file = loaded(paretoDoc({ dimensions: [{ name: "split", values: [2] }, { name: "cpuFreqMHz", values: [1200] }, { name: "deviceTarget", values: ["cpu", "webgpu"] }], archive: [cpu, gpu] }));
  const state = { nowMs: 0, link: {}, serverUp: true, current: cpu.config };

  it("the file's figures until a measurement; a measurement rebuilds the policies; figures the options give are kept", () => {
    const book = new PolicyBook(file, { minSamples: 1 });
    expect(book.build("splitwatt").decide({ deadlineMs: 100 }, state).entry.config.deviceTarget).toBe("cpu");
    expect(book.currentSwitchTimes).toEqual({ acceleratorSwitchMs: null, gpuFreqSwitchMs: null, from: { accelerator: "pareto file", gpuFreq: "pareto file" } });
    expect(book.setSwitchTimes({ acceleratorSwitchMs: { webgpu: 2 } })).toBe(true);
    expect(book.build("splitwatt").decide({ deadlineMs: 100 }, state).entry.config.deviceTarget).toBe("webgpu");
    expect(book.setSwitchTimes({ acceleratorSwitchMs: { cpu: 0.1 }, gpuFreqSwitchMs: 0.3 })).toBe(true);
    expect(book.currentSwitchTimes).toEqual({ acceleratorSwitchMs: { webgpu: 2, cpu: 0.1 }, gpuFreqSwitchMs: 0.3, from: { accelerator: "measured", gpuFreq: "measured" } });
    const given = new PolicyBook(file, { minSamples: 1, acceleratorSwitchMs: { webgpu: 900 } });
    expect(given.setSwitchTimes({ acceleratorSwitchMs: { webgpu: 2 } })).toBe(false);
    expect(given.build("splitwatt").decide({ deadlineMs: 100 }, state).entry.config.deviceTarget).toBe("cpu");
    expect(given.currentSwitchTimes.from.accelerator).toBe("options");
  });
});
