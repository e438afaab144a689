/**
 * The device queue: head executions and CPU-frequency changes run through it, earliest
 * absolute deadline first (ties: first pushed first), `concurrency` at a time (1 by default:
 * the device runs one head at a time, and a frequency change must not overlap one).
 *
 * - Bounded: beyond `maxQueued` waiting jobs, `push` rejects at once (unless `overLimit`) with a QueueFullError
 *   carrying `retryAfterS` = ceil((waiting + running) x mean job time / concurrency), at least
 *   1 s (the daemon answers 429 with Retry-After).
 * - Cancellation: a job whose signal aborts while it waits is removed and its promise rejects
 *   with the signal's reason; a running job sees the abort through the signal it is given.
 * - Nothing is lost: every push settles exactly once (the job's result, its error, the
 *   abort, QueueFullError, or QueueClosedError after `close()`); `drained()` resolves once
 *   nothing waits or runs.
 *
 * Jobs start on a microtask, so the jobs pushed in one tick start in deadline order. The clock
 * (for job times) is passed in.
 */
import { SplitwattError } from "../errors.js";

/** The queue is full: try again after `retryAfterS` seconds. */
export class QueueFullError extends SplitwattError {
  constructor(
    readonly retryAfterS: number,
    readonly queued: number,
  ) {
    super("E_QUEUE_FULL", `the device queue is full (${queued} waiting); retry after ${retryAfterS} s`);
  }
}

/** The queue no longer accepts jobs (the daemon is shutting down). */
export class QueueClosedError extends SplitwattError {
  constructor() {
    super("E_QUEUE_CLOSED", "the device queue is closed: the daemon is shutting down; send the request to another instance or retry after it restarts");
  }
}

export interface DeviceQueueOptions {
  /** jobs waiting at most (default 64) */
  maxQueued: number;
  /** jobs running at once (default 1) */
  concurrency: number;
  /** the clock job times are measured on, ms */
  clock: () => number;
  /** mean job time assumed before any job finished, ms (default 50) */
  initialJobMs: number;
}

export const DEFAULT_DEVICE_QUEUE: Omit<DeviceQueueOptions, "clock"> = { maxQueued: 64, concurrency: 1, initialJobMs: 50 };

export interface JobOptions {
  /** absolute deadline on the queue's clock, ms: the order */
  deadlineMs: number;
  signal?: AbortSignal | undefined;
  /** what it is, for the stats (e.g. "head", "frequency") */
  kind?: string | undefined;
  /**
   * accepted even when `maxQueued` jobs wait: for a caller that bounds its own jobs (a stream's
   * pipeline has one head batch at a time), so that a full queue delays its work instead of
   * failing items already accepted
   */
  overLimit?: boolean | undefined;
}

export interface QueueStats {
  queued: number;
  running: number;
  maxQueued: number;
  concurrency: number;
  completed: number;
  failed: number;
  rejected: number;
  cancelled: number;
  /** exponentially weighted mean job time, ms */
  meanJobMs: number;
  /** jobs finished per kind */
  byKind: Record<string, number>;
  closed: boolean;
}

interface Waiting {
  deadlineMs: number;
  seq: number;
  kind: string;
  start: () => void;
  cancelled: boolean;
}

/** The signal a job without one is given (never aborted; one for all, it holds no listeners' state). */
const NEVER_ABORTED = new AbortController().signal;

const before = (a: Waiting, b: Waiting): boolean => a.deadlineMs < b.deadlineMs || (a.deadlineMs === b.deadlineMs && a.seq < b.seq);

export class DeviceQueue {
  readonly options: DeviceQueueOptions;
  private readonly heap: Waiting[] = [];
  private waiting = 0;
  private running = 0;
  private seq = 0;
  private meanJobMs: number;
  private pumpScheduled = false;
  private closed = false;
  private readonly counts = { completed: 0, failed: 0, rejected: 0, cancelled: 0 };
  private readonly byKind: Record<string, number> = {};
  private idleWaiters: Array<() => void> = [];

  constructor(opts: Partial<DeviceQueueOptions> = {}) {
    this.options = { ...DEFAULT_DEVICE_QUEUE, clock: () => performance.now(), ...opts };
    const o = this.options;
    if (!(Number.isInteger(o.maxQueued) && o.maxQueued >= 0)) throw new RangeError(`maxQueued must be a whole number >= 0, got ${o.maxQueued}`);
    if (!(Number.isInteger(o.concurrency) && o.concurrency >= 1)) throw new RangeError(`concurrency must be a whole number >= 1, got ${o.concurrency}`);
    this.meanJobMs = o.initialJobMs;
  }

  /** Seconds a client should wait before retrying when the queue is full. */
  retryAfterS(): number {
    return Math.max(1, Math.ceil(((this.waiting + this.running) * this.meanJobMs) / this.options.concurrency / 1000));
  }

  /** Run `job` in deadline order; settles with its result or error, or rejects (full, closed, cancelled). */
  push<T>(job: (signal: AbortSignal) => Promise<T> | T, opts: JobOptions): Promise<T> {
    if (this.closed) {
      this.counts.rejected++;
      return Promise.reject(new QueueClosedError());
    }
    if (opts.signal?.aborted) {
      this.counts.cancelled++;
      return Promise.reject(opts.signal.reason);
    }
    if (this.waiting >= this.options.maxQueued && opts.overLimit !== true) {
      this.counts.rejected++;
      return Promise.reject(new QueueFullError(this.retryAfterS(), this.waiting));
    }
    return new Promise<T>((resolve, reject) => {
      const outer = opts.signal;
      const kind = opts.kind ?? "job";
      const onAbort = (): void => {
        if (!w.cancelled && queued) {
          // still waiting: take it out and answer now
          w.cancelled = true;
          queued = false;
          this.waiting--;
          this.counts.cancelled++;
          reject(outer?.reason);
          this.compact();
          this.notifyIdle();
        }
        // running: the job sees the abort through `outer`, the signal it was given
      };
      let queued = true;
      const w: Waiting = {
        deadlineMs: opts.deadlineMs,
        seq: this.seq++,
        kind,
        cancelled: false,
        start: () => {
          queued = false;
          this.waiting--;
          this.running++;
          const t0 = this.options.clock();
          const finish = (ok: boolean): void => {
            outer?.removeEventListener("abort", onAbort);
            this.running--;
            const ms = this.options.clock() - t0;
            if (Number.isFinite(ms) && ms >= 0) this.meanJobMs = 0.8 * this.meanJobMs + 0.2 * ms;
            if (ok) this.counts.completed++;
            else this.counts.failed++;
            this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
            this.schedulePump();
            this.notifyIdle();
          };
          let result: Promise<T>;
          try {
            result = Promise.resolve(job(outer ?? NEVER_ABORTED));
          } catch (e) {
            result = Promise.reject(e);
          }
          result.then(
            (v) => {
              finish(true);
              resolve(v);
            },
            (e: unknown) => {
              finish(false);
              reject(e);
            },
          );
        },
      };
      outer?.addEventListener("abort", onAbort, { once: true });
      this.waiting++;
      this.heapPush(w);
      this.schedulePump();
    });
  }

  /** Stop accepting jobs; those accepted still run. */
  close(): void {
    this.closed = true;
  }

  /** Resolves once nothing waits or runs. */
  drained(): Promise<void> {
    if (this.waiting === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stats(): QueueStats {
    return {
      queued: this.waiting,
      running: this.running,
      maxQueued: this.options.maxQueued,
      concurrency: this.options.concurrency,
      ...this.counts,
      meanJobMs: this.meanJobMs,
      byKind: { ...this.byKind },
      closed: this.closed,
    };
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      while (this.running < this.options.concurrency) {
        const w = this.heapPop();
        if (w === undefined) break;
        if (!w.cancelled) w.start();
      }
    });
  }

  private notifyIdle(): void {
    if (this.waiting !== 0 || this.running !== 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of waiters) f();
  }

  /** Drop cancelled entries once they outnumber the waiting ones (they are otherwise skipped when popped). */
  private compact(): void {
    if (this.heap.length <= 2 * this.waiting + 16) return;
    const live = this.heap.filter((w) => !w.cancelled);
    this.heap.length = 0;
    for (const w of live) this.heapPush(w);
  }

  private heapPush(w: Waiting): void {
    const h = this.heap;
    h.push(w);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >>> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private heapPop(): Waiting | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (top === undefined || last === undefined || h.length === 0) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}
