/** The integration rule of src/hw/meters/meterEnergy.ts and the trace of meterTrace.ts, on hand-made traces. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { meterPeriodMs, meterRunMeanW, meterWindowEnergy, type MeterSpan } from "../../src/hw/meters/meterEnergy.js";
import { MeterTrace } from "../../src/hw/meters/meterTrace.js";

/** epoch ms now-ish: doubles resolve it to 0.24 us, so J figures below are exact to about 1e-6 */
const T0 = 1.7e12;

/** A trace with readings every `periodMs` from T0, power p(t - T0) in W. */
function traceOf(n: number, periodMs: number, p: (ms: number) => number, warnings: string[] = []): MeterTrace {
  const t = new MeterTrace("test", (w) => warnings.push(w));
  for (let i = 0; i < n; i++) t.reading(T0 + i * periodMs, p(i * periodMs));
  return t;
}

const span = (fromMs: number, toMs: number): MeterSpan => ({ fromMs: T0 + fromMs, toMs: T0 + toMs });

describe("meterWindowEnergy: the trapezoid rule", () => {
  it("a constant power is integrated exactly, edges anywhere", () => {
    const t = traceOf(50, 200, () => 5);
    const r = meterWindowEnergy(t, span(123.4, 3987.6), { periodMs: 200 });
    expect(r.method).toBe("trapezoid");
    expect(r.energyJ).toBeCloseTo(5 * 3.8642, 5);
  });

  it("a linear ramp is integrated exactly (the edges are interpolated, not snapped to readings)", () => {
    // P(t) = 2 + 0.001 t (t in ms): the integral from a to b is 2 (b - a) + 0.0005 (b^2 - a^2), in W x ms
    const t = traceOf(100, 10, (ms) => 2 + 0.001 * ms);
    const [a, b] = [13.3, 871.7];
    const exactJ = (2 * (b - a) + 0.0005 * (b * b - a * a)) / 1000;
    expect(meterWindowEnergy(t, span(a, b), { periodMs: 10 }).energyJ).toBeCloseTo(exactJ, 5);
  });

  it("a power step between readings errs by at most |dP| x (t_b - t_a) / 2 (the bound in the module's comment)", () => {
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 0.99, noNaN: true }), fc.double({ min: 0, max: 20, noNaN: true }), fc.double({ min: 0, max: 20, noNaN: true }), (frac, p1, p2) => {
        const stepAt = 1000 + frac * 200; // between the readings at 1000 and 1200 ms
        const t = traceOf(20, 200, (ms) => (ms < stepAt ? p1 : p2));
        const r = meterWindowEnergy(t, span(300, 3500), { periodMs: 200 });
        const trueJ = (p1 * (stepAt - 300) + p2 * (3500 - stepAt)) / 1000;
        expect(Math.abs((r.energyJ as number) - trueJ)).toBeLessThanOrEqual((Math.abs(p2 - p1) * 200) / 2 / 1000 + 1e-6);
      }),
    );
  });

  it("is additive over adjacent windows of at least 3 periods", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 40, maxLength: 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (watts, x, y) => {
          const t = traceOf(40, 100, (ms) => watts[ms / 100] as number);
          const a = 50 + x * 300;
          const b = a + 300 + y * 2000;
          const c = b + 300 + (1 - y) * 900;
          const e = (f: number, g: number) => meterWindowEnergy(t, span(f, g), { periodMs: 100 }).energyJ as number;
          expect(e(a, c)).toBeCloseTo(e(a, b) + e(b, c), 6);
        },
      ),
    );
  });
});

describe("meterWindowEnergy: no figure rather than a wrong one", () => {
  it("a window the readings do not cover yet has no figure", () => {
    const t = traceOf(10, 200, () => 5);
    const r = meterWindowEnergy(t, span(1500, 2500), { periodMs: 200 });
    expect(r.energyJ).toBeNull();
    expect(r.note).toMatch(/at or after the window's end/);
    expect(meterWindowEnergy(t, { fromMs: T0 - 10, toMs: T0 + 1000 }, { periodMs: 200 }).energyJ).toBeNull();
  });

  it("a gap (failed readings) inside the window leaves it without a figure; windows beside the gap keep theirs", () => {
    const warnings: string[] = [];
    const t = new MeterTrace("m", (w) => warnings.push(w));
    for (let i = 0; i <= 10; i++) t.reading(T0 + i * 100, 4);
    t.failure("no answer within 150 ms");
    t.failure("no answer within 150 ms");
    for (let i = 14; i <= 30; i++) t.reading(T0 + i * 100, 4);
    expect(t.gaps).toEqual([{ fromMs: T0 + 1000, toMs: T0 + 1400 }]);
    expect(warnings).toHaveLength(2); // one for the streak, one when readings resumed
    expect(warnings[0]).toMatch(/no answer within 150 ms/);
    expect(warnings[1]).toMatch(/resumed after 2 failure\(s\), a 400 ms gap/);
    expect(meterWindowEnergy(t, span(900, 1500), { periodMs: 100 })).toMatchObject({ energyJ: null, note: expect.stringMatching(/gap/) });
    expect(meterWindowEnergy(t, span(200, 1000), { periodMs: 100 }).energyJ).toBeCloseTo(3.2, 9);
    expect(meterWindowEnergy(t, span(1400, 3000), { periodMs: 100 }).energyJ).toBeCloseTo(6.4, 9);
  });

  it("a meter that went silent for more than 5 periods is a gap too", () => {
    const t = new MeterTrace("m", () => undefined);
    for (let i = 0; i <= 10; i++) t.reading(T0 + i * 100, 4);
    for (let i = 0; i <= 10; i++) t.reading(T0 + 1700 + i * 100, 4); // 700 ms of silence
    expect(meterWindowEnergy(t, span(500, 2500), { periodMs: 100 }).note).toMatch(/silent for 700 ms/);
  });

  it("a dead meter: windows after its last reading never get a figure", () => {
    const t = traceOf(10, 100, () => 3);
    t.failure("the command exited with code 1");
    expect(meterWindowEnergy(t, span(500, 1500), { periodMs: 100 }).note).toMatch(/failed/);
  });

  it("the trace refuses negative power, non-numbers and timestamps going backwards (one warning per streak)", () => {
    const warnings: string[] = [];
    const t = new MeterTrace("m", (w) => warnings.push(w));
    expect(t.reading(T0, 5)).toBe(true);
    expect(t.reading(T0 + 100, -1)).toBe(false);
    expect(t.reading(T0 + 50, 5)).toBe(true); // still after T0: accepted, the streak ends
    expect(t.reading(T0 + 40, 5)).toBe(false); // backwards
    expect(t.reading(T0 + 60, Number.NaN)).toBe(false);
    expect(t.reading(T0 + 100, 5)).toBe(true);
    expect(warnings.filter((w) => /negative power/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /went backwards/.test(w))).toHaveLength(1);
    expect(warnings.filter((w) => /unparsable/.test(w))).toHaveLength(0); // same streak as the backwards one
    expect(t.samples.map((s) => s.tMs - T0)).toEqual([0, 50, 100]);
  });

  it("no figure is ever negative, whatever the readings and failures", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ dt: fc.double({ min: -50, max: 400, noNaN: true }), w: fc.double({ min: -5, max: 30, noNaN: true }) }), fc.constant(null)), { minLength: 2, maxLength: 60 }),
        fc.double({ min: 0, max: 5000, noNaN: true }),
        fc.double({ min: 0, max: 5000, noNaN: true }),
        (events, a, len) => {
          const t = new MeterTrace("m", () => undefined);
          let now = T0;
          for (const e of events) {
            if (e === null) t.failure("timeout");
            else {
              now += e.dt;
              t.reading(now, e.w);
            }
          }
          const period = meterPeriodMs(t.samples, 100);
          const run = span(0, 6000);
          const r = meterWindowEnergy(t, span(a, a + len), { periodMs: period, run: { span: run, meanW: meterRunMeanW(t, run, period) } });
          if (r.energyJ !== null) expect(r.energyJ).toBeGreaterThanOrEqual(0);
        },
      ),
    );
  });
});

describe("short windows: the run's mean power x the window's time", () => {
  it("a window shorter than 3 periods takes the run's mean power, and says so", () => {
    // readings of 2 W up to 900 ms, 6 W from 1000 ms: over [0, 2000] the line has the area
    // 2 x 900 + 4 x 100 + 6 x 1000 = 8200 W ms, a mean of 4.1 W
    const t = traceOf(30, 100, (ms) => (ms < 1000 ? 2 : 6));
    const run = span(0, 2000);
    const meanW = meterRunMeanW(t, run, 100) as number;
    expect(meanW).toBeCloseTo(4.1, 9);
    const r = meterWindowEnergy(t, span(300, 312), { periodMs: 100, run: { span: run, meanW } });
    expect(r.method).toBe("run-mean");
    expect(r.energyJ).toBeCloseTo(4.1 * 0.012, 9);
    expect(r.note).toMatch(/shorter than 3 meter periods/);
  });

  it("the run's mean leaves out its gaps; a short window inside a gap still has no figure", () => {
    const t = new MeterTrace("m", () => undefined);
    for (let i = 0; i <= 10; i++) t.reading(T0 + i * 100, 2);
    t.failure("garbage");
    for (let i = 15; i <= 30; i++) t.reading(T0 + i * 100, 2);
    const run = span(0, 3000);
    const meanW = meterRunMeanW(t, run, 100) as number;
    expect(meanW).toBeCloseTo(2, 9);
    expect(meterWindowEnergy(t, span(1100, 1150), { periodMs: 100, run: { span: run, meanW } }).energyJ).toBeNull();
  });

  it("without a longer run a short window keeps its own integral and says it is short", () => {
    const t = traceOf(10, 200, () => 3);
    const r = meterWindowEnergy(t, span(100, 300), { periodMs: 200 });
    expect(r).toMatchObject({ method: "trapezoid", note: expect.stringMatching(/shorter than 3 meter periods \(3 x 200 ms\): its own integral/) });
    expect(r.energyJ).toBeCloseTo(0.6, 9);
  });

  it("a long-running trace drops readings older than its retention, and gaps that ended before them", () => {
    const t = new MeterTrace("m", () => undefined, 1000);
    for (let i = 0; i <= 5; i++) t.reading(T0 + i * 100, 1);
    t.failure("timeout");
    for (let i = 8; i <= 12; i++) t.reading(T0 + i * 100, 1); // 1200 ms > 1.1 x retention: pruned to the last 1000 ms
    expect(t.samples[0]?.tMs).toBe(T0 + 200);
    expect(t.gaps).toEqual([{ fromMs: T0 + 500, toMs: T0 + 800 }]);
    for (let i = 13; i <= 30; i++) t.reading(T0 + i * 100, 1);
    expect(t.gaps).toEqual([]);
    expect(meterWindowEnergy(t, span(2200, 2900), { periodMs: 100 }).energyJ).toBeCloseTo(0.7, 9);
  });

  it("the period is the median interval between readings", () => {
    const t = new MeterTrace("m", () => undefined);
    [0, 200, 400, 1400, 1600, 1810].forEach((ms) => t.reading(T0 + ms, 1));
    expect(meterPeriodMs(t.samples, 50)).toBe(200);
    expect(meterPeriodMs([], 50)).toBe(50);
  });
});
