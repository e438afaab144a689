/**
 * The splitwatt policy keeps every candidate's predicted totals for the last link it saw and
 * scans the candidates by predicted energy with an early stop (the other policies keep what
 * they precompute): a policy that has decided before must decide exactly as a fresh one,
 * whatever sequence of links, deadlines, current configurations and server states came first.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Config } from "../../src/contracts/measurement.js";
import type { ParetoEntry } from "../../src/contracts/paretoFile.js";
import { createPolicy } from "../../src/schedule/policies/index.js";
import { normalCdf } from "../../src/schedule/policies/meetProbability.js";
import { zBelowTarget } from "../../src/schedule/policies/splitwatt.js";
import type { KnownLink, PolicyState } from "../../src/schedule/policy.js";
import { entry, fiveConfigs, loaded, loadedV1, paretoDoc } from "../fixtures/paretoFixtures.js";

const SPLITS = [0, 1, 2];
const FREQS = [600, 1200];

const entryArb = (split: number, freq: number) =>
  fc
    .record({
      head: fc.double({ min: 1, max: 300, noNaN: true }),
      transfer: fc.double({ min: 11, max: 200, noNaN: true }),
      server: fc.double({ min: 1, max: 100, noNaN: true }),
      spread: fc.array(fc.double({ min: -0.3, max: 0.5, noNaN: true }), { maxLength: 30 }),
      // few values, so energies tie (ties are where the tie-breaks and the early stop matter)
      device: fc.constantFrom(0.5, 1, 1.5),
      server_: fc.constantFrom(0, 0.5, 1),
      network: fc.constantFrom(0, 0.25),
      accuracy: fc.constantFrom(0.8, 0.9, 1),
    })
    .map((x): ParetoEntry => {
      const local = split === 2;
      const head = split === 0 ? 0 : x.head;
      const mean = head + (local ? 0 : x.transfer + x.server);
      return entry({
        config: { split, cpuFreqMHz: freq },
        head,
        transfer: local ? 0 : x.transfer,
        server: local ? 0 : x.server,
        samples: x.spread.map((d) => Math.max(0, mean * (1 + d))),
        energy: local ? { device: x.device } : { device: x.device, network: x.network, server: x.server_ },
        accuracy: x.accuracy,
      });
    });

const archiveArb = fc
  .uniqueArray(fc.tuple(fc.constantFrom(...SPLITS), fc.constantFrom(...FREQS)), { minLength: 2, maxLength: 6, selector: ([s, f]) => `${s}/${f}` })
  .filter((pairs) => pairs.some(([s]) => s === 0) && pairs.some(([s]) => s === 2))
  .chain((pairs) => fc.tuple(...pairs.map(([s, f]) => entryArb(s, f))));

// few distinct links, so a sequence returns to a link it saw before
const linkArb: fc.Arbitrary<KnownLink> = fc.oneof(
  fc.constant({}),
  fc.constant({ bandwidthMbps: 5, rttMs: 20, serverWaitMs: 0 }),
  fc.constant({ bandwidthMbps: 50, rttMs: null, serverWaitMs: 10 }),
  fc.constant({ bandwidthMbps: 5, rttMs: 20, serverWaitMs: 40 }),
  fc.constant({ bandwidthMbps: 5, rttMs: 60, serverWaitMs: 0 }),
  fc.constant({ bandwidthMbps: 5, rttMs: 20, serverWaitMs: 0, radio: { txW: 1, rxW: 0.5 } }),
  fc.constant({ bandwidthMbps: 5, rttMs: 20, serverWaitMs: 0, radio: { txW: 3, rxW: 0.5 } }),
  fc.record({ bandwidthMbps: fc.double({ min: 1, max: 100, noNaN: true }), rttMs: fc.constant(5), serverWaitMs: fc.constant(0) }),
);

const stepArb = fc.record({
  link: linkArb,
  deadlineMs: fc.double({ min: 5, max: 800, noNaN: true }),
  serverUp: fc.boolean(),
  keepCurrent: fc.boolean(),
  minAccuracy: fc.constantFrom(undefined, 0.85, 0.95),
});

/** A decision's figures, or the error it threw. */
function outcome(f: () => { index: number; probability: number; feasible: boolean; predicted: { latencyMs: number; energyJ: { total: number }; samplesMs: number[] }; entry: { config: Config } }) {
  try {
    const a = f();
    return { index: a.index, probability: a.probability, feasible: a.feasible, latencyMs: a.predicted.latencyMs, energyJ: a.predicted.energyJ.total, samples: [...a.predicted.samplesMs], config: a.entry.config };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

describe("policies with memoised predictions decide as fresh ones", () => {
  it("every predicting policy, over random sequences of links, deadlines, current configurations and server states (property)", () => {
    fc.assert(
      fc.property(
        archiveArb,
        fc.array(stepArb, { minLength: 1, maxLength: 25 }),
        fc.record({ target: fc.double({ min: 0.5, max: 0.999, noNaN: true }), hysteresis: fc.double({ min: 0, max: 0.2, noNaN: true }), switchCost: fc.record({ timeMs: fc.double({ min: 0, max: 20, noNaN: true }), energyJ: fc.constantFrom(0, 0.5) }) }),
        (archive, steps, opts) => {
          const file = loaded(paretoDoc({ dimensions: [{ name: "split", values: SPLITS }, { name: "cpuFreqMHz", values: FREQS }], archive }));
          for (const name of ["splitwatt", "neurosurgeon", "cloud-only", "static-fastest", "static-min-energy", "random"]) {
            const kept = createPolicy(name, file, opts);
            let current: Config | null = null;
            steps.forEach((st, t) => {
              const state: PolicyState = { nowMs: t, link: st.link, serverUp: st.serverUp, current };
              const request = { deadlineMs: st.deadlineMs, minAccuracy: st.minAccuracy };
              const a = outcome(() => kept.decide(request, state));
              const b = outcome(() => createPolicy(name, file, opts).decide(request, { ...state }));
              expect([name, t, a]).toEqual([name, t, b]);
              if (!st.keepCurrent && "config" in a) current = a.config as Config;
            });
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("splitwatt, equal expected energies: the higher probability, then the lower latency wins, wherever it stands in the file", () => {
    // three all-on-device configurations of 1.0 J each (the fastest listed last), one of 2 J
    const slow = entry({ config: { split: 2, cpuFreqMHz: 600 }, head: 300, energy: { device: 1 } });
    const mid = entry({ config: { split: 1, cpuFreqMHz: 600 }, head: 100, transfer: 50, server: 50, energy: { device: 0.5, network: 0.25, server: 0.25 } });
    const fast = entry({ config: { split: 1, cpuFreqMHz: 1200 }, head: 50, transfer: 50, server: 50, energy: { device: 0.5, network: 0.25, server: 0.25 } });
    const cloud = entry({ config: { split: 0, cpuFreqMHz: 1200 }, head: 0, transfer: 40, server: 10, energy: { device: 0.5, server: 1.5 } });
    const file = loaded(paretoDoc({ dimensions: [{ name: "split", values: SPLITS }, { name: "cpuFreqMHz", values: FREQS }], archive: [slow, mid, fast, cloud] }));
    const p = createPolicy("splitwatt", file, { target: 0.9, hysteresis: 0 });
    const pick = (deadlineMs: number) => p.decide({ deadlineMs }, { nowMs: 0, link: {}, serverUp: true, current: null }).entry.config;
    // 1000 ms: all three meet it for sure and tie on energy and probability: the fastest. The first
    // decision on a link scans in file order, later ones by predicted energy with the early stop
    expect(pick(1000)).toEqual(fast.config);
    expect(pick(1000)).toEqual(fast.config);
    // 180 ms: of the three, only the fast one (150 ms) meets it
    expect(pick(180)).toEqual(fast.config);
    // 60 ms: only the cloud one
    expect(pick(60)).toEqual(cloud.config);
  });

  it("zBelowTarget: the fitted normal tail stays under the target below it, and reaches it just above", () => {
    for (const t of [0.5, 0.9, 0.95, 0.99, 0.999, 0.999999]) {
      const z = zBelowTarget(t);
      expect(normalCdf(z)).toBeLessThan(t);
      for (let k = 1; k <= 100; k++) expect(normalCdf(z - k * 0.05)).toBeLessThan(t);
      expect(normalCdf(z + 2e-3)).toBeGreaterThanOrEqual(t);
    }
  });
});

describe("benchmark baselines: static-fastest, static-min-energy, random", () => {
  // fiveConfigs: front C (200 ms, 0.8 J), B (60 ms, 0.95 J), E (45 ms, 1.05 J)
  const { B, C, E, doc } = fiveConfigs();
  const state = (nowMs: number): PolicyState => ({ nowMs, link: {}, serverUp: true, current: null });

  it("DynaSplit's latency and energy baselines: the front's fastest and lowest-energy, whatever the deadline; on version-1 files too", () => {
    for (const file of [loaded(doc), loadedV1(doc)]) {
      const fast = createPolicy("static-fastest", file);
      const low = createPolicy("static-min-energy", file);
      for (const d of [10, 100, 1000]) {
        expect(fast.decide({ deadlineMs: d }, state(0)).entry.config).toEqual(E.config);
        expect(low.decide({ deadlineMs: d }, state(0)).entry.config).toEqual(C.config);
      }
      expect(low.decide({ deadlineMs: 100 }, state(0))).toMatchObject({ feasible: false });
      if (file.fileVersion === 1) expect(() => createPolicy("splitwatt", file)).toThrow(/version 1/);
    }
  });

  it("random: front configurations only, about uniform, the same for the same (seed, time, deadline), another seed other draws", () => {
    const file = loaded(doc);
    const p = createPolicy("random", file, { seed: 3 });
    const counts = new Map<string, number>();
    const picks: string[] = [];
    for (let t = 0; t < 3000; t++) {
      const k = JSON.stringify(p.decide({ deadlineMs: 100 }, state(t)).entry.config);
      picks.push(k);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual([B, C, E].map((e) => JSON.stringify(e.config)).sort());
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(120);
    expect(createPolicy("random", file, { seed: 3 }).decide({ deadlineMs: 100 }, state(17)).entry.config).toEqual(JSON.parse(picks[17]!));
    const other = createPolicy("random", file, { seed: 4 });
    expect(Array.from({ length: 50 }, (_, t) => JSON.stringify(other.decide({ deadlineMs: 100 }, state(t)).entry.config))).not.toEqual(picks.slice(0, 50));
  });
});
