/**
 * When to stop repeating requests at one configuration: once the 95% confidence interval of the
 * mean latency is within `ciRel` of the mean (after at least `minRuns`), or at `maxRuns`, or
 * when `maxMs` of measuring have passed, whichever comes first.
 */
import { latencyStats } from "./latencyStats.js";

export interface StopRule {
  /** requests before the interval is looked at (default 10) */
  minRuns: number;
  /** hard upper bound on requests (default 1000) */
  maxRuns: number;
  /** target half-width of the 95% interval relative to the mean (default 0.05 = ±5%) */
  ciRel: number;
  /** time cap for the measured requests, ms (default 60000) */
  maxMs: number;
}

export const DEFAULT_STOP_RULE: StopRule = { minRuns: 10, maxRuns: 1000, ciRel: 0.05, maxMs: 60_000 };

export type StopReason = "ci" | "max-runs" | "time-cap";

/** null = go on; otherwise why to stop now. */
export function adaptiveStop(samples: readonly number[], elapsedMs: number, rule: StopRule): StopReason | null {
  if (samples.length >= rule.maxRuns) return "max-runs";
  if (samples.length >= Math.max(2, rule.minRuns) && latencyStats(samples).ciRel <= rule.ciRel) return "ci";
  // the cap stops only once there is something to report
  if (elapsedMs >= rule.maxMs && samples.length >= 1) return "time-cap";
  return null;
}
