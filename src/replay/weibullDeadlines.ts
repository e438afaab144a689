/**
 * Deadlines drawn the way DynaSplit made their traces: n samples of a Weibull distribution of
 * shape k (scale 1), then rescaled linearly so that the smallest sample becomes `minMs` and the
 * largest `maxMs` (their VGG16 range 90.6-5026.8 ms, ViT 118.8-10287.6 ms, shape 1, i.e.
 * exponential). Samples by inversion with the seeded mulberry32: x = (-ln(1 - u))^(1/k).
 */
import { UsageError } from "../errors.js";
import { mulberry32 } from "../mulberry32.js";

export interface WeibullDeadlineOptions {
  /** Weibull shape k (> 0); 1 is DynaSplit's */
  shape: number;
  minMs: number;
  maxMs: number;
  /** how many deadlines (>= 2: the rescaling needs a smallest and a largest) */
  n: number;
  seed: number;
}

/** A Weibull(shape k, scale 1) draw from a uniform u in [0, 1), by inversion. */
export function weibullSample(u: number, shape: number): number {
  return Math.pow(-Math.log1p(-u), 1 / shape);
}

/** The deadlines, ms, in draw order. */
export function weibullDeadlines(o: WeibullDeadlineOptions): Float64Array {
  if (!(o.shape > 0) || !Number.isFinite(o.shape)) throw new UsageError(`--weibull-shape must be a number > 0 (DynaSplit used 1), got ${o.shape}`);
  if (!(o.minMs > 0) || !(o.maxMs > o.minMs) || !Number.isFinite(o.maxMs)) throw new UsageError(`--min-ms and --max-ms must satisfy 0 < min < max (e.g. 90.6 and 5026.8), got ${o.minMs} and ${o.maxMs}`);
  if (!Number.isInteger(o.n) || o.n < 2) throw new UsageError(`--n must be a whole number >= 2 (the rescaling maps the smallest draw to --min-ms and the largest to --max-ms), got ${o.n}`);
  const rng = mulberry32(o.seed);
  const xs = new Float64Array(o.n);
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < o.n; i++) {
    const x = weibullSample(rng(), o.shape);
    xs[i] = x;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  if (!(hi > lo)) throw new UsageError(`every draw was equal; use a larger --n or another --seed`);
  const a = (o.maxMs - o.minMs) / (hi - lo);
  // the ends land exactly on min and max (clamped against rounding)
  for (let i = 0; i < o.n; i++) xs[i] = Math.min(o.maxMs, Math.max(o.minMs, o.minMs + a * ((xs[i] as number) - lo)));
  return xs;
}
