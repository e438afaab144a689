import { describe, expect, it } from "vitest";
import { canonicalConfigKey } from "../../src/contracts/measurement.js";
import { SplitwattError, UsageError } from "../../src/errors.js";
import { placementOf, splitAxis } from "../../src/schedule/placement.js";
import { createPolicy, localRunKey, NoCandidateError, parseConfigSpec, POLICY_NAMES } from "../../src/schedule/policies/index.js";
import { meetProbability, normalCdf, sampleSpreadMs, samplesForTarget } from "../../src/schedule/policies/meetProbability.js";
import { fullLink, linkFor, predictionOf, prepareCandidates, totalsFor } from "../../src/schedule/policies/candidates.js";
import { costTotals, predict } from "../../src/predict/costModel.js";
import type { KnownLink, PolicyState } from "../../src/schedule/policy.js";
import { entry, fiveConfigs, LIVE_DIMS, loaded, loadedV1, MEASURED, paretoDoc } from "../fixtures/paretoFixtures.js";

const state = (o: Partial<PolicyState> = {}): PolicyState => ({ nowMs: 0, link: { ...MEASURED }, serverUp: true, current: null, ...o });
const link = (l: KnownLink): Partial<PolicyState> => ({ link: l });
const key = (c: { config: Record<string, string | number | boolean> }) => canonicalConfigKey(c.config);
const thrown = (f: () => unknown): unknown => {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
};

describe("placement", () => {
  it("all on the device: the split dimension's last value (split for live files, layer for DynaSplit pools), and nothing sent", () => {
    const { A, B, C } = fiveConfigs();
    const live = splitAxis({ dimensions: LIVE_DIMS.map((d) => ({ ...d, ordered: true })), validConfigurations: null });
    expect(live).toEqual({ dimension: "split", device: 2, server: 0 });
    expect([A, B, C].map((e) => placementOf(e, live))).toEqual(["server", "split", "device"]);
    const replay = splitAxis({ dimensions: [{ name: "layer", values: [0, 1, 22], ordered: true }, { name: "cpu-freq", values: [600], ordered: true }], validConfigurations: null });
    expect(replay).toEqual({ dimension: "layer", device: 22, server: 0 });
    const local = entry({ config: { layer: 22, "cpu-freq": 600 }, head: 400, energy: { device: 2 } });
    expect(placementOf(local, replay)).toBe("device");
  });

  it("a space whose last cut still sends a tensor is not mistaken for all-on-device; a first cut other than 0 is not all-on-server", () => {
    const axis = splitAxis({ dimensions: [{ name: "split", values: [3, 7], ordered: true }], validConfigurations: null });
    expect(axis).toEqual({ dimension: "split", device: 7, server: null });
    const sends = entry({ config: { split: 7 }, head: 10, transfer: 12, server: 3, energy: { device: 1 } });
    const first = entry({ config: { split: 3 }, head: 5, transfer: 30, server: 3, energy: { device: 1 } });
    expect([placementOf(sends, axis), placementOf(first, axis)]).toEqual(["split", "split"]);
    // no split dimension: what the entry sent decides, and an entry without per-part data is never taken for local
    expect(placementOf(entry({ config: { x: 1 }, head: 5, energy: { device: 1 } }), null)).toBe("device");
    expect(placementOf(sends, null)).toBe("split");
  });
});

describe("candidates", () => {
  it("the fast path (constants + totals) predicts what predict() does under the resolved link, for known and unknown figures", () => {
    const { doc } = fiveConfigs();
    const t = costTotals();
    for (const l of [{}, { bandwidthMbps: 3 }, { rttMs: 40, serverWaitMs: 7 }, { bandwidthMbps: 50, rttMs: 1, serverWaitMs: 0 }] as KnownLink[]) {
      for (const c of prepareCandidates(doc.archive, doc)) {
        const want = predict(c.entry, fullLink(l) ?? linkFor(c, l));
        expect(predictionOf(c, totalsFor(c, l, t))).toEqual(want);
      }
    }
    expect(fullLink({ bandwidthMbps: 3, rttMs: 1 })).toBeNull();
  });
});

describe("meetProbability", () => {
  const rule = { minSamples: 100, cvFloor: 0.05 };

  it("the standard normal CDF matches tabulated values", () => {
    // Abramowitz & Stegun, table 26.1
    for (const [z, p] of [
      [0, 0.5],
      [1, 0.8413447461],
      [1.959963985, 0.975],
      [2.326347874, 0.99],
      [-2.326347874, 0.01],
      [3, 0.9986501020],
    ] as const) {
      expect(normalCdf(z)).toBeCloseTo(p, 6);
    }
    expect(samplesForTarget(0.99)).toBe(100);
    expect(samplesForTarget(0.9)).toBe(10);
  });

  it("one sample just within the deadline does not read as certain: the fitted tail with a 5% floor says about 0.69", () => {
    // mean 95, sd 4.75 (5% floor), deadline 97.4: z = 0.505
    const p = meetProbability([95], 0, 95, 0, 0, 97.4, rule);
    expect(p).toBeCloseTo(normalCdf((97.4 - 95) / 4.75), 12);
    expect(p).toBeGreaterThan(0.69);
    expect(p).toBeLessThan(0.7);
    // the plain empirical share would say 1
    expect(meetProbability([95], 0, 95, 0, 0, 97.4, { minSamples: 1, cvFloor: 0.05 })).toBe(1);
  });

  it("with enough samples the empirical share alone; a shift and a switch time move every sample", () => {
    const xs = Array.from({ length: 200 }, (_, i) => 100 + i); // 100..299
    expect(meetProbability(xs, 0, 199.5, 0, 58, 149, rule)).toBe(50 / 200);
    expect(meetProbability(xs, 10, 209.5, 0, 58, 149, rule)).toBe(40 / 200);
    expect(meetProbability(xs, 10, 209.5, 5, 58, 149, rule)).toBe(35 / 200);
    // a negative shift clamps samples at zero, all within any deadline
    expect(meetProbability(xs, -1000, 0, 0, 58, 0, rule)).toBe(1);
  });

  it("few samples: the smaller of the empirical share and the fitted tail", () => {
    const xs = [90, 100, 130];
    // at 129: empirical 2/3; the tail with the samples' sd (20.8) says 0.86: the empirical share wins
    const sd = Math.sqrt(((90 - 106.67) ** 2 + (100 - 106.67) ** 2 + (130 - 106.67) ** 2) / 2);
    expect(meetProbability(xs, 0, 106.67, 0, sd, 129, rule)).toBeCloseTo(2 / 3, 12);
    // at 110: empirical 2/3, the tail 0.56: the tail wins
    expect(meetProbability(xs, 0, 106.67, 0, sd, 110, rule)).toBeCloseTo(normalCdf((110 - 106.67) / sd), 12);
    // at 135 every sample is within but the tail says ~0.91
    expect(meetProbability(xs, 0, 106.67, 0, sd, 135, rule)).toBeCloseTo(normalCdf((135 - 106.67) / sd), 12);
  });

  it("tail: the fitted normal applies at any number of samples (a wider spread than the samples show)", () => {
    const xs = Array.from({ length: 200 }, (_, i) => 100 + i / 10); // 100..119.9, all within 130
    expect(meetProbability(xs, 0, 110, 0, 10, 130, rule)).toBe(1);
    expect(meetProbability(xs, 0, 110, 0, 10, 130, rule, true)).toBeCloseTo(normalCdf(2), 12);
    // never above the empirical share
    expect(meetProbability(xs, 0, 110, 0, 1000, 105, rule, true)).toBeCloseTo(Math.min(51 / 200, normalCdf(-5 / 1000)), 12);
  });
});

describe("dynasplit policy", () => {
  const { B, C, E, doc } = fiveConfigs();
  const p = createPolicy("dynasplit", loaded(doc));

  it("the front by energy: the first whose mean latency is within the deadline, else the fastest", () => {
    expect(p.candidates.slice(0, 3).map(key)).toEqual([B, C, E].map(key)); // the front, as in the file
    expect(key(p.decide({ deadlineMs: 250 }, state()).entry)).toBe(key(C));
    expect(key(p.decide({ deadlineMs: 100 }, state()).entry)).toBe(key(B));
    expect(key(p.decide({ deadlineMs: 60 }, state()).entry)).toBe(key(B)); // <= is within
    expect(key(p.decide({ deadlineMs: 50 }, state()).entry)).toBe(key(E));
    const none = p.decide({ deadlineMs: 30 }, state());
    expect([key(none.entry), none.feasible]).toEqual([key(E), false]);
  });

  it("does not predict: a changed link changes nothing, the prediction is the measurement", () => {
    const d = p.decide({ deadlineMs: 100 }, state(link({ bandwidthMbps: 0.5, rttMs: 300, serverWaitMs: 500 })));
    expect(key(d.entry)).toBe(key(B));
    expect(d.predicted.latencyMs).toBe(B.latencyMs);
    expect(d.predicted.perPart).toBe(false);
    expect(d.predicted.energyJ.total).toBe(B.energyJ.total);
  });

  it("ties in energy: the higher accuracy first", () => {
    const lo = entry({ config: { split: 1, cpuFreqMHz: 600 }, head: 10, transfer: 20, server: 10, energy: { device: 1 }, accuracy: 0.7 });
    const hi = entry({ config: { split: 1, cpuFreqMHz: 1200 }, head: 20, transfer: 20, server: 10, energy: { device: 1 }, accuracy: 0.8 });
    const tie = createPolicy("dynasplit", loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [lo, hi], front: [lo, hi] })));
    expect(key(tie.decide({ deadlineMs: 100 }, state()).entry)).toBe(key(hi));
  });

  it("minAccuracy skips configurations below it; server down: the same rule over the all-on-device ones", () => {
    const acc = p.decide({ deadlineMs: 100, minAccuracy: 0.88 }, state());
    expect([key(acc.entry), acc.feasible]).toEqual([key(C), false]);
    const down = p.decide({ deadlineMs: 100 }, state({ serverUp: false }));
    expect([key(down.entry), down.feasible]).toEqual([key(C), false]);
    expect(down.reason).toMatch(/server down/);
    expect(thrown(() => p.decide({ deadlineMs: 100, minAccuracy: 0.95 }, state()))).toBeInstanceOf(NoCandidateError);
  });

  it("server down with a front that has no all-on-device configuration: the archive's, by the same rule", () => {
    const { A, B: b, C: c, D, E: e } = fiveConfigs();
    const front = [b, e];
    const q = createPolicy("dynasplit", loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [A, b, c, D, e], front })));
    expect(key(q.decide({ deadlineMs: 150 }, state({ serverUp: false })).entry)).toBe(key(D));
    expect(key(q.decide({ deadlineMs: 250 }, state({ serverUp: false })).entry)).toBe(key(c));
    expect(key(q.decide({ deadlineMs: 250 }, state()).entry)).toBe(key(b));
  });
});

describe("splitwatt policy: known answers", () => {
  const { B, C, D, E, doc } = fiveConfigs();
  // one sample each: the empirical share alone (minSamples 1) makes the answers exact
  const exact = { minSamples: 1, switchCost: { timeMs: 0, energyJ: 0 } };

  it("as measured: the lowest energy within the deadline over the whole archive", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    expect(p.candidates).toHaveLength(5);
    const d = p.decide({ deadlineMs: 100 }, state());
    expect([key(d.entry), d.feasible, d.probability]).toEqual([key(B), true, 1]);
    expect(d.predicted.latencyMs).toBeCloseTo(60, 9);
    expect(key(p.decide({ deadlineMs: 250 }, state()).entry)).toBe(key(C));
  });

  it("re-predicts under a slow link: at 2 Mbit/s the split ones slow down and the device wins", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    // B: payload 10 ms -> 100 ms, 150 ms in all; E 135; D (local) 120
    const d130 = p.decide({ deadlineMs: 130 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 })));
    expect(key(d130.entry)).toBe(key(D));
    // B fits 160 ms now, but its device waits 90 ms longer (10 W): 0.6 + 0.9 + 0.275 + 0.3 J > D's 1.2 J
    const b = createPolicy("static", loaded(doc), { config: B.config }).decide({ deadlineMs: 160 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 })));
    expect([b.predicted.latencyMs, b.predicted.energyJ.total]).toEqual([expect.closeTo(150, 9), expect.closeTo(2.075, 9)]);
    expect(key(p.decide({ deadlineMs: 160 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 }))).entry)).toBe(key(D));
    // nothing meets 100 ms: the most likely (all P 0): the fastest, D
    const none = p.decide({ deadlineMs: 100 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 })));
    expect([key(none.entry), none.feasible]).toEqual([key(D), false]);
  });

  it("heads that vary more now (headCv) price P with the wider spread: a deadline the samples meet may no longer reach the target", () => {
    const p = createPolicy("splitwatt", loaded(doc), { minSamples: 1, cvFloor: 0, switchCost: { timeMs: 0, energyJ: 0 } });
    const as = p.decide({ deadlineMs: 100 }, state());
    expect([key(as.entry), as.probability]).toEqual([key(B), 1]);
    // B's head (30 ms as measured) varying by its whole mean now: sd 30 ms around 60 ms; P(<= 100) = Phi(1.33) < 0.99
    const wide = p.decide({ deadlineMs: 100 }, state(link({ headCv: 1 })));
    expect(key(wide.entry)).not.toBe(key(B));
    const b = createPolicy("static", loaded(doc), { config: B.config, minSamples: 1, cvFloor: 0 }).decide({ deadlineMs: 100 }, state(link({ headCv: 1 })));
    expect(b.probability).toBeCloseTo(normalCdf((100 - 60) / 30), 12);
    expect(b.probability).toBeLessThan(0.99);
    // a small cv: B meets 100 ms with P 1 again
    expect(key(p.decide({ deadlineMs: 100 }, state(link({ headCv: 1e-6 }))).entry)).toBe(key(B));
  });

  it("an all-on-device configuration the device ran lately is priced from those runs, faster or slower than the front says", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    const slow = state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 }));
    const runs = (from: number, to: number, n = 20) => {
      const samplesMs = Array.from({ length: n }, (_, i) => from + ((to - from) * i) / (n - 1));
      return new Map([[localRunKey(D.config), { samplesMs, meanMs: (from + to) / 2, spreadMs: sampleSpreadMs(samplesMs) }]]);
    };
    // the front: nothing meets 100 ms at 2 Mbit/s (D, all on the device, measured at 120)
    expect(p.decide({ deadlineMs: 100 }, slow).feasible).toBe(false);
    // the device has run D in 80-90 ms lately: D meets 100 ms with P 1, predicted at their mean
    const fast = p.decide({ deadlineMs: 100 }, { ...slow, observedLocal: runs(80, 90) });
    expect([key(fast.entry), fast.feasible, fast.probability]).toEqual([key(D), true, 1]);
    expect(fast.predicted.latencyMs).toBeCloseTo(85, 9);
    expect(fast.predicted.samplesMs).toHaveLength(20);
    expect(fast.reason).toMatch(/priced from the device's last 20 runs of it/);
    // ... or in 150-160 ms: D no longer meets 130 ms (the front's answer at 130 was D); nothing does, and E (135) is the more likely
    expect(key(p.decide({ deadlineMs: 130 }, slow).entry)).toBe(key(D));
    const late = p.decide({ deadlineMs: 130 }, { ...slow, observedLocal: runs(150, 160) });
    expect([key(late.entry), late.feasible]).toEqual([key(E), false]);
    // runs of another configuration change nothing
    const other = new Map([["split=9", runs(1, 2).get(localRunKey(D.config))!]]);
    expect(key(p.decide({ deadlineMs: 100 }, { ...slow, observedLocal: other }).entry)).toBe(key(p.decide({ deadlineMs: 100 }, slow).entry));
  });

  it("localRunKey: the configuration without its codec and server target (an all-on-device run sends nothing)", () => {
    expect(localRunKey({ split: 3, cpuFreqMHz: 600, codec: "int8" })).toBe(localRunKey({ split: 3, cpuFreqMHz: 600, codec: "fp16" }));
    expect(localRunKey({ split: 3, cpuFreqMHz: 600, serverTarget: "cpu", codec: "raw" })).toBe(localRunKey({ split: 3, cpuFreqMHz: 600, serverTarget: "webgpu", codec: "fp16" }));
    expect(localRunKey({ split: 3, deviceTarget: "cpu" })).not.toBe(localRunKey({ split: 3, deviceTarget: "webgpu" }));
    expect(localRunKey({ split: 3, cpuFreqMHz: 600, codec: "int8" })).toBe(canonicalConfigKey({ split: 3, cpuFreqMHz: 600 }));
    expect(localRunKey({ split: 3, cpuFreqMHz: 600 })).not.toBe(localRunKey({ split: 3, cpuFreqMHz: 900 }));
  });

  it("unknown link figures are taken as each configuration was measured: {} decides as the measured link", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    expect(key(p.decide({ deadlineMs: 100 }, state(link({}))).entry)).toBe(key(B));
    // only the server's wait known: 50 ms more for every remote one (B 110, E 95)
    const waited = p.decide({ deadlineMs: 100 }, state(link({ bandwidthMbps: null, serverWaitMs: 50 })));
    expect(key(waited.entry)).toBe(key(E));
    expect(waited.predicted.latencyMs).toBeCloseTo(95, 9);
  });

  it("counts a frequency switch: its energy can make a configuration at the current frequency the cheaper", () => {
    // current D runs at 1200 MHz; B (600 MHz) costs 0.95 + 0.5 J with the switch, E (1200 MHz) 1.05 J
    const p = createPolicy("splitwatt", loaded(doc), { ...exact, switchCost: { timeMs: 0, energyJ: 0.5 } });
    const d = p.decide({ deadlineMs: 100 }, state({ current: D.config }));
    expect(key(d.entry)).toBe(key(E));
    expect(d.switchCost).toBeNull();
    const free = createPolicy("splitwatt", loaded(doc), exact).decide({ deadlineMs: 100 }, state({ current: D.config }));
    expect(key(free.entry)).toBe(key(B));
  });

  it("counts a frequency switch's time: it can push a configuration past the deadline", () => {
    const p = createPolicy("splitwatt", loaded(doc), { ...exact, switchCost: { timeMs: 30, energyJ: 0 } });
    // B would take 60 + 30 ms > 80
    const d = p.decide({ deadlineMs: 80 }, state({ current: D.config }));
    expect(key(d.entry)).toBe(key(E));
    // from B's own frequency there is no switch: B
    const stay = p.decide({ deadlineMs: 80 }, state({ current: C.config }));
    expect([key(stay.entry), stay.switchCost]).toEqual([key(B), null]);
    // before the first request the frequency is unknown: every configuration pays the switch
    const first = p.decide({ deadlineMs: 80 }, state({ current: null }));
    expect([key(first.entry), first.switchCost]).toEqual([key(E), { timeMs: 30, energyJ: 0, cpuFreqMs: 30, acceleratorMs: 0, gpuFreqMs: 0, assumed: [] }]);
    expect(first.reason).toMatch(/switch counted: CPU frequency 30\.0 ms, 0\.00 J$/);
  });

  it("hysteresis: keeps the current configuration unless another saves more than the margin", () => {
    // current E (1.05 J); B saves 9.5%
    const keep = createPolicy("splitwatt", loaded(doc), { ...exact, hysteresis: 0.1 }).decide({ deadlineMs: 100 }, state({ current: E.config }));
    expect(key(keep.entry)).toBe(key(E));
    expect(keep.reason).toMatch(/kept the current/);
    const move = createPolicy("splitwatt", loaded(doc), { ...exact, hysteresis: 0.05 }).decide({ deadlineMs: 100 }, state({ current: E.config }));
    expect(key(move.entry)).toBe(key(B));
    // the current configuration is kept only while it meets the target
    const late = createPolicy("splitwatt", loaded(doc), { ...exact, hysteresis: 0.5 }).decide({ deadlineMs: 40 }, state({ current: B.config }));
    expect(late.feasible).toBe(false);
    expect(key(late.entry)).toBe(key(E));
  });

  it("hysteresis stops flapping between two near-equal configurations as the bandwidth wobbles", () => {
    // two split configurations whose energies cross as the link moves between 19 and 21 Mbit/s
    const X = entry({ config: { split: 1, cpuFreqMHz: 600 }, head: 30, transfer: 20, server: 10, energy: { device: 0.5, network: 0.05, server: 0.3 } });
    const Y = entry({ config: { split: 1, cpuFreqMHz: 1200 }, head: 20, transfer: 15, server: 10, bytes: 12_500, energy: { device: 0.45, network: 0.05, server: 0.35 } });
    const f = loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [X, Y] }));
    const run = (hysteresis: number) => {
      const p = createPolicy("splitwatt", f, { ...exact, hysteresis });
      let current = null as PolicyState["current"];
      let switches = 0;
      for (let i = 0; i < 40; i++) {
        const d = p.decide({ deadlineMs: 500 }, state({ current, link: { bandwidthMbps: i % 2 === 0 ? 12 : 40, rttMs: 10, serverWaitMs: 0 } }));
        if (current !== null && key(d.entry) !== canonicalConfigKey(current)) switches++;
        current = d.entry.config;
      }
      return switches;
    };
    expect(run(0)).toBeGreaterThanOrEqual(30);
    expect(run(0.1)).toBe(0);
  });

  it("server down: only all-on-device configurations", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    expect(key(p.decide({ deadlineMs: 250 }, state({ serverUp: false })).entry)).toBe(key(C));
    expect(key(p.decide({ deadlineMs: 150 }, state({ serverUp: false })).entry)).toBe(key(D));
    const none = p.decide({ deadlineMs: 100 }, state({ serverUp: false }));
    expect([key(none.entry), none.feasible]).toEqual([key(D), false]);
  });

  it("minAccuracy filters; nothing accurate enough is a NoCandidateError naming the best accuracy", () => {
    const p = createPolicy("splitwatt", loaded(doc), exact);
    expect(key(p.decide({ deadlineMs: 100, minAccuracy: 0.88 }, state()).entry)).toBe(key(fiveConfigs().A));
    const e = thrown(() => p.decide({ deadlineMs: 100, minAccuracy: 0.95 }, state())) as SplitwattError;
    expect(e).toBeInstanceOf(NoCandidateError);
    expect(e.code).toBe("E_NO_CANDIDATE");
    expect(e.message).toMatch(/0\.9000/);
  });

  it("P exactly at the target qualifies: the deadline at the k-th smallest sample, k the fewest with k / n >= 0.99 (100 and 256 samples)", () => {
    // C (0.8 J) measured n times at 1, 2, ..., n ms; D (1.2 J) always 0.5 ms: C whenever P(C) >= 0.99, else D
    for (const [n, k] of [
      [100, 99], // 99 / 100 = 0.99
      [256, 254], // 254 / 256 = 0.9922; 253 / 256 = 0.9883
    ] as const) {
      const samples = Array.from({ length: n }, (_, i) => i + 1);
      const C = entry({ config: { split: 2, cpuFreqMHz: 600 }, head: (n + 1) / 2, energy: { device: 0.8 }, samples });
      const D = entry({ config: { split: 2, cpuFreqMHz: 1200 }, head: 0.5, energy: { device: 1.2 }, samples: Array(n).fill(0.5) });
      const p = createPolicy("splitwatt", loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [C, D] })), { switchCost: { timeMs: 0, energyJ: 0 } });
      for (const [deadlineMs, want, probability] of [
        [k, C, k / n],
        [k - 0.5, D, 1],
        [k + 0.5, C, k / n],
      ] as const) {
        const d = p.decide({ deadlineMs }, state({ link: {} }));
        expect([n, deadlineMs, key(d.entry), d.probability]).toEqual([n, deadlineMs, key(want), probability]);
      }
    }
  });

  it("the small-sample guard: a configuration measured once just under the deadline is not taken as certain", () => {
    // defaults: target 0.99, minSamples 100, cvFloor 0.01. B measured once at 60 ms; deadline 61: z = 1 / 0.6, P ~ 0.95
    const p = createPolicy("splitwatt", loaded(doc));
    const d = p.decide({ deadlineMs: 61 }, state({ current: B.config }));
    expect(key(d.entry)).not.toBe(key(B));
    // E at 45 ms: z = (61 - 45) / 0.45, P ~ 1
    expect(key(d.entry)).toBe(key(E));
    // the empirical share alone would have kept B
    expect(key(createPolicy("splitwatt", loaded(doc), { minSamples: 1 }).decide({ deadlineMs: 61 }, state({ current: B.config })).entry)).toBe(key(B));
  });
});

describe("neurosurgeon, edge-only, cloud-only, static", () => {
  const { A, B, C, D, E, doc } = fiveConfigs();
  const A2 = entry({ config: { split: 0, cpuFreqMHz: 600 }, head: 0, transfer: 50, server: 20, energy: { device: 0.3, network: 0.1, server: 1.0 }, accuracy: 0.9 });
  const withA2 = loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [A, A2, B, C, D, E] }));

  it("neurosurgeon: the lowest predicted mean latency under the current link", () => {
    const p = createPolicy("neurosurgeon", loaded(doc));
    expect(key(p.decide({ deadlineMs: 100 }, state()).entry)).toBe(key(E));
    const slow = p.decide({ deadlineMs: 100 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 })));
    expect([key(slow.entry), slow.feasible]).toEqual([key(D), false]);
    expect(key(p.decide({ deadlineMs: 100 }, state({ serverUp: false })).entry)).toBe(key(D));
  });

  it("edge-only: the lowest-energy all-on-device configuration, whatever the deadline", () => {
    const p = createPolicy("edge-only", loaded(doc));
    expect(p.candidates.map(key).sort()).toEqual([C, D].map(key).sort());
    const d = p.decide({ deadlineMs: 50 }, state());
    expect([key(d.entry), d.feasible]).toEqual([key(C), false]);
    expect(key(p.decide({ deadlineMs: 500 }, state({ serverUp: false })).entry)).toBe(key(C));
  });

  it("cloud-only: the lowest-energy all-on-server configuration; server down falls back to the device", () => {
    const p = createPolicy("cloud-only", withA2);
    expect(key(p.decide({ deadlineMs: 100 }, state()).entry)).toBe(key(A2));
    expect(key(p.decide({ deadlineMs: 5000 }, state(link({ bandwidthMbps: 1, rttMs: 10, serverWaitMs: 0 }))).entry)).toBe(key(A2));
    const down = p.decide({ deadlineMs: 150 }, state({ serverUp: false }));
    expect([key(down.entry), down.reason]).toEqual([key(D), expect.stringMatching(/server down/)]);
  });

  it("static: the given configuration (object or dim=value text), refusing one not in the file", () => {
    const p = createPolicy("static", loaded(doc), { config: "split=1,cpuFreqMHz=600" });
    const d = p.decide({ deadlineMs: 10 }, state(link({ bandwidthMbps: 2, rttMs: 10, serverWaitMs: 0 })));
    expect([key(d.entry), d.feasible]).toEqual([key(B), false]);
    expect(d.predicted.latencyMs).toBeCloseTo(150, 9);
    expect(key(createPolicy("static", loaded(doc), { config: { split: 2, cpuFreqMHz: 600 } }).decide({ deadlineMs: 10 }, state()).entry)).toBe(key(C));
    expect(key(p.decide({ deadlineMs: 250 }, state({ serverUp: false })).entry)).toBe(key(C));
    const onlyFront = loaded(paretoDoc({ dimensions: LIVE_DIMS, archive: [B, C] }));
    const e = thrown(() => createPolicy("static", onlyFront, { config: "split=0,cpuFreqMHz=1200" })) as Error;
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toMatch(/not in the pareto file's archive \(2 evaluated configurations\)/);
    expect(() => createPolicy("static", loaded(doc))).toThrow(/needs a configuration/);
  });

  it("parses dim=value configurations by the space's values, with one-line errors", () => {
    const space = doc.space;
    expect(parseConfigSpec("cpuFreqMHz=600, split=1", space)).toEqual({ split: 1, cpuFreqMHz: 600 });
    const bool = { dimensions: [{ name: "server-accelerator", values: [false, true], ordered: false }], validConfigurations: null };
    expect(parseConfigSpec("server-accelerator=True", bool)).toEqual({ "server-accelerator": true });
    expect(() => parseConfigSpec("split=1", space)).toThrow(/lacks cpuFreqMHz/);
    expect(() => parseConfigSpec("split=5,cpuFreqMHz=600", space)).toThrow(/split=5 is not a value of split; use one of 0, 1, 2/);
    expect(() => parseConfigSpec("layer=1", space)).toThrow(/no dimension "layer"/);
    expect(() => parseConfigSpec("split", space)).toThrow(/not dim=value/);
  });
});

describe("createPolicy", () => {
  const { doc } = fiveConfigs();

  it("an unknown name: one line listing the real ones", () => {
    const e = thrown(() => createPolicy("fastest", loaded(doc))) as UsageError;
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toBe(`unknown policy "fastest"; use one of ${POLICY_NAMES.join(", ")}`);
  });

  it("a version-1 file: dynasplit and static work, the others are refused saying why", () => {
    const v1 = loadedV1(doc);
    expect(v1.doc.archive).toHaveLength(3);
    const d = createPolicy("dynasplit", v1).decide({ deadlineMs: 100 }, state());
    expect(d.entry.config).toEqual({ split: 1, cpuFreqMHz: 600 });
    expect(createPolicy("static", v1, { config: "split=2,cpuFreqMHz=600" }).decide({ deadlineMs: 100 }, state()).entry.config).toEqual({ split: 2, cpuFreqMHz: 600 });
    // placement comes from the split dimension alone here: server down still finds the local one
    expect(createPolicy("dynasplit", v1).decide({ deadlineMs: 100 }, state({ serverUp: false })).entry.config).toEqual({ split: 2, cpuFreqMHz: 600 });
    for (const name of ["splitwatt", "neurosurgeon", "edge-only", "cloud-only"]) {
      expect(() => createPolicy(name, v1)).toThrow(/needs the per-part data .* version 1; use dynasplit or static/);
    }
  });

  it("bad options are one-line usage errors", () => {
    expect(() => createPolicy("splitwatt", loaded(doc), { target: 1 })).toThrow(/target: target is a probability in \(0, 1\)/);
    expect(() => createPolicy("splitwatt", loaded(doc), { switchCost: { timeMs: -1, energyJ: 0 } })).toThrow(UsageError);
  });
});
