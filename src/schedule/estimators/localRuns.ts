/**
 * The daemon's own record of how long the configurations that run all on the device take now:
 * per run key (localRunKey: the configuration without its codec and server target, which an
 * all-on-device run does not use), the last `window` run times, ms. A front holds a dozen or so
 * samples of each, taken while the optimizer measured; the daemon runs these configurations
 * hundreds of times, on the board as it is now. From `minSamples` runs on, and while the newest is younger than `freshMs`,
 * `snapshot` gives their samples (ascending), mean and standard deviation, and the `splitwatt`
 * policy prices such a configuration from them instead of from its pareto entry and the head
 * scale (candidates.ts observedOf): the probability of meeting a deadline is then that of this
 * device's own recent runs. A configuration whose runs went stale is priced from the front again.
 *
 * Only all-on-device runs are kept: their latency is the head's alone, so the record is the
 * whole of what a decision needs of them; a split configuration's latency also depends on the
 * link, which the link estimator follows. Pure: the clock is passed in.
 */
import { sampleSpreadMs } from "../policies/meetProbability.js";
import type { ObservedRuns } from "../policy.js";
import { WindowedMedian } from "./windowedMedian.js";

export type { ObservedRuns };

export interface LocalRunsOptions {
  /** runs kept per key (default 30) */
  window: number;
  /** runs needed before a key is priced from them (default 10) */
  minSamples: number;
  /** a key's runs count while its newest is younger than this, ms (default 60 s) */
  freshMs: number;
}

export const DEFAULT_LOCAL_RUNS: LocalRunsOptions = { window: 30, minSamples: 10, freshMs: 60_000 };

/** A key's runs: the window (its ring and age) and their view as last worked out (null: changed since). */
interface Runs {
  window: WindowedMedian;
  view: ObservedRuns | null;
}

export class LocalRuns {
  readonly options: LocalRunsOptions;
  private readonly runs = new Map<string, Runs>();
  private cached: { map: Map<string, ObservedRuns>; validUntilMs: number } | null = null;

  constructor(opts: Partial<LocalRunsOptions> = {}) {
    this.options = { ...DEFAULT_LOCAL_RUNS, ...opts };
    const o = this.options;
    if (!(Number.isInteger(o.window) && o.window >= 2)) throw new RangeError(`window must be a whole number >= 2, got ${o.window}`);
    if (!(Number.isInteger(o.minSamples) && o.minSamples >= 2 && o.minSamples <= o.window)) throw new RangeError(`minSamples must be a whole number in 2..window, got ${o.minSamples}`);
    if (!(o.freshMs > 0)) throw new RangeError(`freshMs must be > 0, got ${o.freshMs}`);
  }

  /** A run of `key` that took `ms` (non-finite or negative times are ignored). */
  observe(key: string, atMs: number, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0 || !Number.isFinite(atMs)) return;
    let r = this.runs.get(key);
    if (r === undefined) {
      // only the ring and the age of its window are used: no median, no decay
      r = { window: new WindowedMedian(this.options.window, { freshMs: this.options.freshMs, halfLifeMs: 0, prior: null, blend: "linear" }), view: null };
      this.runs.set(key, r);
    }
    r.window.observe(atMs, ms);
    r.view = null;
    this.cached = null;
  }

  /**
   * The keys with at least minSamples runs whose newest is fresh at `nowMs`. The same Map object
   * comes back until a run is observed or a key goes stale, so a caller can tell "unchanged" by
   * identity.
   */
  snapshot(nowMs: number): ReadonlyMap<string, ObservedRuns> {
    if (this.cached !== null && nowMs < this.cached.validUntilMs) return this.cached.map;
    const map = new Map<string, ObservedRuns>();
    let validUntilMs = Number.POSITIVE_INFINITY;
    for (const [key, r] of this.runs) {
      const values = r.window.values();
      const ageMs = r.window.ageMs(nowMs) ?? Number.POSITIVE_INFINITY;
      if (values.length < this.options.minSamples || ageMs >= this.options.freshMs) continue;
      validUntilMs = Math.min(validUntilMs, nowMs + this.options.freshMs - ageMs);
      if (r.view === null) {
        const samplesMs = [...values].sort((a, b) => a - b);
        r.view = { samplesMs, meanMs: samplesMs.reduce((s, v) => s + v, 0) / samplesMs.length, spreadMs: sampleSpreadMs(samplesMs) };
      }
      map.set(key, r.view);
    }
    this.cached = { map, validUntilMs };
    return map;
  }
}
