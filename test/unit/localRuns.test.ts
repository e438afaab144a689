import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalRuns } from "../../src/schedule/estimators/localRuns.js";
import { sampleSpreadMs } from "../../src/schedule/policies/meetProbability.js";

describe("LocalRuns", () => {
  it("a key counts from minSamples runs, with its last `window` runs ascending, their mean and spread", () => {
    const r = new LocalRuns({ window: 4, minSamples: 3, freshMs: 1000 });
    r.observe("a", 0, 30);
    r.observe("a", 1, 10);
    expect(r.snapshot(2).has("a")).toBe(false);
    r.observe("a", 2, 20);
    expect(r.snapshot(3).get("a")).toEqual({ samplesMs: [10, 20, 30], meanMs: 20, spreadMs: 10 });
    r.observe("a", 3, 40);
    r.observe("a", 4, 50); // the window drops the oldest (30)
    expect(r.snapshot(5).get("a")?.samplesMs).toEqual([10, 20, 40, 50]);
  });

  it("stale once the newest run is freshMs old; fresh again with the next run", () => {
    const r = new LocalRuns({ window: 5, minSamples: 2, freshMs: 100 });
    r.observe("a", 0, 1);
    r.observe("a", 10, 2);
    expect(r.snapshot(109).has("a")).toBe(true);
    expect(r.snapshot(110).has("a")).toBe(false);
    r.observe("a", 200, 3);
    expect(r.snapshot(201).get("a")?.samplesMs).toEqual([1, 2, 3]);
  });

  it("keys apart; non-finite or negative times ignored", () => {
    const r = new LocalRuns({ window: 5, minSamples: 2, freshMs: 100 });
    for (const v of [1, Number.NaN, -1, Number.POSITIVE_INFINITY, 3]) r.observe("a", 0, v);
    r.observe("b", 0, 7);
    const s = r.snapshot(1);
    expect(s.get("a")?.samplesMs).toEqual([1, 3]);
    expect(s.has("b")).toBe(false);
  });

  it("the same Map until a run is observed or a key goes stale (a caller can compare by identity)", () => {
    const r = new LocalRuns({ window: 5, minSamples: 2, freshMs: 100 });
    r.observe("a", 0, 1);
    r.observe("a", 0, 2);
    r.observe("b", 50, 1);
    r.observe("b", 50, 2);
    const s1 = r.snapshot(10);
    expect(r.snapshot(20)).toBe(s1);
    const s2 = r.snapshot(100); // a went stale
    expect(s2).not.toBe(s1);
    expect([...s2.keys()]).toEqual(["b"]);
    r.observe("b", 101, 3);
    expect(r.snapshot(102)).not.toBe(s2);
  });

  it("property: the snapshot is the last window runs of each key, sorted, with their mean and sample spread", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom("a", "b"), fc.double({ min: 0, max: 1e4, noNaN: true })), { maxLength: 80 }), fc.integer({ min: 2, max: 12 }), (runs, window) => {
        const r = new LocalRuns({ window, minSamples: 2, freshMs: 1e9 });
        runs.forEach(([k, v], i) => r.observe(k, i, v));
        const s = r.snapshot(runs.length);
        for (const k of ["a", "b"]) {
          const last = runs.filter(([key]) => key === k).map(([, v]) => v).slice(-window);
          if (last.length < 2) expect(s.has(k)).toBe(false);
          else {
            const got = s.get(k)!;
            expect(got.samplesMs).toEqual([...last].sort((x, y) => x - y));
            expect(got.meanMs).toBeCloseTo(last.reduce((x, y) => x + y, 0) / last.length, 6);
            expect(got.spreadMs).toBeCloseTo(sampleSpreadMs(last), 6);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses options that cannot work, in one line", () => {
    expect(() => new LocalRuns({ window: 1 })).toThrow(/^window must be a whole number >= 2, got 1$/);
    expect(() => new LocalRuns({ window: 5, minSamples: 6 })).toThrow(/minSamples must be a whole number in 2..window, got 6/);
    expect(() => new LocalRuns({ freshMs: 0 })).toThrow(/freshMs must be > 0/);
  });
});
