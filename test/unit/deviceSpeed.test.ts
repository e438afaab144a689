import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeviceSpeed } from "../../src/schedule/estimators/deviceSpeed.js";

describe("DeviceSpeed", () => {
  it("is 1 (as measured) before any head; then the median of head time over measured head time", () => {
    const s = new DeviceSpeed();
    expect(s.estimate(0)).toEqual({ headScale: 1, headCv: null, samples: 0, ageMs: null });
    // a 200 ms head that runs at 250, 260, 240 ms, with one stall of 800
    for (const [i, ms] of [250, 260, 800, 240].entries()) s.observe(i, ms, 200);
    expect(s.estimate(4).headScale).toBeCloseTo((250 + 260) / 2 / 200, 12);
    expect(s.estimate(4).samples).toBe(4);
  });

  it("heads measured shorter than minHeadMs, or unknown, say nothing; a ratio is clamped to maxRatio", () => {
    const s = new DeviceSpeed({ minHeadMs: 2, maxRatio: 10 });
    expect(s.observe(0, 5, 1.5)).toBeNull();
    expect(s.observe(0, 5, null)).toBeNull();
    expect(s.observe(0, Number.NaN, 20)).toBeNull();
    expect(s.observe(0, 1000, 10)).toBe(10);
    expect(s.observe(0, 0.01, 10)).toBe(0.1);
  });

  it("never below minScale (default 1: a device faster than profiled is predicted as profiled)", () => {
    const s = new DeviceSpeed();
    for (let i = 0; i < 5; i++) s.observe(i, 50, 100);
    expect(s.estimate(5).headScale).toBe(1);
    const free = new DeviceSpeed({ minScale: 0.1 });
    for (let i = 0; i < 5; i++) free.observe(i, 50, 100);
    expect(free.estimate(5).headScale).toBe(0.5);
  });

  it("a step change is followed within (window + 1) / 2 heads", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.3, max: 3, noNaN: true }), fc.double({ min: 0.3, max: 3, noNaN: true }), (a, b) => {
        const s = new DeviceSpeed({ window: 9, minScale: 0 });
        for (let i = 0; i < 9; i++) s.observe(i, 100 * a, 100);
        for (let i = 0; i < 5; i++) s.observe(10 + i, 100 * b, 100);
        return Math.abs(s.estimate(15).headScale - b) < 1e-9;
      }),
    );
  });

  it("decays geometrically back to 1 when no head has run for a while", () => {
    const s = new DeviceSpeed({ freshMs: 1000, halfLifeMs: 1000 });
    s.observe(0, 400, 100);
    expect(s.estimate(1000).headScale).toBe(4);
    expect(s.estimate(2000).headScale).toBeCloseTo(2, 12);
    expect(s.estimate(3000).headScale).toBeCloseTo(Math.SQRT2, 12);
    let last = Infinity;
    for (let t = 1000; t < 20_000; t += 500) {
      const v = s.estimate(t).headScale;
      expect(v).toBeLessThanOrEqual(last);
      expect(v).toBeGreaterThanOrEqual(1);
      last = v;
    }
  });

  it("headCv: the coefficient of variation of the last spreadWindow ratios, from minSpreadSamples on, while fresh", () => {
    const s = new DeviceSpeed({ spreadWindow: 4, minSpreadSamples: 3, freshMs: 1000 });
    const heads = [100, 120, 80];
    expect(s.estimate(0).headCv).toBeNull();
    s.observe(1, heads[0]!, 100);
    s.observe(2, heads[1]!, 100);
    expect(s.estimate(3).headCv).toBeNull(); // two ratios: too few
    s.observe(3, heads[2]!, 100);
    // ratios 1, 1.2, 0.8: mean 1, sample sd 0.2
    expect(s.estimate(4).headCv).toBeCloseTo(0.2, 12);
    // the window keeps the last 4: 1.2, 0.8, 1, 1 -> mean 1, sd sqrt(0.08 / 3)
    s.observe(5, 100, 100);
    s.observe(6, 100, 100);
    expect(s.estimate(7).headCv).toBeCloseTo(Math.sqrt(0.08 / 3), 12);
    // stale: unknown again
    expect(s.estimate(6 + 1001).headCv).toBeNull();
  });
});
