/**
 * The probability that a request meets its deadline, from a configuration's latency samples,
 * with a guard for few samples. Every policy reports it; the `splitwatt` policy chooses by it.
 *
 * With n samples x_i (the predicted ones: the measured samples moved by the cost model's shift,
 * plus `extraMs`, e.g. a frequency switch) and deadline D:
 *
 *   empirical  = #{ x_i <= D } / n
 *   n >= minSamples:  P = empirical
 *   n <  minSamples:  P = min(empirical, Phi((D - m) / sd)),
 *                     m = predicted mean + extraMs, sd = max(spreadMs, cvFloor x m)
 *
 * Why: n samples resolve a tail no thinner than 1/n, so below 1/(1 - target) samples (100 at a
 * 0.99 target) the empirical share cannot tell whether D is beyond the target quantile: a single
 * sample just under the deadline would read as P = 1. The normal tail fitted to the samples'
 * spread (floored at `cvFloor` of the mean, because two or three samples, or the run means of a
 * replayed pool, understate it) gives the missing tail; taking the minimum keeps the empirical
 * share where it is already the more pessimistic. `spreadMs` is the standard deviation of the
 * measured samples (the cost model moves them, it does not stretch them), or a wider one the
 * device shows now (candidates.ts spreadOf); with `tail` the fitted normal applies at any n
 * (the samples, however many, vary less than the device does now).
 */

export interface ProbabilityRule {
  /** at and above this many samples the empirical share alone is used */
  minSamples: number;
  /** floor of the fitted normal's standard deviation, as a fraction of the mean */
  cvFloor: number;
}

/** The default `minSamples` for a target: the fewest samples that resolve a 1 - target tail. */
export function samplesForTarget(target: number): number {
  return Math.max(1, Math.ceil(1 / (1 - target) - 1e-9));
}

/** Sample standard deviation (n - 1), 0 below two samples. */
export function sampleSpreadMs(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  let mean = 0;
  for (const x of xs) mean += x;
  mean /= n;
  let ss = 0;
  for (const x of xs) ss += (x - mean) * (x - mean);
  return Math.sqrt(ss / (n - 1));
}

/** The standard normal CDF (erfc by Chebyshev fitting, Numerical Recipes' erfcc: relative error < 1.2e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.5 * x);
  const erfc =
    t *
    Math.exp(
      -x * x -
        1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return z >= 0 ? 1 - erfc / 2 : erfc / 2;
}

/**
 * P(latency <= deadlineMs) by the rule above. `samples` are ascending; the predicted ones are
 * `max(0, s + shiftMs) + extraMs` (pass a Prediction's `samplesMs` with shiftMs 0, or the
 * measured samples with the cost model's `shiftMs`); with none, the mean stands for them.
 */
export function meetProbability(
  samples: readonly number[],
  shiftMs: number,
  meanMs: number,
  extraMs: number,
  spreadMs: number,
  deadlineMs: number,
  rule: ProbabilityRule,
  tail = false,
): number {
  let n = samples.length;
  let within: number;
  if (n === 0) {
    n = 1;
    within = meanMs + extraMs <= deadlineMs ? 1 : 0;
  } else {
    // ascending and the map is monotone: binary search for the first sample beyond the deadline
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (Math.max(0, (samples[mid] as number) + shiftMs) + extraMs <= deadlineMs) lo = mid + 1;
      else hi = mid;
    }
    within = lo;
  }
  const empirical = within / n;
  if ((n >= rule.minSamples && !tail) || empirical === 0) return empirical;
  const m = meanMs + extraMs;
  const sd = Math.max(spreadMs, rule.cvFloor * m);
  const parametric = sd > 0 ? normalCdf((deadlineMs - m) / sd) : m <= deadlineMs ? 1 : 0;
  return Math.min(empirical, parametric);
}
