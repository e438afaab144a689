import { setTimeout as sleepMs } from "node:timers/promises";
import { UsageError } from "../errors.js";

export interface TokenBucketOptions {
  /** refill rate, bytes per second */
  rateBytesPerS: number;
  /** bucket size, bytes: how much may pass at once after an idle spell (the bucket starts full) */
  burstBytes: number;
  /** clock in ms (default performance.now) */
  now?: (() => number) | undefined;
  /** wait in ms, rejecting when the signal aborts (default node:timers/promises setTimeout) */
  sleep?: ((ms: number, signal?: AbortSignal) => Promise<unknown>) | undefined;
}

/**
 * A token bucket that shapes a byte stream to a rate, for emulating a slow link inside the
 * process. `take(n)` reserves n bytes at once, so concurrent callers queue in call order like
 * packets on one link; the balance may go negative and a caller waits until it is paid back.
 * A take larger than the burst is allowed and simply waits longer.
 */
export class TokenBucket {
  readonly rateBytesPerS: number;
  readonly burstBytes: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<unknown>;
  private tokens: number;
  private last: number;

  constructor(opts: TokenBucketOptions) {
    if (!(opts.rateBytesPerS > 0) || !Number.isFinite(opts.rateBytesPerS)) throw new UsageError(`token bucket rate must be a positive number of bytes/s, got ${opts.rateBytesPerS}: give the link rate`);
    if (!(opts.burstBytes >= 0) || !Number.isFinite(opts.burstBytes)) throw new UsageError(`token bucket burst must be a non-negative number of bytes, got ${opts.burstBytes}`);
    this.rateBytesPerS = opts.rateBytesPerS;
    this.burstBytes = opts.burstBytes;
    this.now = opts.now ?? (() => performance.now());
    this.sleep = opts.sleep ?? ((ms, signal) => sleepMs(ms, undefined, signal === undefined ? {} : { signal }));
    this.tokens = opts.burstBytes;
    this.last = this.now();
  }

  /**
   * Wait until `bytes` may pass. Resolves with the delay it imposed, ms (0 when the bucket held
   * enough). Rejects with the signal's reason when it aborts; the bytes are then given back.
   */
  async take(bytes: number, signal?: AbortSignal): Promise<number> {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new UsageError(`token bucket take needs a non-negative byte count, got ${bytes}`);
    signal?.throwIfAborted();
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return 0;
    const waitMs = (-this.tokens / this.rateBytesPerS) * 1000;
    try {
      await this.sleep(waitMs, signal);
    } catch (err) {
      this.refill();
      this.tokens = Math.min(this.burstBytes, this.tokens + bytes);
      // node's timers reject with a bare AbortError: the caller gets what it aborted with
      throw signal?.aborted === true && signal.reason !== undefined ? signal.reason : err;
    }
    return waitMs;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) / 1000) * this.rateBytesPerS);
    this.last = t;
  }
}
