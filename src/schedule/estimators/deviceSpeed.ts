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
}

export const DEFAULT_DEVICE_SPEED: DeviceSpeedOptions = { window: 9, minHeadMs: 2, maxRatio: 10, freshMs: 60_000, halfLifeMs: 60_000, minScale: 1 };

export interface DeviceSpeedEstimate {
  /** head time now over as measured (1: as measured) */
  headScale: number;
  samples: number;
  /** ms since the newest sample, null before the first */
  ageMs: number | null;
}

export class DeviceSpeed {
  readonly options: DeviceSpeedOptions;
  private readonly ratios: WindowedMedian;

  constructor(opts: Partial<DeviceSpeedOptions> = {}) {
    this.options = { ...DEFAULT_DEVICE_SPEED, ...opts };
    const o = this.options;
    if (!(o.maxRatio >= 1)) throw new RangeError(`maxRatio must be >= 1, got ${o.maxRatio}`);
    this.ratios = new WindowedMedian(o.window, { freshMs: o.freshMs, halfLifeMs: o.halfLifeMs, prior: 1, blend: "geometric" });
  }

  /** A head that took `headMs` here, of a configuration measured at `measuredHeadMs`; returns the ratio taken, or null when it says nothing. */
  observe(atMs: number, headMs: number, measuredHeadMs: number | null): number | null {
    const o = this.options;
    if (measuredHeadMs === null || !(measuredHeadMs >= o.minHeadMs) || !(headMs > 0) || !Number.isFinite(headMs)) return null;
    const ratio = Math.min(o.maxRatio, Math.max(1 / o.maxRatio, headMs / measuredHeadMs));
    this.ratios.observe(atMs, ratio);
    return ratio;
  }

  estimate(nowMs: number): DeviceSpeedEstimate {
    const e = this.ratios.estimate(nowMs);
    return { headScale: Math.max(this.options.minScale, e.value ?? 1), samples: e.samples, ageMs: e.ageMs };
  }
}
