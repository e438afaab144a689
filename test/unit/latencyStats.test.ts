import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { adaptiveStop, DEFAULT_STOP_RULE } from "../../src/measure/adaptiveStop.js";
import { latencyStats, percentile, t975 } from "../../src/measure/latencyStats.js";

describe("latency statistics", () => {
  it("percentiles interpolate linearly between closest ranks (numpy's default 'linear' method)", () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    // numpy.percentile(range(1, 11), [50, 95, 99]) = 5.5, 9.55, 9.91
    expect(percentile(xs, 50)).toBeCloseTo(5.5, 12);
    expect(percentile(xs, 95)).toBeCloseTo(9.55, 12);
    expect(percentile(xs, 99)).toBeCloseTo(9.91, 12);
    expect(percentile([42], 99)).toBe(42);
  });

  it("t quantiles match the standard table (df 1, 10, 30) and tend to 1.96", () => {
    expect(t975(1)).toBe(12.706);
    expect(t975(10)).toBe(2.228);
    expect(t975(30)).toBe(2.042);
    expect(t975(1e6)).toBe(1.96);
  });

  it("mean, sample sd and the t interval on a reference sample", () => {
    // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample sd sqrt(32/7); half-width t(7) * sd / sqrt(8), t(7) = 2.365
    const s = latencyStats([2, 4, 4, 4, 5, 5, 7, 9]);
    expect(s.mean).toBe(5);
    expect(s.sd).toBeCloseTo(Math.sqrt(32 / 7), 12);
    const half = (2.365 * Math.sqrt(32 / 7)) / Math.sqrt(8);
    expect(s.ci95[0]).toBeCloseTo(5 - half, 12);
    expect(s.ci95[1]).toBeCloseTo(5 + half, 12);
    expect(s.ciRel).toBeCloseTo(half / 5, 12);
    expect(s.max).toBe(9);
  });

  it("properties: p50 <= p95 <= p99 <= max, and the interval contains the mean", () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1e4, noNaN: true }), { minLength: 1, maxLength: 200 }), (xs) => {
        const s = latencyStats(xs);
        expect(s.p50).toBeLessThanOrEqual(s.p95 + 1e-9);
        expect(s.p95).toBeLessThanOrEqual(s.p99 + 1e-9);
        expect(s.p99).toBeLessThanOrEqual(s.max + 1e-9);
        expect(s.ci95[0]).toBeLessThanOrEqual(s.mean + 1e-9);
        expect(s.ci95[1]).toBeGreaterThanOrEqual(s.mean - 1e-9);
        expect(s.n).toBe(xs.length);
      }),
    );
  });
});

describe("adaptive stopping", () => {
  const rule = { ...DEFAULT_STOP_RULE, minRuns: 5, maxRuns: 50, ciRel: 0.05, maxMs: 10_000 };

  it("goes on before minRuns even when the interval is tight", () => {
    expect(adaptiveStop([10, 10, 10, 10], 0, rule)).toBeNull();
    expect(adaptiveStop([10, 10, 10, 10, 10], 0, rule)).toBe("ci");
  });

  it("stops on the interval once it is within the target, not before", () => {
    const noisy = [5, 15, 5, 15, 5, 15];
    expect(adaptiveStop(noisy, 0, rule)).toBeNull();
    const tight = [10, 10.1, 9.9, 10, 10.05, 9.95];
    expect(adaptiveStop(tight, 0, rule)).toBe("ci");
  });

  it("stops at maxRuns and at the time cap, whichever comes first", () => {
    const noisy = Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? 1 : 100));
    expect(adaptiveStop(noisy, 0, rule)).toBe("max-runs");
    expect(adaptiveStop(noisy.slice(0, 7), 10_000, rule)).toBe("time-cap");
    expect(adaptiveStop([], 10_000, rule)).toBeNull();
  });

  it("property: it stops on 'ci' exactly when the interval is within the target (from minRuns, below maxRuns)", () => {
    // latencies around a base with a relative spread from 0 to 60%: intervals on both sides of
    // the target, so both outcomes are reached (counted below)
    const samples = fc
      .record({ base: fc.double({ min: 1, max: 100, noNaN: true }), spread: fc.integer({ min: 0, max: 600 }).map((k) => k / 1000), us: fc.array(fc.integer({ min: -1000, max: 1000 }).map((k) => k / 1000), { minLength: 1, maxLength: 60, size: "max" }) })
      .map(({ base, spread, us }) => us.map((u) => base * (1 + spread * u)));
    let stoppedOnCi = 0;
    let wentOn = 0;
    fc.assert(
      fc.property(samples, (xs) => {
        const stop = adaptiveStop(xs, 0, rule);
        const inRange = xs.length >= rule.minRuns && xs.length < rule.maxRuns;
        expect(stop === "ci").toBe(inRange && latencyStats(xs).ciRel <= rule.ciRel);
        expect(stop === "max-runs").toBe(xs.length >= rule.maxRuns);
        if (stop === "ci") stoppedOnCi++;
        else if (inRange) wentOn++;
      }),
      { numRuns: 500 },
    );
    expect(stoppedOnCi).toBeGreaterThan(50);
    expect(wentOn).toBeGreaterThan(50);
  });
});
