import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LinkEstimator } from "../../src/schedule/estimators/linkEstimator.js";
import { WindowedMedian } from "../../src/schedule/estimators/windowedMedian.js";
import { TailClient } from "../../src/transport/tailClient.js";
import { TailServer } from "../../src/transport/tailServer.js";
import { bytesOf, model, node } from "../fixtures/onnxGraphs.js";

const RTT = 10;
/** A transfer of `bytes` at `mbps` over the RTT. */
const transfer = (atMs: number, mbps: number, bytes = 100_000) => ({ atMs, bytes, transferMs: RTT + (bytes * 8) / (mbps * 1000) });
/** An estimator that knows the RTT from a probe. */
const withRtt = (opts: ConstructorParameters<typeof LinkEstimator>[0] = {}) => {
  const e = new LinkEstimator(opts);
  e.observeRtt(0, RTT);
  return e;
};

const noise = fc.double({ min: -0.05, max: 0.05, noNaN: true });
const rate = fc.double({ min: 0.5, max: 1000, noNaN: true });

describe("LinkEstimator: bandwidth", () => {
  it("bytes x 8 / (transfer time - RTT): 125 kB in 110 ms over a 10 ms RTT is 10 Mbit/s", () => {
    const e = withRtt();
    expect(e.observeTransfer({ atMs: 1, bytes: 125_000, transferMs: 110 })).toBeCloseTo(10, 12);
    expect(e.state(1).bandwidthMbps).toBeCloseTo(10, 12);
    // too small to tell, or faster than the RTT: no sample
    expect(e.observeTransfer({ atMs: 2, bytes: 100, transferMs: 50 })).toBeNull();
    expect(e.observeTransfer({ atMs: 3, bytes: 125_000, transferMs: 9 })).toBeNull();
    expect(e.state(3).samples.bandwidth).toBe(1);
  });

  it("probes slowed by a busy machine do not make the rate read high: the smallest probe in the window is taken out", () => {
    // two probes at the link's 2 ms, three delayed to 9 ms by a busy machine (median 9)
    const e = new LinkEstimator();
    for (const [i, ms] of [2, 9, 9, 2, 9].entries()) e.observeRtt(i, ms);
    expect(e.state(5).rttMs).toBe(9);
    // 64 KiB at 20 Mbit/s is 26.2 ms of payload, plus the link's 2 ms
    const payloadMs = (65_536 * 8) / 20_000;
    const mbps = e.observeTransfer({ atMs: 6, bytes: 65_536, transferMs: 2 + payloadMs }) as number;
    // with the median (9 ms) out of it, the same transfer would read 27.3 Mbit/s
    expect(mbps).toBeCloseTo(20, 9);
    // property: whatever the probes, a transfer never reads faster than its payload over its time minus the smallest probe
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.1, max: 50, noNaN: true }), { minLength: 1, maxLength: 12 }), fc.double({ min: 0.5, max: 1000, noNaN: true }), (probes, linkMbps) => {
        const x = new LinkEstimator();
        probes.forEach((p, i) => x.observeRtt(i, p));
        const floor = Math.min(...probes.slice(-x.options.rttWindow));
        const got = x.observeTransfer({ atMs: probes.length, bytes: 100_000, transferMs: floor + (100_000 * 8) / (linkMbps * 1000) });
        return got !== null && got <= linkMbps * (1 + 1e-9);
      }),
    );
  });

  it("a link busy with back-to-back requests: probes queued behind transfers do not make the rate read high while a quicker probe of the last minute is known", () => {
    // the idle link's 1 ms at start, then every probe of the window 10 ms behind a transfer
    const e = new LinkEstimator();
    e.observeRtt(0, 1);
    for (let i = 1; i <= 5; i++) e.observeRtt(i * 300, 10);
    expect(e.state(1500).rttMs).toBe(10);
    const payloadMs = (65_536 * 8) / 20_000;
    // with the window's floor (10 ms) out of it, the same transfer would read 30.5 Mbit/s
    expect(e.observeTransfer({ atMs: 1600, bytes: 65_536, transferMs: 1 + payloadMs })).toBeCloseTo(20, 9);
    // a minute on, the start's probe is too old: the floor is the window's again
    for (let i = 0; i < 5; i++) e.observeRtt(61_000 + i * 300, 10);
    expect(e.observeTransfer({ atMs: 62_500, bytes: 65_536, transferMs: 10 + payloadMs })).toBeCloseTo(20, 9);
    // a quicker probe later in the minute takes over from an older, slower low
    e.observeRtt(62_600, 4);
    e.observeRtt(62_700, 12);
    expect(e.observeTransfer({ atMs: 62_800, bytes: 65_536, transferMs: 4 + payloadMs })).toBeCloseTo(20, 9);
  });

  it("a single outlier moves the median no further than the spread of the others (followDrops off)", () => {
    fc.assert(
      fc.property(rate, fc.array(noise, { minLength: 9, maxLength: 9 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), fc.nat(8), (v, eps, factor, at) => {
        const e = withRtt({ window: 9, followDrops: false });
        const clean = eps.map((d) => v * (1 + d));
        clean.forEach((x, i) => e.observeTransfer(transfer(i + 1, x)));
        const before = e.state(20).bandwidthMbps!;
        // replace one of them by an outlier: the window's oldest goes, the outlier comes in
        e.observeTransfer(transfer(20 + at, v * factor));
        const after = e.state(30).bandwidthMbps!;
        const kept = clean.slice(1);
        expect(after).toBeGreaterThanOrEqual(Math.min(...kept) * (1 - 1e-9));
        expect(after).toBeLessThanOrEqual(Math.max(...kept) * (1 + 1e-9));
        // so it moves at most 10% of v, whatever the outlier
        expect(Math.abs(after - before)).toBeLessThanOrEqual(0.1 * v + 1e-9);
      }),
    );
  });

  it("followDrops: a slower sample counts at once and until the next one; a faster outlier only through the median", () => {
    fc.assert(
      fc.property(rate, fc.array(noise, { minLength: 10, maxLength: 10 }), fc.double({ min: 1e-3, max: 1e3, noNaN: true }), (v, eps, factor) => {
        const e = withRtt({ window: 9 });
        const clean = eps.slice(0, 9).map((d) => v * (1 + d));
        clean.forEach((x, i) => e.observeTransfer(transfer(i + 1, x)));
        const sample = e.observeTransfer(transfer(20, v * factor)) as number;
        const median = e.state(30).bandwidthMbps as number;
        // never above the newest sample, and never below it unless the median is
        expect(median).toBeLessThanOrEqual(sample * (1 + 1e-9));
        const kept = [...clean.slice(1), sample].sort((a, b) => a - b);
        expect(median).toBeCloseTo(Math.min(sample, kept[4] as number), 6);
        // the next ordinary transfer: back within the spread of the ordinary ones
        const next = e.observeTransfer(transfer(40, v * (1 + eps[9]!))) as number;
        const after = e.state(50).bandwidthMbps as number;
        expect(after).toBeLessThanOrEqual(next * (1 + 1e-9));
        expect(after).toBeGreaterThanOrEqual(Math.min(...clean.slice(2), next) * (1 - 1e-9));
      }),
    );
  });

  it("followDrops: a step down is followed at its first sample, a step up within (window + 1) / 2", () => {
    const e = withRtt({ window: 9 });
    for (let i = 0; i < 9; i++) e.observeTransfer(transfer(i + 1, 100));
    e.observeTransfer(transfer(20, 5));
    expect(e.state(21).bandwidthMbps).toBeCloseTo(5, 6);
    const up = withRtt({ window: 9 });
    for (let i = 0; i < 9; i++) up.observeTransfer(transfer(i + 1, 5));
    for (let i = 0; i < 4; i++) up.observeTransfer(transfer(20 + i, 100));
    expect(up.state(30).bandwidthMbps).toBeCloseTo(5, 6);
    up.observeTransfer(transfer(30, 100));
    expect(up.state(31).bandwidthMbps).toBeCloseTo(100, 6);
  });

  it("bandwidthCv: how much the window's samples vary (sd / mean), from 3 samples on, while fresh", () => {
    const e = withRtt({ window: 5, followDrops: false });
    e.observeTransfer(transfer(1, 10));
    e.observeTransfer(transfer(2, 20));
    expect(e.state(3).bandwidthCv).toBeNull();
    e.observeTransfer(transfer(3, 30));
    // 10, 20, 30: mean 20, sample sd 10
    expect(e.state(4).bandwidthCv).toBeCloseTo(0.5, 9);
    expect(e.state(3 + 10_000 + 1).bandwidthCv).toBeNull();
  });

  it("a step change is followed within (window + 1) / 2 observations", () => {
    fc.assert(
      fc.property(rate, rate, fc.array(noise, { minLength: 14, maxLength: 14 }), fc.constantFrom(3, 5, 9), (v1, v2, eps, window) => {
        fc.pre(Math.abs(v2 / v1 - 1) > 0.25);
        const e = withRtt({ window });
        for (let i = 0; i < window; i++) e.observeTransfer(transfer(i + 1, v1 * (1 + eps[i]!)));
        const n = (window + 1) / 2;
        for (let i = 0; i < n; i++) e.observeTransfer(transfer(100 + i, v2 * (1 + eps[i + window - 1]! )));
        const got = e.state(200).bandwidthMbps!;
        expect(got).toBeGreaterThanOrEqual(v2 * 0.95 * (1 - 1e-9));
        expect(got).toBeLessThanOrEqual(v2 * 1.05 * (1 + 1e-9));
      }),
    );
  });

  it("staleness: without a prior the estimate holds while fresh, then turns unknown; a probe is due once no sample is recent", () => {
    const e = withRtt({ freshMs: 10_000, halfLifeMs: 20_000, probeAfterMs: 5_000 });
    e.observeTransfer(transfer(1000, 40));
    expect(e.state(1000)).toMatchObject({ bandwidthMbps: expect.closeTo(40, 9), probeDue: false, confidence: { bandwidth: 1 } });
    expect(e.state(5999).probeDue).toBe(false);
    expect(e.state(6000).probeDue).toBe(true);
    // confidence halves 20 s after 10 s fresh: known until 31 s, unknown after
    expect(e.state(31_000).bandwidthMbps).toBeCloseTo(40, 9);
    expect(e.state(31_000).confidence.bandwidth).toBeCloseTo(0.5, 12);
    expect(e.state(31_001).bandwidthMbps).toBeNull();
    expect(e.state(31_001).ageMs.bandwidth).toBe(30_001);
    // nothing observed at all: unknown, and a probe is due
    expect(new LinkEstimator().state(0)).toMatchObject({ bandwidthMbps: null, rttMs: null, serverWaitMs: null, probeDue: true, server: null });
  });

  it("staleness: with a prior the estimate decays to it monotonically, geometrically for the rate", () => {
    fc.assert(
      fc.property(rate, rate, fc.double({ min: 0, max: 200_000, noNaN: true }), fc.double({ min: 0, max: 200_000, noNaN: true }), (v, prior, a, b) => {
        const e = withRtt({ prior: { bandwidthMbps: prior }, freshMs: 10_000, halfLifeMs: 20_000 });
        e.observeTransfer(transfer(0, v));
        const [t1, t2] = a <= b ? [a, b] : [b, a];
        const x1 = e.state(t1);
        const x2 = e.state(t2);
        expect(x2.confidence.bandwidth).toBeLessThanOrEqual(x1.confidence.bandwidth);
        const dist = (x: number) => Math.abs(Math.log(x / prior));
        expect(dist(x2.bandwidthMbps!)).toBeLessThanOrEqual(dist(x1.bandwidthMbps!) + 1e-9);
        // one half-life past fresh: the geometric mean of the two
        const half = e.state(30_000).bandwidthMbps!;
        const measured = e.state(0).bandwidthMbps!;
        expect(half).toBeCloseTo(Math.sqrt(prior * measured), 6);
        // long stale: the prior
        expect(e.state(10_000 + 40 * 20_000).bandwidthMbps!).toBeCloseTo(prior, 6);
      }),
    );
  });
});

describe("LinkEstimator: RTT and the server's load", () => {
  it("RTT is the median of the probes; the server wait the median of the last three reports, the last report kept", () => {
    const e = new LinkEstimator();
    [12, 11, 300, 13, 12].forEach((r, i) => e.observeRtt(i, r));
    expect(e.state(5).rttMs).toBe(12);
    [0, 40, 45].forEach((w, i) => e.observeServer(10 + i, { estimatedWaitMs: w, queueDepth: i, inFlight: 2 }));
    expect(e.state(20).serverWaitMs).toBe(40);
    e.observeServer(13, { estimatedWaitMs: 50, queueDepth: 3, inFlight: 2, serverMs: 60, computeMs: 9 });
    expect(e.state(20)).toMatchObject({ serverWaitMs: 45, server: { atMs: 13, queueDepth: 3, inFlight: 2, estimatedWaitMs: 50, serverMs: 60, computeMs: 9 } });
  });

  it("observeResponse reads a TailClient answer: its transfer and the server's load", () => {
    const e = withRtt();
    e.observeResponse(100, { bytesSent: 125_000, transferMs: 110, serverMs: 7, computeMs: 5, load: { queueDepth: 1, inFlight: 2, estimatedWaitMs: 3.5 } });
    expect(e.state(100)).toMatchObject({ bandwidthMbps: expect.closeTo(10, 9), serverWaitMs: 3.5, server: { queueDepth: 1, inFlight: 2, serverMs: 7, computeMs: 5 } });
    // a server that reports nothing: no transfer split, no load
    e.observeResponse(200, { bytesSent: 125_000, transferMs: null, serverMs: null, computeMs: null, load: null });
    expect(e.state(200).samples).toMatchObject({ bandwidth: 1, server: 1 });
  });

  it("follows a real shaped link: a loopback tail server behind the client's token bucket, 8 then 2 Mbit/s", async () => {
    // The estimate is the cost model's effective rate: sent bytes over the time on the wire minus
    // the RTT. On loopback that time also holds the 64 KiB answer and HTTP's own delays (10-40 ms
    // here), so the estimate sits below the shaped rate, never above it, and falls with it.
    const dir = mkdtempSync(join(tmpdir(), "sw-link-"));
    writeFileSync(join(dir, "id.onnx"), bytesOf(model({ nodes: [node("Identity", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], dims: ["N", 4] })));
    const server = new TailServer({ models: { id: join(dir, "id.onnx") }, port: 0 });
    const url = await server.listen();
    const x = { name: "x", datatype: "FP32" as const, shape: [4096, 4], data: new Float32Array(4096 * 4) }; // 64 KiB
    const e = new LinkEstimator({ prior: { rttMs: 5 } });
    const run = async (mbps: number, n: number) => {
      const c = new TailClient({ url, shape: { uplinkMbps: mbps, downlinkMbps: null, rttMs: 5 } });
      try {
        for (let i = 0; i < n; i++) e.observeResponse(performance.now(), await c.infer("id", [x]));
      } finally {
        await c.close();
      }
      return e.state(performance.now());
    };
    try {
      const fast = await run(8, 9);
      expect(fast.bandwidthMbps).toBeGreaterThan(8 * 0.5);
      expect(fast.bandwidthMbps).toBeLessThan(8 * 1.05);
      expect(fast.server).not.toBeNull();
      // the window (9) is replaced by the new rate's samples after 5
      const slow = await run(2, 5);
      expect(slow.bandwidthMbps).toBeGreaterThan(2 * 0.6);
      expect(slow.bandwidthMbps).toBeLessThan(2 * 1.05);
      expect(fast.bandwidthMbps! / slow.bandwidthMbps!).toBeGreaterThan(2);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("WindowedMedian", () => {
  it("the median of the last `window` values, non-finite ones ignored", () => {
    const m = new WindowedMedian(4, { freshMs: 1, halfLifeMs: 1, prior: null, blend: "linear" });
    [5, 1, Number.NaN, 9, 3, 7].forEach((v, i) => m.observe(i, v));
    // last four finite: 1, 9, 3, 7 -> (3 + 7) / 2
    expect(m.median()).toBe(5);
    expect(() => new WindowedMedian(0, { freshMs: 1, halfLifeMs: 1, prior: null, blend: "linear" })).toThrow(RangeError);
  });
});
