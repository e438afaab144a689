/**
 * Energy over a window from an external meter's power readings. The rule:
 *
 * 1. The readings (t, W) are joined by straight lines (the trapezoid rule). A window
 *    [from, to] is cut out of that line, the power at each edge interpolated between the
 *    readings on either side, and integrated: E = the area, in J.
 * 2. The window must be covered: a reading at or before `from` and one at or after `to`.
 *    Otherwise no figure (the meter's next reading is not in yet, or the trace ends).
 * 3. A gap overlapping the window leaves it without a figure, never with zero: the time
 *    between the last good reading before a failure (timeout, unparsable reading, negative
 *    power, a timestamp going backwards, a dead command) and the next good one, and any
 *    interval between readings longer than 5 periods (the meter went silent).
 * 4. The period is the median interval between readings. A window shorter than 3 periods
 *    holds too few readings for its own integral: it gets the run's mean power x its
 *    duration (as DynaSplit divided a run's energy by its number of images), the run's mean
 *    power being the integral over the run's covered, gap-free time divided by that time.
 *    The result says so (`method: "run-mean"`). Without a longer run (the window is the run)
 *    it keeps its own integral and says it is short.
 * No reading is negative (src/hw/meters/meterTrace.ts refuses them), so no figure is.
 *
 * Sampling error, for checking: with exact readings of a power that steps by dP at time T
 * between readings at t_a and t_b (stamped within e_a, e_b of when they were taken), the
 * integral places the step at (t_a + t_b) / 2, so the window's figure errs by at most
 * |dP| x ((t_b - t_a) / 2 + max(e_a, e_b)); a constant power is integrated exactly.
 */
import type { MeterSample, MeterTraceView } from "./meterTrace.js";

export interface MeterSpan {
  fromMs: number;
  toMs: number;
}

export type MeterWindowResult =
  | { energyJ: number; method: "trapezoid" | "run-mean"; note: string | null }
  | { energyJ: null; method: null; note: string };

/** Windows shorter than this many periods take the run's mean power. */
export const SHORT_WINDOW_PERIODS = 3;
/** An interval between readings longer than this many periods is a gap. */
export const SILENT_PERIODS = 5;

/** Median interval between consecutive readings, ms (`fallbackMs` with fewer than two readings). */
export function meterPeriodMs(samples: readonly MeterSample[], fallbackMs: number): number {
  if (samples.length < 2) return fallbackMs;
  // the last 256 intervals: recent enough, cheap enough
  const from = Math.max(1, samples.length - 256);
  const d: number[] = [];
  for (let i = from; i < samples.length; i++) d.push((samples[i] as MeterSample).tMs - (samples[i - 1] as MeterSample).tMs);
  d.sort((a, b) => a - b);
  const mid = d.length >> 1;
  return d.length % 2 === 1 ? (d[mid] as number) : ((d[mid - 1] as number) + (d[mid] as number)) / 2;
}

/** Index of the last reading at or before t (-1 when none). */
function lastAtOrBefore(s: readonly MeterSample[], t: number): number {
  let lo = 0;
  let hi = s.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((s[mid] as MeterSample).tMs <= t) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

const powerAt = (a: MeterSample, b: MeterSample, t: number): number => a.watts + ((b.watts - a.watts) * (t - a.tMs)) / (b.tMs - a.tMs);

/** Why the interval between readings a and b is unknown power (an explicit gap, or silence), or null. */
function badInterval(view: MeterTraceView, a: MeterSample, b: MeterSample, silentMs: number): string | null {
  if (view.gaps.some((g) => g.fromMs < b.tMs && (g.toMs ?? Number.POSITIVE_INFINITY) > a.tMs)) return "a meter gap (failed readings) inside the window";
  if (b.tMs - a.tMs > silentMs) return `the meter was silent for ${Math.round(b.tMs - a.tMs)} ms inside the window`;
  return null;
}

interface Integral {
  /** J over the good parts */
  energyJ: number;
  /** ms of good parts */
  goodMs: number;
  /** some part of [from, to] is in a gap or not covered */
  incomplete: string | null;
}

/** Trapezoid integral of the readings over [from, to], splitting good and bad time. */
function integrate(view: MeterTraceView, span: MeterSpan, silentMs: number): Integral {
  const s = view.samples;
  const out: Integral = { energyJ: 0, goodMs: 0, incomplete: null };
  const first = s[0];
  const last = s[s.length - 1];
  if (first === undefined || last === undefined || first.tMs > span.fromMs) {
    out.incomplete = "no meter reading at or before the window's start";
  } else if (last.tMs < span.toMs) {
    out.incomplete = "no meter reading at or after the window's end (yet)";
  }
  // a gap before the first reading (failures from the start) or after the last (a dead meter)
  const openEnded = view.gaps.some((g) => (g.fromMs === Number.NEGATIVE_INFINITY && first !== undefined && span.fromMs < first.tMs) || (g.toMs === null && last !== undefined && span.toMs > last.tMs));
  if (openEnded) out.incomplete = "the meter failed and no reading covers the window";
  const i0 = Math.max(0, lastAtOrBefore(s, span.fromMs));
  for (let i = i0; i + 1 < s.length; i++) {
    const a = s[i] as MeterSample;
    const b = s[i + 1] as MeterSample;
    if (a.tMs >= span.toMs) break;
    const lo = Math.max(a.tMs, span.fromMs);
    const hi = Math.min(b.tMs, span.toMs);
    if (hi <= lo) continue;
    const bad = badInterval(view, a, b, silentMs);
    if (bad !== null) {
      out.incomplete ??= bad;
      continue;
    }
    out.energyJ += ((powerAt(a, b, lo) + powerAt(a, b, hi)) / 2) * (hi - lo) / 1000;
    out.goodMs += hi - lo;
  }
  return out;
}

/** The run's mean power over its covered, gap-free time, W (null when none of it is). */
export function meterRunMeanW(view: MeterTraceView, run: MeterSpan, periodMs: number): number | null {
  const r = integrate(view, run, SILENT_PERIODS * periodMs);
  return r.goodMs > 0 ? r.energyJ / (r.goodMs / 1000) : null;
}

/**
 * Energy of one window by the rule above. `run` is the span the window belongs to (e.g. all
 * request windows of one measured configuration) with its mean power from meterRunMeanW();
 * without one a short window keeps its own integral.
 */
export function meterWindowEnergy(view: MeterTraceView, span: MeterSpan, opts: { periodMs: number; run?: { span: MeterSpan; meanW: number | null } | undefined }): MeterWindowResult {
  const periodMs = opts.periodMs;
  const durMs = span.toMs - span.fromMs;
  if (!(durMs >= 0)) return { energyJ: null, method: null, note: "the window ends before it starts" };
  const own = integrate(view, span, SILENT_PERIODS * periodMs);
  if (own.incomplete !== null) return { energyJ: null, method: null, note: own.incomplete };
  if (durMs >= SHORT_WINDOW_PERIODS * periodMs) return { energyJ: own.energyJ, method: "trapezoid", note: null };
  const short = `window of ${durMs.toFixed(1)} ms is shorter than ${SHORT_WINDOW_PERIODS} meter periods (${SHORT_WINDOW_PERIODS} x ${periodMs.toFixed(0)} ms)`;
  const run = opts.run;
  if (run !== undefined && run.span.toMs - run.span.fromMs > durMs) {
    if (run.meanW === null) return { energyJ: null, method: null, note: `${short} and the run has no gap-free meter time to average over` };
    return { energyJ: (run.meanW * durMs) / 1000, method: "run-mean", note: `${short}: the run's mean power (${run.meanW.toFixed(3)} W) x the window's duration` };
  }
  return { energyJ: own.energyJ, method: "trapezoid", note: `${short}: its own integral, with few readings in it` };
}
