import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UNKNOWN_CONDITIONS } from "../../src/contracts/measurement.js";
import { latencyQuantile, measuredBandwidthMbps, predict, predictCore, probabilityWithin, type CostRecord } from "../../src/predict/costModel.js";

/** A record whose parts add up to its mean, its samples spread around it. */
const recordArb = fc
  .record({
    head: fc.double({ min: 0, max: 500, noNaN: true }),
    encode: fc.double({ min: 0, max: 5, noNaN: true }),
    payload: fc.double({ min: 0.1, max: 2000, noNaN: true }),
    rtt: fc.double({ min: 0, max: 100, noNaN: true }),
    server: fc.double({ min: 0.1, max: 500, noNaN: true }),
    decode: fc.double({ min: 0, max: 5, noNaN: true }),
    bandwidth: fc.double({ min: 0.5, max: 1000, noNaN: true }),
    wait: fc.double({ min: 0, max: 50, noNaN: true }),
    spread: fc.array(fc.double({ min: -0.2, max: 0.2, noNaN: true }), { minLength: 1, maxLength: 40 }),
    deviceJ: fc.double({ min: 0, max: 10, noNaN: true }),
    idleW: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: null }),
  })
  .map((x): CostRecord => {
    const transfer = x.rtt + x.payload;
    const mean = x.head + x.encode + transfer + x.server + x.decode;
    const wireBytes = Math.max(1, Math.round((x.payload * x.bandwidth * 1000) / 8));
    return {
      latencyMs: mean,
      latency: { p50: null, p95: null, p99: null, max: null, n: x.spread.length, samples: x.spread.map((d) => mean * (1 + d)).sort((a, b) => a - b) },
      breakdownMs: { head: x.head, encode: x.encode, transfer, server: x.server, decode: x.decode },
      bytes: wireBytes,
      wireBytes,
      energyJ: { device: x.deviceJ, network: 0.01, server: 0.2, total: x.deviceJ + 0.21 },
      conditions: { ...UNKNOWN_CONDITIONS, bandwidthMbps: x.bandwidth, rttMs: x.rtt, serverWaitMs: x.wait, deviceIdleW: x.idleW },
    };
  });

const asMeasured = (r: CostRecord) => ({ bandwidthMbps: r.conditions.bandwidthMbps as number, rttMs: r.conditions.rttMs as number, serverWaitMs: r.conditions.serverWaitMs as number });

/** All on the device: a 40 ms head, nothing sent. */
const DEVICE_ONLY: CostRecord = {
  latencyMs: 40,
  latency: { p50: 40, p95: 44, p99: 45, max: 46, n: 3, samples: [38, 40, 46] },
  breakdownMs: { head: 40, encode: 0, transfer: 0, server: 0, decode: 0 },
  bytes: 0,
  wireBytes: 0,
  energyJ: { device: 2, network: 0, server: 0, total: 2 },
  conditions: { ...UNKNOWN_CONDITIONS },
};

describe("cost model", () => {
  it("under the measured conditions it reproduces the measured mean and samples", () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const p = predict(r, asMeasured(r));
        expect(p.perPart).toBe(true);
        expect(Math.abs(p.latencyMs - r.latencyMs)).toBeLessThanOrEqual(1e-9 * r.latencyMs + 1e-9);
        p.samplesMs.forEach((s, i) => expect(s).toBeCloseTo(r.latency.samples[i] as number, 6));
        expect(p.energyJ.total).toBeCloseTo(r.energyJ.total, 9);
      }),
    );
  });

  it("halving the bandwidth doubles the predicted transfer's payload part (the RTT stays)", () => {
    fc.assert(
      fc.property(recordArb, fc.double({ min: 0.5, max: 1000, noNaN: true }), fc.double({ min: 0, max: 100, noNaN: true }), (r, bw, rtt) => {
        const at = (b: number) => predict(r, { bandwidthMbps: b, rttMs: rtt, serverWaitMs: 0 });
        const full = at(bw);
        const half = at(bw / 2);
        const part = (p: ReturnType<typeof at>) => (p.breakdownMs?.transfer as number) - rtt;
        expect(part(half)).toBeCloseTo(2 * part(full), 6);
        // and the latency grows by exactly that difference
        expect(half.latencyMs - full.latencyMs).toBeCloseTo(part(full), 6);
      }),
    );
  });

  it("predictCore is predict without the samples: the measured samples moved by its shiftMs are predict's, exactly", () => {
    fc.assert(
      fc.property(
        recordArb,
        fc.double({ min: 0.5, max: 1000, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        fc.double({ min: 0, max: 500, noNaN: true }),
        (r, bw, rtt, wait) => {
          const now = { bandwidthMbps: bw, rttMs: rtt, serverWaitMs: wait };
          const { samplesMs, ...full } = predict(r, now);
          const { shiftMs, ...core } = predictCore(r, now);
          expect(core).toEqual(full);
          expect(r.latency.samples.map((s) => Math.max(0, s + shiftMs))).toEqual(samplesMs);
        },
      ),
    );
  });

  it("a server queue wait shifts the prediction by exactly that wait, samples included", () => {
    fc.assert(
      fc.property(recordArb, fc.double({ min: 0, max: 1000, noNaN: true }), (r, wait) => {
        const base = asMeasured(r);
        const p0 = predict(r, base);
        const p1 = predict(r, { ...base, serverWaitMs: base.serverWaitMs + wait });
        expect(p1.latencyMs - p0.latencyMs).toBeCloseTo(wait, 6);
        p1.samplesMs.forEach((s, i) => expect(s - (p0.samplesMs[i] as number)).toBeCloseTo(wait, 6));
        // a longer wait keeps the device on longer: its energy cannot fall
        expect(p1.energyJ.device as number).toBeGreaterThanOrEqual(p0.energyJ.device as number);
      }),
    );
  });

  it("the probability of meeting a deadline is the share of predicted samples within it, monotone in the deadline", () => {
    fc.assert(
      fc.property(recordArb, fc.double({ min: 0, max: 5000, noNaN: true }), fc.double({ min: 0, max: 5000, noNaN: true }), (r, d1, d2) => {
        const p = predict(r, asMeasured(r));
        const [lo, hi] = d1 <= d2 ? [d1, d2] : [d2, d1];
        expect(probabilityWithin(p, lo)).toBeLessThanOrEqual(probabilityWithin(p, hi));
        expect(probabilityWithin(p, lo)).toBe(p.samplesMs.filter((s) => s <= lo).length / p.samplesMs.length);
        expect(latencyQuantile(p, 0)).toBe(p.samplesMs[0]);
        expect(latencyQuantile(p, 1)).toBe(p.samplesMs[p.samplesMs.length - 1]);
      }),
    );
  });

  it("radio energy follows the new transfer when the radio's power is known", () => {
    const r: CostRecord = {
      latencyMs: 30,
      latency: { p50: null, p95: null, p99: null, max: null, n: 1, samples: [30] },
      breakdownMs: { head: 5, encode: 0, transfer: 20, server: 5, decode: 0 },
      bytes: 25_000,
      wireBytes: 25_000,
      energyJ: { device: 0.1, network: 0.03, server: 0.05, total: 0.18 },
      conditions: { ...UNKNOWN_CONDITIONS, bandwidthMbps: 20, rttMs: 10, serverWaitMs: 0, radio: { txW: 1.5, rxW: 1 } },
    };
    // 25 kB at 20 Mbit/s = 10 ms up + 10 ms RTT; at 10 Mbit/s 20 ms up + 10 ms
    const p = predict(r, { bandwidthMbps: 10, rttMs: 10, serverWaitMs: 0 });
    expect(p.breakdownMs?.transfer).toBeCloseTo(30, 9);
    expect(p.energyJ.network).toBeCloseTo((1.5 * 20 + 1 * 10) / 1000, 12);
  });

  it("a head scale s moves the prediction by (s - 1) x the measured head, samples included, and leaves the device's energy as measured", () => {
    fc.assert(
      fc.property(recordArb, fc.double({ min: 0.2, max: 5, noNaN: true }), (r, s) => {
        const base = asMeasured(r);
        const p0 = predict(r, base);
        const p1 = predict(r, { ...base, headScale: s });
        const extra = (s - 1) * (r.breakdownMs.head as number);
        expect(p1.latencyMs - p0.latencyMs).toBeCloseTo(extra, 6);
        expect(p1.breakdownMs?.head).toBeCloseTo((r.breakdownMs.head as number) * s, 6);
        p1.samplesMs.forEach((x, i) => expect(x).toBeCloseTo(Math.max(0, (r.latency.samples[i] as number) + extra), 6));
        expect(p1.energyJ.device as number).toBeCloseTo(p0.energyJ.device as number, 9);
        // 1 is as measured
        expect(predict(r, { ...base, headScale: 1 }).latencyMs).toBe(p0.latencyMs);
      }),
    );
    // all on the device (otherwise predicted as measured): 1.5 x a 40 ms head is 20 ms more, samples too
    const p = predict(DEVICE_ONLY, { bandwidthMbps: 1, rttMs: 0, serverWaitMs: 0, headScale: 1.5 });
    expect([p.latencyMs, p.samplesMs, p.breakdownMs?.head, p.energyJ.total]).toEqual([60, [58, 60, 66], 60, 2]);
    expect(() => predict(DEVICE_ONLY, { bandwidthMbps: 1, rttMs: 0, serverWaitMs: 0, headScale: 0 })).toThrow(/headScale must be a positive number/);
  });

  it("records with nothing sent, or without per-part data (version-1 files), are predicted as measured", () => {
    const p = predict(DEVICE_ONLY, { bandwidthMbps: 1, rttMs: 500, serverWaitMs: 900 });
    expect([p.latencyMs, p.samplesMs, p.energyJ.total, p.perPart]).toEqual([40, [38, 40, 46], 2, true]);
    const v1: CostRecord = { ...DEVICE_ONLY, breakdownMs: { head: null, encode: null, transfer: null, server: null, decode: null }, bytes: null, wireBytes: null };
    const q = predict(v1, { bandwidthMbps: 1, rttMs: 500, serverWaitMs: 900 });
    expect([q.latencyMs, q.perPart, q.breakdownMs]).toEqual([40, false, null]);
  });

  it("takes the bandwidth from the conditions, else from the record's own bytes and transfer time", () => {
    const r: CostRecord = {
      latencyMs: 12,
      latency: { p50: null, p95: null, p99: null, max: null, n: 1, samples: [] },
      breakdownMs: { head: 1, encode: 0, transfer: 10, server: 1, decode: 0 },
      bytes: 10_000,
      wireBytes: 12_500,
      energyJ: { device: null, network: null, server: null, total: 1 },
      conditions: { ...UNKNOWN_CONDITIONS },
    };
    // 12.5 kB in 10 ms = 10 Mbit/s
    expect(measuredBandwidthMbps(r)).toBeCloseTo(10, 9);
    expect(measuredBandwidthMbps({ ...r, conditions: { ...r.conditions, measuredBandwidthMbps: 7 } })).toBe(7);
    expect(measuredBandwidthMbps({ ...r, conditions: { ...r.conditions, bandwidthMbps: 20, measuredBandwidthMbps: 7 } })).toBe(20);
  });
});
