/**
 * The adaptive batch size (BPS, adaptiveBatch.ts) with its state kept: told of every arrival and
 * every batch's service time, it answers the batch to wait for next. The rule and its fit are
 * adaptiveBatch.ts's pure functions; this holds their state and nothing else (the clock is the
 * caller's: times are passed in).
 */
import { arrivalRate, chooseBatch, DEFAULT_ADAPTIVE_BATCH, initialAdaptiveBatch, observeArrival, observeBatch, serviceModel, type AdaptiveBatchOptions, type AdaptiveBatchState } from "./adaptiveBatch.js";

export class AdaptiveBatcher {
  readonly options: AdaptiveBatchOptions;
  private s: AdaptiveBatchState = initialAdaptiveBatch();

  constructor(o: Partial<AdaptiveBatchOptions> = {}) {
    this.options = { ...DEFAULT_ADAPTIVE_BATCH, ...o };
  }

  /** An item arrived at `nowMs`. */
  arrival(nowMs: number): void {
    this.s = observeArrival(this.s, nowMs, this.options);
  }

  /** A batch of `size` items took `serviceMs`. */
  batch(size: number, serviceMs: number): void {
    this.s = observeBatch(this.s, size, serviceMs, this.options);
  }

  /**
   * The batch to wait for next; null until the fit (batches of two sizes) and the rate are
   * known: then the caller takes what has arrived, without waiting, and the batches it runs
   * (of whatever sizes the arrivals made) feed the fit.
   */
  target(): number | null {
    if (serviceModel(this.s) === null || arrivalRate(this.s) === null) return null;
    return chooseBatch(this.s, this.options);
  }

  get state(): AdaptiveBatchState {
    return this.s;
  }
}
