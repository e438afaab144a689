/**
 * Summary statistics of per-request latencies: mean, percentiles and a 95% confidence interval
 * of the mean (Student's t), the adaptive stopping rule's input.
 */

export interface LatencyStats {
  n: number;
  mean: number;
  /** sample standard deviation (0 for n < 2) */
  sd: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** 95% confidence interval of the mean: [lo, hi] (the mean twice for n < 2) */
  ci95: [number, number];
  /** half-width of ci95 relative to the mean (Infinity for n < 2, 0 when the mean is 0 and sd 0) */
  ciRel: number;
}

// two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom (standard table values)
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069,
  2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** t quantile for a two-sided 95% interval with `df` degrees of freedom (z = 1.96 beyond 120). */
export function t975(df: number): number {
  if (df < 1) return Infinity;
  if (df <= 30) return T975[df - 1] as number;
  if (df <= 40) return 2.021 + ((40 - df) / 10) * (2.042 - 2.021);
  if (df <= 60) return 2.0 + ((60 - df) / 20) * (2.021 - 2.0);
  if (df <= 120) return 1.98 + ((120 - df) / 60) * (2.0 - 1.98);
  return 1.96;
}

/** Percentile `q` (0..100) of ascending `sorted`, linear interpolation between closest ranks. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError("percentile of an empty sample");
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function latencyStats(samples: readonly number[]): LatencyStats {
  const n = samples.length;
  if (n === 0) throw new RangeError("latency statistics of an empty sample");
  const sorted = [...samples].sort((x, y) => x - y);
  const mean = samples.reduce((s, x) => s + x, 0) / n;
  const sd = n < 2 ? 0 : Math.sqrt(samples.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = n < 2 ? 0 : (t975(n - 1) * sd) / Math.sqrt(n);
  const ciRel = n < 2 ? Infinity : half === 0 ? 0 : mean === 0 ? Infinity : half / mean;
  return {
    n,
    mean,
    sd,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[n - 1] as number,
    ci95: [mean - half, mean + half],
    ciRel,
  };
}
