/** Load signal a server reports with every response. */
export interface LoadSignal {
  queueDepth: number;
  inFlight: number;
  /** expected wait before a new request starts, ms */
  estimatedWaitMs: number;
}

export class OverloadedError extends Error {
  constructor(readonly retryAfterS: number) {
    super("server overloaded");
  }
}

/**
 * Bounded concurrency with a bounded FIFO queue: at most `maxConcurrent` jobs run, at most
 * `maxQueue` wait; beyond that `run` throws OverloadedError at once (the caller answers 503).
 * Service time is tracked as an EWMA to estimate the wait.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private ewmaMs = 0;

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueue: number,
  ) {}

  load(): LoadSignal {
    const queued = this.waiting.length;
    const waitMs = this.running < this.maxConcurrent ? 0 : ((queued + 1) * this.ewmaMs) / this.maxConcurrent;
    return { queueDepth: queued, inFlight: this.running, estimatedWaitMs: Math.round(waitMs * 10) / 10 };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxConcurrent) {
      if (this.waiting.length >= this.maxQueue) throw new OverloadedError(Math.max(1, Math.ceil(this.load().estimatedWaitMs / 1000)));
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    const t0 = performance.now();
    try {
      return await job();
    } finally {
      const ms = performance.now() - t0;
      this.ewmaMs = this.ewmaMs === 0 ? ms : 0.8 * this.ewmaMs + 0.2 * ms;
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}
