/**
 * How fast the device runs heads now compared with when the front was measured: the windowed
 * median (windowedMedian.ts) of
 *
 *   ratio = the head's time in this request / the head's time in the configuration's pareto entry
 *
 * over recent requests whose configuration has a measured head of at least `minHeadMs` (shorter
 * heads are mostly overhead and say little), each ratio clamped to [1/`maxRatio`, `maxRatio`].
 * The policies predict every head at `headScale` x its measured time (costModel.ts): a board
 * that throttles when hot, another process on it, or a daemon that runs its heads differently
 * from the profiler, is then seen as it is instead of as it was profiled. With no recent sample
 * the estimate decays geometrically to 1 (as measured). The estimate is at least `minScale`
 * (default 1): a device that runs faster than profiled is predicted as profiled, the safe side
 * for deadlines (a front measured on a slower setting, or a synthetic one, does not make every
 * configuration look faster than it was measured). Pure: the clock is passed in.
 *
 * `headCv`: how much heads vary now, the coefficient of variation (sample standard deviation /
 * mean) of the last `spreadWindow` ratios, once there are `minSpreadSamples` of them and while
 * the newest is fresh (else null: as the front's samples vary). A front measures each head a
 * dozen times or so; the daemon sees hundreds, and a board that is sometimes busy, hot or
 * throttled shows a wider spread than the profiler's samples did. The policies price P with it
 * (candidates.ts spreadOf) when it is the wider.
 */
import { WindowedMedian } from "./windowedMedian.js";

export interface DeviceSpeedOptions {
  /** ratios in the median (default 9) */
  window: number;
  /** heads measured shorter than this, ms, are not observed (default 2) */
  minHeadMs: number;
  /** a ratio is clamped to [1 / maxRatio, maxRatio] (default 10) */
  maxRatio: number;
  /** full confidence this long after the newest sample, ms (default 60 s) */
  freshMs: number;
  /** then the estimate halves its distance to 1 every halfLifeMs (default 60 s) */
  halfLifeMs: number;
  /** the estimate's floor (default 1: never faster than as measured) */
  minScale: number;
  /** ratios in the spread (default 30) */
  spreadWindow: number;
  /** the spread is known from this many ratios on (default 8) */
  minSpreadSamples: number;
}

export const DEFAULT_DEVICE_SPEED: DeviceSpeedOptions = { window: 9, minHeadMs: 2, maxRatio: 10, freshMs: 60_000, halfLifeMs: 60_000, minScale: 1, spreadWindow: 30, minSpreadSamples: 8 };

export interface DeviceSpeedEstimate {
  /** head time now over as measured (1: as measured) */
  headScale: number;
  /** the heads' coefficient of variation now (null: too few ratios, or stale) */
  headCv: number | null;
  samples: number;
  /** ms since the newest sample, null before the first */
  ageMs: number | null;
}

export class DeviceSpeed {
  readonly options: DeviceSpeedOptions;
  private readonly ratios: WindowedMedian;
  /** the last spreadWindow ratios, for headCv (its median is not used) */
  private readonly recent: WindowedMedian;

  constructor(opts: Partial<DeviceSpeedOptions> = {}) {
    this.options = { ...DEFAULT_DEVICE_SPEED, ...opts };
    const o = this.options;
    if (!(o.maxRatio >= 1)) throw new RangeError(`maxRatio must be >= 1, got ${o.maxRatio}`);
    if (!(Number.isInteger(o.spreadWindow) && o.spreadWindow >= 2)) throw new RangeError(`spreadWindow must be a whole number >= 2, got ${o.spreadWindow}`);
    const stale = { freshMs: o.freshMs, halfLifeMs: o.halfLifeMs, prior: 1, blend: "geometric" } as const;
    this.ratios = new WindowedMedian(o.window, stale);
    this.recent = new WindowedMedian(o.spreadWindow, stale);
  }

  /** A head that took `headMs` here, of a configuration measured at `measuredHeadMs`; returns the ratio taken, or null when it says nothing. */
  observe(atMs: number, headMs: number, measuredHeadMs: number | null): number | null {
    const o = this.options;
    if (measuredHeadMs === null || !(measuredHeadMs >= o.minHeadMs) || !(headMs > 0) || !Number.isFinite(headMs)) return null;
    const ratio = Math.min(o.maxRatio, Math.max(1 / o.maxRatio, headMs / measuredHeadMs));
    this.ratios.observe(atMs, ratio);
    this.recent.observe(atMs, ratio);
    return ratio;
  }

  estimate(nowMs: number): DeviceSpeedEstimate {
    const e = this.ratios.estimate(nowMs);
    const fresh = e.ageMs !== null && e.ageMs <= this.options.freshMs;
    return { headScale: Math.max(this.options.minScale, e.value ?? 1), headCv: fresh ? this.recent.cv(this.options.minSpreadSamples) : null, samples: e.samples, ageMs: e.ageMs };
  }
}
