import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { mergeTraces, parseConditionsTrace, traceAt, writeConditionsTrace } from "../../src/contracts/conditionsTrace.js";
import { writeWorkloadCsv } from "../../src/contracts/workloadCsv.js";
import { stepTrace, walkTrace } from "../../src/replay/bandwidthTraces.js";
import { QuantileSketch } from "../../src/replay/quantileSketch.js";
import { weibullDeadlines, weibullSample } from "../../src/replay/weibullDeadlines.js";
import { workloadStream, type TimedRequest, type WorkloadSummary } from "../../src/replay/workloadStream.js";

const data = resolve(import.meta.dirname, "../../../shared/data/dynasplit");
const trace10k = join(data, "network_latency_10000_samples.csv");
const trace50 = join(data, "network_latency_50_samples.csv");
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "sw-bench-in-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function all(file: string, opts: Parameters<typeof workloadStream>[1]): Promise<TimedRequest[]> {
  const out: TimedRequest[] = [];
  for await (const b of workloadStream(file, opts)) out.push(...b);
  return out;
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string; exitCode?: number }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string; exitCode?: number };
  }
  throw new Error("expected a rejection");
}

/** KS distance of (x - min) / (mean - min) from Exp(1): the shape of a rescaled shape-1 Weibull whatever its range. */
function ksExponential(xs: readonly number[]): number {
  const min = Math.min(...xs);
  const m = xs.reduce((a, b) => a + b, 0) / xs.length - min;
  const s = xs.map((x) => (x - min) / m).sort((a, b) => a - b);
  let d = 0;
  s.forEach((x, i) => {
    const F = 1 - Math.exp(-x);
    d = Math.max(d, Math.abs(F - i / s.length), Math.abs(F - (i + 1) / s.length));
  });
  return d;
}

describe("weibull deadlines (DynaSplit's generator)", () => {
  const theirs = (net: string) =>
    readFileSync(trace10k, "utf8")
      .trim()
      .split("\n")
      .slice(1)
      .map((l) => l.split(","))
      .filter((r) => r[1] === net)
      .map((r) => Number(r[2]));

  it("DynaSplit's own traces: VGG16 spans 90.6-5026.8 ms and ViT 118.8-10287.6 ms, 10,000 each, shaped like a rescaled exponential (Weibull shape 1)", () => {
    for (const [net, lo, hi] of [["vgg16", 90.6, 5026.8], ["vit", 118.8, 10287.6]] as const) {
      const xs = theirs(net);
      expect(xs).toHaveLength(10_000);
      expect(Math.min(...xs)).toBeCloseTo(lo, 6);
      expect(Math.max(...xs)).toBeCloseTo(hi, 6);
      // Lilliefors-style bound for n = 10,000 at ~1%: 0.0131; shape 2 is at 0.2
      expect(ksExponential(xs)).toBeLessThan(0.0131);
    }
  });

  it("ours: the same range exactly, the same shape, deterministic per seed; shape 2 is visibly not exponential", () => {
    const a = weibullDeadlines({ shape: 1, minMs: 90.6, maxMs: 5026.8, n: 10_000, seed: 7 });
    expect(Math.min(...a)).toBe(90.6);
    expect(Math.max(...a)).toBe(5026.8);
    expect(ksExponential([...a])).toBeLessThan(0.0131);
    expect([...weibullDeadlines({ shape: 1, minMs: 90.6, maxMs: 5026.8, n: 10_000, seed: 7 })]).toEqual([...a]);
    expect([...weibullDeadlines({ shape: 1, minMs: 90.6, maxMs: 5026.8, n: 100, seed: 8 })]).not.toEqual([...a.slice(0, 100)]);
    expect(ksExponential([...weibullDeadlines({ shape: 2, minMs: 90.6, maxMs: 5026.8, n: 10_000, seed: 7 })])).toBeGreaterThan(0.1);
  });

  it("each draw follows Weibull(k): CDF 1 - exp(-x^k) (KS over 20,000 draws per shape)", () => {
    for (const k of [0.5, 1, 2, 4]) {
      const xs = Array.from({ length: 20_000 }, (_, i) => weibullSample((i + 0.5) / 20_000, k));
      // stratified uniforms: the empirical CDF is the exact one up to the grid
      let d = 0;
      xs.sort((a, b) => a - b).forEach((x, i) => (d = Math.max(d, Math.abs(1 - Math.exp(-(x ** k)) - (i + 0.5) / xs.length))));
      expect(d).toBeLessThan(1e-6);
    }
  });

  it("bad arguments are user errors naming what to pass", () => {
    expect(() => weibullDeadlines({ shape: 0, minMs: 1, maxMs: 2, n: 3, seed: 1 })).toThrow(/--weibull-shape must be a number > 0/);
    expect(() => weibullDeadlines({ shape: 1, minMs: 5, maxMs: 2, n: 3, seed: 1 })).toThrow(/0 < min < max/);
    expect(() => weibullDeadlines({ shape: 1, minMs: 1, maxMs: 2, n: 1, seed: 1 })).toThrow(/--n must be a whole number >= 2/);
  });
});

describe("workload stream", () => {
  it("reads DynaSplit's 10,000-request trace for one network, in order, spaced by the interval; the summary counts every network", async () => {
    const summary: WorkloadSummary = { sha256: "", requests: 0, networks: new Map() };
    const rs = await all(trace10k, { network: "vgg16", intervalMs: 1000, batch: 999, summary });
    expect(rs).toHaveLength(10_000);
    expect(rs[0]).toEqual({ index: 0, network: "vgg16", deadlineMs: 98.96655129220227, arrivalMs: null, tMs: 0 });
    expect(rs[9999]!.tMs).toBe(9_999_000);
    expect(rs.map((r) => r.index)).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    expect(summary.requests).toBe(10_000);
    expect(Object.fromEntries(summary.networks)).toEqual({ vgg16: 10_000, resnet50: 10_000, mobilenetv2: 10_000, vit: 10_000 });
    expect(summary.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("refuses a workload that mixes networks without --network, and a network it has no rows for (naming those it has)", async () => {
    const e = await failure(all(trace50, { intervalMs: 1 }));
    expect(e).toMatchObject({ code: "E_USAGE", exitCode: 2 });
    expect(e.message).toMatch(/several networks \(vgg16, resnet50.*pass --network NAME/);
    const f = await failure(all(trace50, { network: "vgg19", intervalMs: 1 }));
    expect(f).toMatchObject({ code: "E_USAGE", exitCode: 2 });
    expect(f.message).toBe(`workload ${trace50} has no rows for --network vgg19; its networks are vgg16, resnet50, mobilenetv2, vit: pass one of them`);
  });

  it("malformed rows name the file, line and column; ArrivalMs is honoured and must not go back; quoted fields are read", async () => {
    const d = tmp();
    const bad = join(d, "bad.csv");
    writeFileSync(bad, "Index,Network,Latency\n0,m,10\n1,m,-5\n");
    expect((await failure(all(bad, { intervalMs: 1 }))).message).toMatch(/bad\.csv line 3: column "Latency" is "-5", expected a deadline in ms greater than 0; fix the workload/);
    const noLat = join(d, "nolat.csv");
    writeFileSync(noLat, "Index,Network,Deadline\n0,m,10\n");
    expect((await failure(all(noLat, { intervalMs: 1 }))).message).toMatch(/no "Latency" column/);
    const timed = join(d, "timed.csv");
    writeFileSync(timed, 'Latency,ArrivalMs,Network\n10,0,"m"\n20,5.5,m\r\n30,5.5,m');
    expect(await all(timed, { intervalMs: 1000 })).toEqual([
      { index: 0, network: "m", deadlineMs: 10, arrivalMs: 0, tMs: 0 },
      { index: 1, network: "m", deadlineMs: 20, arrivalMs: 5.5, tMs: 5.5 },
      { index: 2, network: "m", deadlineMs: 30, arrivalMs: 5.5, tMs: 5.5 },
    ]);
    const back = join(d, "back.csv");
    writeFileSync(back, "Latency,ArrivalMs\n10,5\n20,4\n");
    expect((await failure(all(back, { intervalMs: 1 }))).message).toMatch(/line 3: ArrivalMs 4 is before the previous request's 5/);
    expect((await failure(all(join(d, "missing.csv"), { intervalMs: 1 }))).message).toMatch(/cannot read workload .*missing\.csv \(ENOENT\)/);
    const empty = join(d, "empty.csv");
    writeFileSync(empty, "");
    expect((await failure(all(empty, { intervalMs: 1 }))).message).toMatch(/is empty/);
  });

  it("what writeWorkloadCsv writes reads back", async () => {
    const f = join(tmp(), "w.csv");
    const rows = [0.5, 1200, 94.79067097766479].map((deadlineMs, index) => ({ index, network: "vgg16", deadlineMs }));
    writeFileSync(f, writeWorkloadCsv(rows));
    expect(readFileSync(f, "utf8")).toBe("Index,Network,Latency\n0,vgg16,0.5\n1,vgg16,1200.0\n2,vgg16,94.79067097766479\n");
    expect((await all(f, { intervalMs: 2 })).map((r) => [r.index, r.deadlineMs, r.tMs])).toEqual([[0, 0.5, 0], [1, 1200, 2], [2, 94.79067097766479, 4]]);
  });
});

describe("conditions traces", () => {
  it("a step function over time: before the first row the first, then the last row at or before t; merge keeps both traces' figures", () => {
    const bw = parseConditionsTrace("TimeMs,BandwidthMbps,RttMs\n0,100,10\n60000,5,\n120000,100,20\n", "bw.csv");
    expect(bw.figures).toEqual(["BandwidthMbps", "RttMs"]);
    expect(traceAt(bw.points, -1)).toMatchObject({ bandwidthMbps: 100, rttMs: 10 });
    expect(traceAt(bw.points, 59_999.9)).toMatchObject({ bandwidthMbps: 100 });
    expect(traceAt(bw.points, 60_000)).toMatchObject({ bandwidthMbps: 5, rttMs: null });
    expect(traceAt(bw.points, 1e9)).toMatchObject({ bandwidthMbps: 100, rttMs: 20 });
    const load = parseConditionsTrace("TimeMs,ServerWaitMs\n30000,50\n", "load.csv");
    const m = mergeTraces(bw, load);
    expect(m.figures).toEqual(["BandwidthMbps", "RttMs", "ServerWaitMs"]);
    expect(m.points.map((p) => [p.timeMs, p.bandwidthMbps, p.serverWaitMs])).toEqual([[0, 100, 50], [30000, 100, 50], [60000, 5, 50], [120000, 100, 50]]);
    expect(parseConditionsTrace(writeConditionsTrace(m), "again")).toEqual(m);
  });

  it("bad traces: one line each, naming what to write", () => {
    expect(() => parseConditionsTrace("Time,Bandwidth\n0,1\n", "t.csv")).toThrow(/needs a TimeMs column and at least one of BandwidthMbps, RttMs, ServerWaitMs/);
    expect(() => parseConditionsTrace("TimeMs,BandwidthMbps\n0,0\n", "t.csv")).toThrow(/line 2: column "BandwidthMbps" is "0", expected a number > 0/);
    expect(() => parseConditionsTrace("TimeMs,BandwidthMbps\n10,1\n5,1\n", "t.csv")).toThrow(/line 3: TimeMs 5 is before the previous row's 10; sort the rows by time/);
    expect(() => parseConditionsTrace("TimeMs,BandwidthMbps\n", "t.csv")).toThrow(/no rows/);
  });

  it("step: each level held for its time; walk: inside its bounds, deterministic per seed (property)", () => {
    expect(stepTrace([100, 5, 100], 60_000).points.map((p) => [p.timeMs, p.bandwidthMbps])).toEqual([[0, 100], [60000, 5], [120000, 100]]);
    fc.assert(
      fc.property(fc.double({ min: 0.1, max: 50, noNaN: true }), fc.double({ min: 0, max: 200, noNaN: true }), fc.double({ min: 0, max: 300, noNaN: true }), fc.integer({ min: 0, max: 1000 }), (lo, span, step, seed) => {
        const o = { startMbps: lo + span / 3, minMbps: lo, maxMbps: lo + span, stepMbps: step, everyMs: 100, durationMs: 5000, seed };
        const t = walkTrace(o);
        expect(t.points).toHaveLength(51);
        for (const p of t.points) {
          expect(p.bandwidthMbps!).toBeGreaterThanOrEqual(lo);
          expect(p.bandwidthMbps!).toBeLessThanOrEqual(lo + span);
        }
        expect(walkTrace(o)).toEqual(t);
      }),
      { numRuns: 200 },
    );
  });
});

describe("quantile sketch", () => {
  /** Percentile by linear interpolation between closest ranks (as the pareto file's). */
  const exact = (xs: number[], q: number) => {
    const s = [...xs].sort((a, b) => a - b);
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos);
    return s[lo]! + (s[Math.ceil(pos)]! - s[lo]!) * (pos - lo);
  };

  it("exact while the values are few (property: equals the sorted-array percentile)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -50, max: 50 }).map((x) => x / 4), { minLength: 1, maxLength: 300 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
        const s = new QuantileSketch();
        for (const x of xs) s.add(x);
        expect(s.isExact).toBe(true);
        expect(s.quantile(q)).toBeCloseTo(exact(xs, q), 9);
        expect(s.count).toBe(xs.length);
      }),
    );
  });

  it("past maxDistinct: every quantile within the relative accuracy (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0.01, max: 1e5, noNaN: true }), { minLength: 50, maxLength: 400 }), fc.double({ min: 0, max: 1, noNaN: true }), (xs, q) => {
        const s = new QuantileSketch({ maxDistinct: 16, alpha: 0.001 });
        for (const x of xs) s.add(x);
        expect(s.isExact).toBe(false);
        const sorted = [...xs].sort((a, b) => a - b);
        const pos = q * (xs.length - 1);
        // the interpolated figure lies between the two neighbouring ranks, each within 0.1%
        const lo = sorted[Math.floor(pos)]! * (1 - 0.0011);
        const hi = sorted[Math.ceil(pos)]! * (1 + 0.0011);
        const v = s.quantile(q)!;
        expect(v).toBeGreaterThanOrEqual(lo);
        expect(v).toBeLessThanOrEqual(hi);
      }),
    );
  });

  it("empty: null; merge adds counts", () => {
    const a = new QuantileSketch();
    expect(a.quantile(0.5)).toBeNull();
    const b = new QuantileSketch();
    b.add(3, 5);
    a.add(1);
    a.merge(b);
    expect(a.count).toBe(6);
    expect(a.quantile(0.5)).toBe(3);
  });
});
