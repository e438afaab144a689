/**
 * The splitwatt policy against a brute force over the full predictions: for random archives,
 * links, deadlines, current configurations and options, every candidate is predicted with the
 * cost model's `predict` (all samples), its switch from the current configuration priced with
 * `switchCostMs` (CPU frequency, accelerator; an unmeasured part as a CPU switch), its
 * probability taken on those samples (or, for an all-on-device configuration the daemon saw run
 * lately, on those runs), and the decision checked against them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { canonicalConfigKey, type Config } from "../../src/contracts/measurement.js";
import type { ParetoEntry } from "../../src/contracts/paretoFile.js";
import { measuredBandwidthMbps, predict } from "../../src/predict/costModel.js";
import { switchCostMs } from "../../src/predict/switchCost.js";
import { createPolicy, NoCandidateError } from "../../src/schedule/policies/index.js";
import { meetProbability, sampleSpreadMs, samplesForTarget } from "../../src/schedule/policies/meetProbability.js";
import type { KnownLink } from "../../src/schedule/policy.js";
import { entry, loaded, paretoDoc } from "../fixtures/paretoFixtures.js";

const SPLITS = [0, 1, 2, 3]; // 3: all on the device
const FREQS = [600, 900, 1200];
const TARGETS = ["cpu", "webgpu"];
const DIMS = [
  { name: "split", values: SPLITS },
  { name: "cpuFreqMHz", values: FREQS },
  { name: "deviceTarget", values: TARGETS },
];

const entryArb = (split: number, freq: number, target: string) =>
  fc
    .record({
      head: fc.double({ min: 0.5, max: 400, noNaN: true }),
      payload: fc.double({ min: 0.1, max: 300, noNaN: true }),
      rtt: fc.double({ min: 0, max: 50, noNaN: true }),
      server: fc.double({ min: 0.5, max: 200, noNaN: true }),
      wait: fc.double({ min: 0, max: 30, noNaN: true }),
      bw: fc.double({ min: 1, max: 200, noNaN: true }),
      spread: fc.array(fc.double({ min: -0.3, max: 0.6, noNaN: true }), { minLength: 0, maxLength: 150 }),
      device: fc.double({ min: 0.01, max: 5, noNaN: true }),
      network: fc.double({ min: 0, max: 1, noNaN: true }),
      serverJ: fc.double({ min: 0, max: 5, noNaN: true }),
      accuracy: fc.option(fc.double({ min: 0.5, max: 1, noNaN: true }), { nil: null }),
      // measured (or not: a file written before switch costs were recorded)
      switchCost: fc.option(fc.record({ acceleratorMs: fc.option(fc.double({ min: 0, max: 300, noNaN: true }), { nil: null }), gpuFreqMs: fc.constant(null) }), { nil: undefined }),
    })
    .map((x): ParetoEntry => {
      const local = split === 3;
      const head = split === 0 ? 0 : x.head;
      const transfer = local ? 0 : x.rtt + x.payload;
      const server = local ? 0 : x.server;
      const mean = head + transfer + server;
      const e = entry({
        config: { split, cpuFreqMHz: freq, deviceTarget: target },
        head,
        transfer,
        server,
        samples: x.spread.map((d) => Math.max(0, mean * (1 + d))),
        energy: local ? { device: x.device } : { device: x.device, network: x.network, server: x.serverJ },
        accuracy: x.accuracy,
        conditions: local ? {} : { bandwidthMbps: x.bw, rttMs: x.rtt, serverWaitMs: x.wait },
      });
      return x.switchCost === undefined ? e : { ...e, switchCost: x.switchCost };
    });

const archiveArb = fc
  .uniqueArray(fc.tuple(fc.constantFrom(...SPLITS), fc.constantFrom(...FREQS), fc.constantFrom(...TARGETS)), { minLength: 1, maxLength: 12, selector: ([s, f, t]) => `${s}/${f}/${t}` })
  .chain((triples) => fc.tuple(...triples.map(([s, f, t]) => entryArb(s, f, t))));

const linkArb: fc.Arbitrary<KnownLink> = fc.record({
  bandwidthMbps: fc.option(fc.double({ min: 0.5, max: 500, noNaN: true }), { nil: null }),
  rttMs: fc.option(fc.double({ min: 0, max: 200, noNaN: true }), { nil: null }),
  serverWaitMs: fc.option(fc.double({ min: 0, max: 300, noNaN: true }), { nil: null }),
  // the daemon's DeviceSpeed: heads slower or faster than measured
  headScale: fc.option(fc.double({ min: 0.3, max: 4, noNaN: true }), { nil: null }),
  // and how much its heads vary now (coefficient of variation)
  headCv: fc.option(fc.double({ min: 0, max: 0.5, noNaN: true }), { nil: null }),
  // and how much the link's bandwidth varies now
  bandwidthCv: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null }),
});

const optsArb = fc.record({
  target: fc.double({ min: 0.5, max: 0.999, noNaN: true }),
  cvFloor: fc.double({ min: 0, max: 0.2, noNaN: true }),
  minSamples: fc.option(fc.integer({ min: 1, max: 200 }), { nil: undefined }),
  hysteresis: fc.double({ min: 0, max: 0.3, noNaN: true }),
  switchCost: fc.record({ timeMs: fc.double({ min: 0, max: 50, noNaN: true }), energyJ: fc.double({ min: 0, max: 1, noNaN: true }) }),
  // what a daemon measured switching to a target, for some targets
  acceleratorSwitchMs: fc.option(fc.dictionary(fc.constantFrom(...TARGETS), fc.double({ min: 0, max: 40, noNaN: true })), { nil: undefined }),
});

// the daemon's LocalRuns: recent runs of some all-on-device configurations (at least 2 each)
const observedArb = fc.option(
  fc.dictionary(
    fc.tuple(fc.constantFrom(...FREQS), fc.constantFrom(...TARGETS)).map(([f, t]) => canonicalConfigKey({ split: 3, cpuFreqMHz: f, deviceTarget: t })),
    fc.array(fc.double({ min: 0.5, max: 800, noNaN: true }), { minLength: 2, maxLength: 40 }),
  ),
  { nil: undefined },
);

const caseArb = fc.record({
  archive: archiveArb,
  link: linkArb,
  observed: observedArb,
  deadlineMs: fc.double({ min: 1, max: 1500, noNaN: true }),
  minAccuracy: fc.option(fc.double({ min: 0.5, max: 1, noNaN: true }), { nil: undefined }),
  serverUp: fc.boolean(),
  current: fc.option(fc.tuple(fc.constantFrom(...SPLITS), fc.constantFrom(...FREQS), fc.constantFrom(...TARGETS)), { nil: null }),
  opts: optsArb,
});

describe("splitwatt policy, against a brute force over the full predictions", () => {
  it("never picks a configuration below the target probability when one at or above exists; picks the least expected energy among them, unless hysteresis keeps the current one", () => {
    fc.assert(
      fc.property(caseArb, (k) => {
        const file = loaded(paretoDoc({ dimensions: DIMS, archive: k.archive }));
        const policy = createPolicy("splitwatt", file, k.opts);
        const current: Config | null = k.current === null ? null : { split: k.current[0], cpuFreqMHz: k.current[1], deviceTarget: k.current[2] };
        const rule = { minSamples: k.opts.minSamples ?? samplesForTarget(k.opts.target), cvFloor: k.opts.cvFloor };
        // the brute force: every candidate through the full cost model
        const rows = k.archive.flatMap((e) => {
          if (!k.serverUp && e.config.split !== 3) return [];
          if (k.minAccuracy !== undefined && !(e.accuracy !== null && e.accuracy.value >= k.minAccuracy)) return [];
          const link = {
            bandwidthMbps: k.link.bandwidthMbps ?? measuredBandwidthMbps(e) ?? Number.POSITIVE_INFINITY,
            rttMs: k.link.rttMs ?? e.conditions.rttMs ?? 0,
            serverWaitMs: k.link.serverWaitMs ?? e.conditions.serverWaitMs ?? 0,
            headScale: k.link.headScale ?? 1,
          };
          const p = predict(e, link);
          const cpu = k.opts.switchCost;
          const cpuSw = current === null || current.cpuFreqMHz !== e.config.cpuFreqMHz;
          // the accelerator: the daemon's figure for the target, else the file's; unmeasured (null): as a CPU switch
          const given = k.opts.acceleratorSwitchMs?.[String(e.config.deviceTarget)];
          const accel = switchCostMs(current, { config: e.config, switchCost: { acceleratorMs: given ?? e.switchCost?.acceleratorMs ?? null, gpuFreqMs: null } }).acceleratorMs;
          const powerW = e.energyJ.device! / (e.latencyMs / 1000);
          const extra = (cpuSw ? cpu.timeMs : 0) + (accel ?? cpu.timeMs);
          const switchJ = (cpuSw ? cpu.energyJ : 0) + (accel === null ? cpu.energyJ : (powerW * accel) / 1000);
          // the spread: the samples', widened by the head's and the transfer's variation now (independent parts), its tail then at any n
          const measuredSpread = sampleSpreadMs(e.latency.samples);
          const headNow = (k.link.headCv ?? 0) * (p.breakdownMs?.head ?? 0);
          const linkNow = (k.link.bandwidthCv ?? 0) * (p.breakdownMs?.transfer ?? 0);
          const wider = headNow > 0 || linkNow > 0;
          const spread = wider ? Math.hypot(measuredSpread, headNow, linkNow) : measuredSpread;
          // an all-on-device configuration the device ran lately: P over those runs instead
          const runs = e.config.split === 3 ? k.observed?.[canonicalConfigKey(e.config)] : undefined;
          if (runs !== undefined) {
            const xs = [...runs].sort((a, b) => a - b);
            const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
            const observedP = meetProbability(xs, 0, mean, extra, sampleSpreadMs(xs), k.deadlineMs, rule);
            return [{ key: canonicalConfigKey(e.config), probability: observedP, energy: p.energyJ.total + switchJ }];
          }
          const probability = meetProbability(p.samplesMs, 0, p.latencyMs, extra, spread, k.deadlineMs, rule, wider);
          return [{ key: canonicalConfigKey(e.config), probability, energy: p.energyJ.total + switchJ }];
        });
        const request = { deadlineMs: k.deadlineMs, minAccuracy: k.minAccuracy };
        const observedLocal =
          k.observed === undefined
            ? undefined
            : new Map(
                Object.entries(k.observed).map(([key, runs]) => {
                  const xs = [...runs].sort((a, b) => a - b);
                  return [key, { samplesMs: xs, meanMs: xs.reduce((a, b) => a + b, 0) / xs.length, spreadMs: sampleSpreadMs(xs) }];
                }),
              );
        const state = { nowMs: 0, link: k.link, serverUp: k.serverUp, current, observedLocal };
        if (rows.length === 0) {
          expect(() => policy.decide(request, state)).toThrow(NoCandidateError);
          return;
        }
        const d = policy.decide(request, state);
        const chosen = rows.find((r) => r.key === canonicalConfigKey(d.entry.config));
        expect(chosen).toBeDefined();
        expect(d.probability).toBe(chosen!.probability);
        const eligible = rows.filter((r) => r.probability >= k.opts.target);
        if (eligible.length === 0) {
          expect(d.feasible).toBe(false);
          expect(chosen!.probability).toBe(Math.max(...rows.map((r) => r.probability)));
          return;
        }
        expect(d.feasible).toBe(true);
        expect(chosen!.probability).toBeGreaterThanOrEqual(k.opts.target);
        const minE = Math.min(...eligible.map((r) => r.energy));
        if (chosen!.energy !== minE) {
          // only hysteresis may keep a dearer one: the current configuration, and the best saves no more than the margin
          expect(current).not.toBeNull();
          expect(chosen!.key).toBe(canonicalConfigKey(current!));
          expect(minE).toBeGreaterThanOrEqual(chosen!.energy * (1 - k.opts.hysteresis));
        }
      }),
      { numRuns: 400 },
    );
  });
});
