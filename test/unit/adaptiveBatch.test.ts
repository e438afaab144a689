/**
 * The adaptive batch size (src/schedule/adaptiveBatch.ts): the service model's fit, and the rule
 * as properties over arrival rates and service models.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/mulberry32.js";
import {
  arrivalRate,
  chooseBatch,
  DEFAULT_ADAPTIVE_BATCH,
  initialAdaptiveBatch,
  observeArrival,
  observeBatch,
  serviceModel,
  type AdaptiveBatchState,
} from "../../src/schedule/adaptiveBatch.js";

/** A state with `gapMs` between arrivals and batches served in fixedMs + perItemMs x b. */
function state(gapMs: number, fixedMs: number, perItemMs: number): AdaptiveBatchState {
  let s = initialAdaptiveBatch();
  for (let i = 0; i < 40; i++) s = observeArrival(s, i * gapMs);
  for (const b of [1, 2, 4, 8, 3]) s = observeBatch(s, b, fixedMs + perItemMs * b);
  return s;
}

describe("adaptive batch size", () => {
  it("fits t(b) = a + c x b from noisy batches and tracks the arrival rate", () => {
    const next = mulberry32(3);
    let s = initialAdaptiveBatch();
    for (let i = 0; i < 32; i++) {
      const b = 1 + (i % 8);
      s = observeBatch(s, b, 6 + 1.5 * b + (next() - 0.5) * 0.2);
    }
    const m = serviceModel(s);
    expect(m?.fixedMs).toBeCloseTo(6, 0);
    expect(m?.perItemMs).toBeCloseTo(1.5, 1);
    let t = 0;
    for (let i = 0; i < 50; i++) s = observeArrival(s, (t += 4));
    expect(arrivalRate(s)).toBeCloseTo(0.25, 6);
  });

  it("answers 1 until it has a fit and a rate", () => {
    expect(chooseBatch(initialAdaptiveBatch())).toBe(1);
    expect(chooseBatch(observeBatch(initialAdaptiveBatch(), 4, 10))).toBe(1);
  });

  it("without a bound: the smallest batch that keeps up (worked example)", () => {
    // a = 6 ms, c = 1 ms: b items per 6 + b ms. One item every 2 ms needs b / (6 + b) >= 0.5 / 0.9: b >= 7.5 -> 8
    expect(chooseBatch(state(2, 6, 1), { ...DEFAULT_ADAPTIVE_BATCH, maxBatch: 16 })).toBe(8);
    // every 20 ms: b = 1 keeps up (1 / 7 >= 0.05 / 0.9)
    expect(chooseBatch(state(20, 6, 1), { ...DEFAULT_ADAPTIVE_BATCH, maxBatch: 16 })).toBe(1);
    // faster than the best batch can serve: the largest
    expect(chooseBatch(state(0.5, 6, 1), { ...DEFAULT_ADAPTIVE_BATCH, maxBatch: 16 })).toBe(16);
  });

  it("with a bound: the largest batch within it that keeps up, fewer as arrivals slow down", () => {
    const o = { ...DEFAULT_ADAPTIVE_BATCH, maxBatch: 16, latencyBoundMs: 60 };
    // every 5 ms: (b - 1) x 5 + 6 + b <= 60 -> 6b + 1 <= 60 -> b <= 9
    expect(chooseBatch(state(5, 6, 1), o)).toBe(9);
    // every 20 ms: 21b - 14 <= 60 -> b <= 3
    expect(chooseBatch(state(20, 6, 1), o)).toBe(3);
  });

  it("properties: keeps up whenever some batch can; follows the rate; respects the bound where it can", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.2, max: 50, noNaN: true }),
        fc.double({ min: 0.2, max: 50, noNaN: true }),
        fc.double({ min: 0, max: 20, noNaN: true }),
        fc.double({ min: 0.05, max: 5, noNaN: true }),
        fc.integer({ min: 1, max: 32 }),
        fc.option(fc.double({ min: 1, max: 500, noNaN: true }), { nil: undefined }),
        (gapA, gapB, fixedMs, perItemMs, maxBatch, bound) => {
          const o = { ...DEFAULT_ADAPTIVE_BATCH, maxBatch, latencyBoundMs: bound ?? Number.POSITIVE_INFINITY };
          const t = (b: number): number => fixedMs + perItemMs * b;
          const keepsUp = (b: number, gap: number): boolean => b / Math.max(t(b), 1e-9) >= 1 / gap / o.headroom;
          for (const gap of [gapA, gapB]) {
            const b = chooseBatch(state(gap, fixedMs, perItemMs), o);
            expect(b).toBeGreaterThanOrEqual(1);
            expect(b).toBeLessThanOrEqual(maxBatch);
            const anyKeepsUp = Array.from({ length: maxBatch }, (_, i) => i + 1).some((x) => keepsUp(x, gap));
            if (anyKeepsUp) expect(keepsUp(b, gap)).toBe(true);
            else expect(b).toBe(maxBatch);
            if (bound !== undefined && anyKeepsUp) {
              const within = (x: number): boolean => (x - 1) * gap + t(x) <= bound + 1e-9;
              const someWithin = Array.from({ length: maxBatch }, (_, i) => i + 1).some((x) => keepsUp(x, gap) && within(x));
              if (someWithin) expect(within(b)).toBe(true);
            }
          }
          // without a bound the batch does not shrink when items arrive faster
          if (bound === undefined) {
            const [fast, slow] = gapA < gapB ? [gapA, gapB] : [gapB, gapA];
            expect(chooseBatch(state(fast, fixedMs, perItemMs), o)).toBeGreaterThanOrEqual(chooseBatch(state(slow, fixedMs, perItemMs), o));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
