/** Load signal a server reports with every response. */
export interface LoadSignal {
  queueDepth: number;
  inFlight: number;
  /** expected wait before a new request starts, ms */
  estimatedWaitMs: number;
}

export class OverloadedError extends Error {
  constructor(
    readonly retryAfterS: number,
    readonly reason = "queue full",
  ) {
    super(`server overloaded: ${reason}`);
  }
}

/** A request's place in the server: taken before its body is read, left when it is done. */
export interface AdmissionTicket {
  /** Run `job` in one of the `maxConcurrent` slots, waiting (FIFO) for one. At most once per ticket. */
  run<T>(job: () => Promise<T>): Promise<T>;
  /** Give the place back (idempotent); a ticket that ran a job leaves when the job ends. */
  leave(): void;
}

/**
 * Bounded concurrency with a bounded FIFO queue. A request takes a ticket when it arrives, before
 * its body is read: at most `maxConcurrent + maxQueue` tickets are out (reading a body, waiting or
 * running), beyond that `enter` throws OverloadedError at once (the caller answers 503) and the
 * body is never buffered. At most `maxConcurrent` jobs run. Service time is tracked as an EWMA to
 * estimate the wait.
 */
export class Admission {
  private running = 0;
  private admitted = 0;
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

  /** Seconds a refused client should wait before retrying (at least 1). */
  retryAfterS(): number {
    return Math.max(1, Math.ceil(this.load().estimatedWaitMs / 1000));
  }

  enter(): AdmissionTicket {
    if (this.admitted >= this.maxConcurrent + this.maxQueue) throw new OverloadedError(this.retryAfterS());
    this.admitted++;
    let left = false;
    let ran = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      this.admitted--;
    };
    return {
      leave,
      run: async <T>(job: () => Promise<T>): Promise<T> => {
        if (ran || left) throw new Error("an admission ticket runs one job");
        ran = true;
        try {
          return await this.slot(job);
        } finally {
          leave();
        }
      },
    };
  }

  /** enter + run + leave, for a job that has nothing to read first. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    return this.enter().run(job);
  }

  /**
   * Run `job` in a slot without a ticket of its own: a batch of requests whose tickets were
   * taken when they arrived (the batcher); their tickets are left by their owners.
   */
  runInSlot<T>(job: () => Promise<T>): Promise<T> {
    return this.slot(job);
  }

  private async slot<T>(job: () => Promise<T>): Promise<T> {
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
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
