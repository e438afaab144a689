/**
 * Quantiles of a stream in bounded memory. Exact while the stream has at most `maxDistinct`
 * distinct values (a replay without conditions traces draws from a pool's finite set of runs,
 * so its figures are exact): a count per value. Past that, a log-bucketed histogram with
 * relative accuracy `alpha` (every quantile within a factor 1 +/- alpha of a value of the
 * stream at that rank; the DDSketch construction): bucket i holds (gamma^(i-1), gamma^i],
 * gamma = (1 + alpha) / (1 - alpha), and stands for 2 gamma^i / (gamma + 1). Zero (and
 * negative values, clamped to zero) get a bucket of their own.
 *
 * Quantiles interpolate linearly between the closest ranks (as the pareto file's percentiles):
 * q at position q x (n - 1) of the sorted stream.
 */
export class QuantileSketch {
  private readonly maxDistinct: number;
  private readonly logGamma: number;
  private readonly gamma: number;
  /** value -> its count (a box, so a repeated value costs one lookup) */
  private exact: Map<number, { n: number }> | null = new Map();
  private buckets: Map<number, number> | null = null;
  private zeros = 0;
  private n = 0;
  private minV = Infinity;
  private maxV = -Infinity;

  constructor(opts: { maxDistinct?: number; alpha?: number } = {}) {
    this.maxDistinct = opts.maxDistinct ?? 65_536;
    const alpha = opts.alpha ?? 0.001;
    this.gamma = (1 + alpha) / (1 - alpha);
    this.logGamma = Math.log(this.gamma);
  }

  get count(): number {
    return this.n;
  }

  /** true while every quantile is exact */
  get isExact(): boolean {
    return this.exact !== null;
  }

  add(x: number, times = 1): void {
    this.n += times;
    if (x < this.minV) this.minV = x;
    if (x > this.maxV) this.maxV = x;
    const ex = this.exact;
    if (ex !== null) {
      const box = ex.get(x);
      if (box !== undefined) box.n += times;
      else {
        ex.set(x, { n: times });
        if (ex.size > this.maxDistinct) this.toBuckets();
      }
      return;
    }
    this.addBucket(x, times);
  }

  /** Add everything another sketch holds. */
  merge(o: QuantileSketch): void {
    for (const [v, c] of o.entries()) this.add(v, c);
  }

  private addBucket(x: number, times: number): void {
    if (x <= 0) {
      this.zeros += times;
      return;
    }
    const i = Math.ceil(Math.log(x) / this.logGamma);
    const b = this.buckets as Map<number, number>;
    b.set(i, (b.get(i) ?? 0) + times);
  }

  private toBuckets(): void {
    const ex = this.exact as Map<number, { n: number }>;
    this.exact = null;
    this.buckets = new Map();
    for (const [v, c] of ex) this.addBucket(v, c.n);
  }

  /** (value, count) ascending: the exact values, or the buckets' representatives. */
  entries(): [number, number][] {
    if (this.exact !== null) return [...this.exact].map(([v, c]): [number, number] => [v, c.n]).sort((a, b) => a[0] - b[0]);
    const out: [number, number][] = [];
    if (this.zeros > 0) out.push([0, this.zeros]);
    const keys = [...(this.buckets as Map<number, number>).keys()].sort((a, b) => a - b);
    for (const i of keys) out.push([(2 * Math.pow(this.gamma, i)) / (this.gamma + 1), (this.buckets as Map<number, number>).get(i) as number]);
    return out;
  }

  /** The q-quantiles (each in 0..1) at once; null when empty. */
  quantiles(qs: readonly number[]): (number | null)[] {
    if (this.n === 0) return qs.map(() => null);
    const exact = this.exact !== null;
    const es = this.entries();
    // cumulative counts: rank r (0-based) is in entry j when cum[j-1] <= r < cum[j]
    const cum = new Float64Array(es.length);
    let c = 0;
    es.forEach(([, k], j) => {
      c += k;
      cum[j] = c;
    });
    const valueAt = (r: number): number => {
      let lo = 0;
      let hi = es.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((cum[mid] as number) > r) hi = mid;
        else lo = mid + 1;
      }
      const v = (es[lo] as [number, number])[0];
      if (exact) return v;
      // bucket representatives may fall outside the seen range: clamp to it
      return Math.min(this.maxV, Math.max(Math.max(0, this.minV), v));
    };
    return qs.map((q) => {
      const pos = Math.min(1, Math.max(0, q)) * (this.n - 1);
      const lo = Math.floor(pos);
      const a = valueAt(lo);
      const b = valueAt(Math.ceil(pos));
      return a + (b - a) * (pos - lo);
    });
  }

  quantile(q: number): number | null {
    return this.quantiles([q])[0] ?? null;
  }

  get min(): number | null {
    return this.n === 0 ? null : this.minV;
  }

  get max(): number | null {
    return this.n === 0 ? null : this.maxV;
  }
}
