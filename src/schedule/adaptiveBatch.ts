/**
 * Adaptive batch size (BPS, Hou et al. 2024: batch to the arrival rate): the smallest batch
 * that keeps up with the items arriving, within a latency bound where one is possible.
 *
 * The rule, with λ the arrival rate (items/ms, an EWMA of inter-arrival times) and
 * t(b) = a + c·b the service time of a batch of b (a least-squares fit over the recent batches):
 *
 *   keeps up      b / t(b) >= λ / headroom    (the stage stays below `headroom` utilisation)
 *   within bound  (b - 1) / λ + t(b) <= latencyBoundMs   (collecting b items, then serving them)
 *
 *   with a bound: the largest b in 1..maxBatch that keeps up within the bound (a larger batch
 *   spreads the fixed cost a over more items: less time and energy per item);
 *   without one (Infinity): the smallest b that keeps up (the least waiting);
 *   if none keeps up within the bound: the smallest that keeps up (throughput first: a queue
 *   that grows without end breaks every bound); if none keeps up at all: maxBatch.
 *
 * So the batch grows with the arrival rate, and with a bound it shrinks as arrivals slow down
 * (collecting b items takes (b - 1) / λ).
 *
 * Before `minBatches` batches of at least two sizes are seen (no fit yet) it answers 1. Pure:
 * state and clock are passed in; every function returns a new state.
 */

export interface AdaptiveBatchOptions {
  maxBatch: number;
  /** per-item latency bound, ms (Infinity: none) */
  latencyBoundMs: number;
  /** utilisation to stay under, 0..1 (default 0.9) */
  headroom: number;
  /** EWMA weight of a new inter-arrival time (default 0.2) */
  alpha: number;
  /** batches kept for the fit (default 32) */
  window: number;
}

export const DEFAULT_ADAPTIVE_BATCH: AdaptiveBatchOptions = { maxBatch: 8, latencyBoundMs: Number.POSITIVE_INFINITY, headroom: 0.9, alpha: 0.2, window: 32 };

export interface AdaptiveBatchState {
  /** EWMA of the time between arrivals, ms (null before two arrivals) */
  gapMs: number | null;
  lastArrivalMs: number | null;
  /** recent batches: size and service time */
  batches: ReadonlyArray<{ size: number; ms: number }>;
}

export const initialAdaptiveBatch = (): AdaptiveBatchState => ({ gapMs: null, lastArrivalMs: null, batches: [] });

/** An item arrived at `nowMs`. */
export function observeArrival(s: AdaptiveBatchState, nowMs: number, o: Pick<AdaptiveBatchOptions, "alpha"> = DEFAULT_ADAPTIVE_BATCH): AdaptiveBatchState {
  if (s.lastArrivalMs === null) return { ...s, lastArrivalMs: nowMs };
  const gap = Math.max(0, nowMs - s.lastArrivalMs);
  return { ...s, lastArrivalMs: nowMs, gapMs: s.gapMs === null ? gap : (1 - o.alpha) * s.gapMs + o.alpha * gap };
}

/** A batch of `size` items took `serviceMs`. */
export function observeBatch(s: AdaptiveBatchState, size: number, serviceMs: number, o: Pick<AdaptiveBatchOptions, "window"> = DEFAULT_ADAPTIVE_BATCH): AdaptiveBatchState {
  if (!(size >= 1) || !(serviceMs >= 0) || !Number.isFinite(serviceMs)) return s;
  return { ...s, batches: [...s.batches, { size, ms: serviceMs }].slice(-o.window) };
}

/** t(b) = a + c·b by least squares over the batches seen (null until two distinct sizes); a and c clamped at 0. */
export function serviceModel(s: AdaptiveBatchState): { fixedMs: number; perItemMs: number } | null {
  const n = s.batches.length;
  if (n < 2) return null;
  let sx = 0;
  let sy = 0;
  for (const b of s.batches) {
    sx += b.size;
    sy += b.ms;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (const b of s.batches) {
    sxx += (b.size - mx) ** 2;
    sxy += (b.size - mx) * (b.ms - my);
  }
  if (sxx === 0) return null;
  const perItemMs = Math.max(0, sxy / sxx);
  return { fixedMs: Math.max(0, my - perItemMs * mx), perItemMs };
}

/** The arrival rate, items/ms (null before two arrivals; Infinity when they came at once). */
export function arrivalRate(s: AdaptiveBatchState): number | null {
  if (s.gapMs === null) return null;
  return s.gapMs > 0 ? 1 / s.gapMs : Number.POSITIVE_INFINITY;
}

/** The batch size for the next batch (the rule above). */
export function chooseBatch(s: AdaptiveBatchState, o: AdaptiveBatchOptions = DEFAULT_ADAPTIVE_BATCH): number {
  const model = serviceModel(s);
  const rate = arrivalRate(s);
  if (model === null || rate === null) return 1;
  const t = (b: number): number => model.fixedMs + model.perItemMs * b;
  let smallest: number | null = null;
  let largestWithin: number | null = null;
  for (let b = 1; b <= o.maxBatch; b++) {
    if (b / Math.max(t(b), 1e-9) < rate / o.headroom) continue;
    smallest ??= b;
    const latency = (Number.isFinite(rate) ? (b - 1) / rate : 0) + t(b);
    if (latency <= o.latencyBoundMs) largestWithin = b;
  }
  if (smallest === null) return o.maxBatch;
  if (!Number.isFinite(o.latencyBoundMs)) return smallest;
  return largestWithin ?? smallest;
}
