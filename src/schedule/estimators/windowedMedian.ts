/**
 * A robust, staleness-aware estimate of one quantity: the median of the last `window`
 * observations, which a single outlier cannot move beyond the range of the others and which
 * follows a step change within (window + 1) / 2 observations. Pure: the clock is passed in.
 *
 * Staleness, from the age of the newest observation:
 *
 *   confidence = 1                                    while age <= freshMs
 *              = 2^(-(age - freshMs) / halfLifeMs)    after
 *   value      = the median                           with no prior: while confidence >= 0.5,
 *                                                     then null (unknown)
 *              = prior + confidence x (median - prior)       with a prior (blend "linear")
 *              = prior x (median / prior)^confidence         (blend "geometric", for rates)
 *
 * With no observation at all the value is the prior (null without one) at confidence 0.
 */
import { sampleSpreadMs } from "../policies/meetProbability.js";

export interface StaleRule {
  /** the estimate is taken at full confidence this long after the newest observation, ms */
  freshMs: number;
  /** after that, its confidence halves every halfLifeMs */
  halfLifeMs: number;
  /** what it decays to (null: unknown) */
  prior: number | null;
  /** how it decays to a prior: linearly, or geometrically (for rates, where 100 -> 5 is a factor) */
  blend: "linear" | "geometric";
}

export interface Estimate {
  value: number | null;
  /** ms since the newest observation, null before the first */
  ageMs: number | null;
  /** observations in the window */
  samples: number;
  /** 1 while fresh, halving every half-life after */
  confidence: number;
}

export class WindowedMedian {
  private readonly ring: number[] = [];
  private next = 0;
  private newestAtMs = Number.NEGATIVE_INFINITY;
  private readonly scratch: number[] = [];
  /** the median of the window as it is now (undefined: not computed since the last observation) */
  private medianNow: number | null | undefined = undefined;

  constructor(
    readonly window: number,
    readonly stale: StaleRule,
  ) {
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`window must be a whole number >= 1, got ${window}`);
  }

  /** Add an observation (non-finite values are ignored). */
  observe(atMs: number, value: number): void {
    if (!Number.isFinite(value) || !Number.isFinite(atMs)) return;
    if (this.ring.length < this.window) this.ring.push(value);
    else this.ring[this.next] = value;
    this.next = (this.next + 1) % this.window;
    if (atMs > this.newestAtMs) this.newestAtMs = atMs;
    this.medianNow = undefined;
  }

  /** The median of the window, null when empty. */
  median(): number | null {
    if (this.medianNow === undefined) this.medianNow = this.computeMedian();
    return this.medianNow;
  }

  private computeMedian(): number | null {
    const n = this.ring.length;
    if (n === 0) return null;
    const xs = this.scratch;
    xs.length = 0;
    for (const x of this.ring) xs.push(x);
    xs.sort((a, b) => a - b);
    const mid = n >>> 1;
    return n % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  }

  /** Sample standard deviation / mean of the window, null below `minSamples` (at least 2) observations. */
  cv(minSamples = 2): number | null {
    const xs = this.ring;
    if (xs.length < Math.max(2, minSamples)) return null;
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return mean > 0 ? sampleSpreadMs(xs) / mean : null;
  }

  /** The observations in the window (oldest first once it has wrapped, or not: no order is promised). */
  values(): readonly number[] {
    return this.ring;
  }

  /** ms since the newest observation at `nowMs`, null before the first. */
  ageMs(nowMs: number): number | null {
    return this.ring.length === 0 ? null : Math.max(0, nowMs - this.newestAtMs);
  }

  /** The last value observed, null when empty. */
  newest(): number | null {
    return this.ring.length === 0 ? null : (this.ring[(this.next + this.window - 1) % this.window] as number);
  }

  /** The smallest value in the window, null when empty. */
  min(): number | null {
    return this.ring.length === 0 ? null : Math.min(...this.ring);
  }

  estimate(nowMs: number): Estimate {
    const m = this.median();
    const { prior } = this.stale;
    const ageMs = this.ageMs(nowMs);
    if (m === null || ageMs === null) return { value: prior, ageMs: null, samples: 0, confidence: 0 };
    const over = ageMs - this.stale.freshMs;
    const confidence = over <= 0 ? 1 : this.stale.halfLifeMs > 0 ? 2 ** (-over / this.stale.halfLifeMs) : 0;
    let value: number | null;
    if (prior === null) value = confidence >= 0.5 ? m : null;
    else if (confidence === 1) value = m;
    else if (this.stale.blend === "geometric" && prior > 0 && m > 0) value = prior * (m / prior) ** confidence;
    else value = prior + confidence * (m - prior);
    return { value, ageMs, samples: this.ring.length, confidence };
  }
}
