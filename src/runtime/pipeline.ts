/**
 * A stream of items through two overlapping stages (PipeSC's pipelined split computing): the
 * head stage (the device) works on batches of up to `deviceBatch` items while up to
 * `tailConcurrency` groups of up to `serverBatch` items are in the tail stage (on the wire and at
 * the server). The batch sizes are independent: items are handed over one by one between the
 * stages and regrouped.
 *
 * Rules:
 * - Bounded memory: at most `inputCapacity` items wait for the head, `deviceBatch` are in it,
 *   `handoverCapacity` wait between the stages and `tailConcurrency x serverBatch` are in the
 *   tail stage. The head does not start a batch the hand-over queue has no room for, and
 *   `submit` waits while the input queue is full: back-pressure reaches the producer.
 * - Batching: a stage takes up to its batch size from its queue when it is free; with
 *   `batchDelayMs` > 0 a partial batch waits up to that long (from its first item's arrival) to
 *   fill, the two knobs of Triton's dynamic batcher. After `close()` partial batches go at once.
 * - Order: every item's result is its own promise; `map` yields them in input order.
 * - Shutdown: `close()` refuses new items (PipelineClosedError, also to those waiting for a
 *   place) and resolves once every accepted item has its result: nothing accepted is lost.
 * - Server failure: a tail group that fails with an error `isServerFailure` accepts goes to
 *   `fallback` (local execution), and so does every later group: the stream carries on without
 *   the server. Other errors fail the group's items.
 *
 * Stage work is passed in (pipelineExecutor.ts binds it to the split executor), and so is the
 * clock; the pipeline itself does no inference.
 */
import { SplitwattError } from "../errors.js";

/** The pipeline no longer accepts items (it was closed: shutting down). */
export class PipelineClosedError extends SplitwattError {
  constructor() {
    super("E_QUEUE_CLOSED", "the pipeline is closed (shutting down): items already accepted still get their results; send new ones after a restart");
  }
}

export interface PipelineStages<I, M, O> {
  /** device stage: up to deviceBatch inputs -> one intermediate per input, in order */
  head(inputs: I[]): Promise<M[]>;
  /** tail stage: up to serverBatch intermediates -> one output per intermediate, in order; null: there is none (everything ran in the head, M is O) */
  tail: ((mids: M[]) => Promise<O[]>) | null;
  /** where a group goes once the tail stage's server failed (local execution) */
  fallback?: ((mids: M[]) => Promise<O[]>) | undefined;
  /** whether a tail error is the server's failure (fallback) rather than the items' own (default: every error) */
  isServerFailure?: ((err: unknown) => boolean) | undefined;
  /** told once, when the tail stage switches to the fallback */
  onFallback?: ((cause: unknown) => void) | undefined;
}

export interface PipelineOptions {
  deviceBatch: number;
  serverBatch: number;
  /** tail groups in flight at once (default 2) */
  tailConcurrency?: number | undefined;
  /** items waiting for the head stage (default 2 x deviceBatch) */
  inputCapacity?: number | undefined;
  /** items waiting between the stages (default 2 x max(deviceBatch, serverBatch)) */
  handoverCapacity?: number | undefined;
  /** how long a partial batch waits to fill, ms (default 0: take what is there) */
  batchDelayMs?: number | undefined;
  /** clock, ms (default performance.now) */
  now?: (() => number) | undefined;
  /**
   * the head batch to take now, 1..deviceBatch (default deviceBatch): at most this many, and with
   * batchDelayMs > 0 a partial batch waits for this many (an adaptive batch size that follows
   * the arrival rate, BPS: src/schedule/adaptiveBatcher.ts); null: no target yet, take what has
   * arrived (up to deviceBatch) without waiting. deviceBatch stays the largest batch and the bound
   */
  headBatchTarget?: (() => number | null) | undefined;
}

/** One item's result. */
export interface PipelineResult<O> {
  value: O;
  /** from acceptance to result, ms */
  latencyMs: number;
  /** its tail ran in the fallback (the server had failed) */
  fallback: boolean;
}

export interface StageCounts {
  input: number;
  head: number;
  handover: number;
  tail: number;
  total: number;
}

export interface PipelineStats {
  accepted: number;
  /** items with a result (value or error) */
  settled: number;
  failed: number;
  /** items whose tail ran in the fallback */
  fellBack: number;
  /** items per stage now */
  now: StageCounts;
  /** the most items seen per stage at once */
  peak: StageCounts;
  /** the bound per stage */
  capacity: StageCounts;
  /** head batches and tail groups run, with the items in them */
  headBatches: number[];
  tailGroups: number[];
}

interface Item<I, M, O> {
  input: I;
  mid?: M;
  acceptedAt: number;
  /** when it entered its current queue */
  queuedAt: number;
  resolve: (r: PipelineResult<O>) => void;
  reject: (e: unknown) => void;
}

interface Waiter<I, M, O> {
  item: Item<I, M, O>;
  admitted: () => void;
  refuse: (e: unknown) => void;
}

const positiveInt = (x: number, what: string): number => {
  if (!Number.isInteger(x) || x < 1) throw new RangeError(`${what} must be a positive integer, got ${x}`);
  return x;
};

export class Pipeline<I, M, O> {
  readonly deviceBatch: number;
  readonly serverBatch: number;
  readonly tailConcurrency: number;
  readonly capacity: StageCounts;
  private readonly batchDelayMs: number;
  private readonly now: () => number;
  private readonly headBatchTarget: (() => number | null) | undefined;
  private readonly input: Item<I, M, O>[] = [];
  private readonly handover: Item<I, M, O>[] = [];
  private readonly waiters: Waiter<I, M, O>[] = [];
  private headCount = 0;
  private tailCount = 0;
  private tailRunning = 0;
  private closing = false;
  private fellBack = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private drainedResolve: (() => void) | null = null;
  private readonly drained: Promise<void>;
  private readonly s = { accepted: 0, settled: 0, failed: 0, fellBack: 0, headBatches: [] as number[], tailGroups: [] as number[] };
  private readonly peakCounts: StageCounts = { input: 0, head: 0, handover: 0, tail: 0, total: 0 };

  constructor(
    private readonly stages: PipelineStages<I, M, O>,
    opts: PipelineOptions,
  ) {
    this.deviceBatch = positiveInt(opts.deviceBatch, "deviceBatch");
    this.serverBatch = positiveInt(opts.serverBatch, "serverBatch");
    this.tailConcurrency = positiveInt(opts.tailConcurrency ?? 2, "tailConcurrency");
    const input = positiveInt(opts.inputCapacity ?? 2 * this.deviceBatch, "inputCapacity");
    const handover = stages.tail === null ? 0 : Math.max(opts.handoverCapacity ?? 2 * Math.max(this.deviceBatch, this.serverBatch), this.deviceBatch, this.serverBatch);
    const tail = stages.tail === null ? 0 : this.tailConcurrency * this.serverBatch;
    this.capacity = { input, head: this.deviceBatch, handover, tail, total: input + this.deviceBatch + handover + tail };
    this.batchDelayMs = Math.max(0, opts.batchDelayMs ?? 0);
    this.now = opts.now ?? (() => performance.now());
    this.headBatchTarget = opts.headBatchTarget;
    this.drained = new Promise((resolve) => {
      this.drainedResolve = resolve;
    });
  }

  /**
   * Hand one item to the pipeline. Resolves once it is accepted (it waits while the input queue
   * is full: back-pressure), with the promise of its result. Rejects with PipelineClosedError
   * after close(), or with the signal's reason when it aborts before the item is accepted.
   */
  submit(input: I, signal?: AbortSignal): Promise<{ result: Promise<PipelineResult<O>> }> {
    if (this.closing) return Promise.reject(new PipelineClosedError());
    if (signal?.aborted === true) return Promise.reject(signal.reason);
    let resolve!: (r: PipelineResult<O>) => void;
    let reject!: (e: unknown) => void;
    const result = new Promise<PipelineResult<O>>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // observed by whoever awaits it; never an unhandled rejection when nobody does
    result.catch(() => undefined);
    const t = this.now();
    const item: Item<I, M, O> = { input, acceptedAt: t, queuedAt: t, resolve, reject };
    return new Promise((admittedResolve, refuse) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          refuse(signal?.reason);
        }
      };
      const w: Waiter<I, M, O> = {
        item,
        admitted: () => {
          signal?.removeEventListener("abort", onAbort);
          admittedResolve({ result });
        },
        refuse: (e) => {
          signal?.removeEventListener("abort", onAbort);
          refuse(e);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(w);
      this.pump();
    });
  }

  /**
   * Every input of `source` through the pipeline, the results yielded in input order. At most
   * `capacity.total` results are pending at once, so a slow consumer slows the producer too.
   * The first failed item throws (after the results before it); close() the pipeline then.
   */
  async *map(source: AsyncIterable<I> | Iterable<I>, opts: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<PipelineResult<O>> {
    const pending: Promise<PipelineResult<O>>[] = [];
    const window = this.capacity.total;
    for await (const input of source) {
      pending.push((await this.submit(input, opts.signal)).result);
      while (pending.length >= window) yield await (pending.shift() as Promise<PipelineResult<O>>);
    }
    while (pending.length > 0) yield await (pending.shift() as Promise<PipelineResult<O>>);
  }

  /** Refuse new items and resolve when every accepted one has its result. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      for (const w of this.waiters.splice(0)) w.refuse(new PipelineClosedError());
      this.pump();
    }
    return this.drained;
  }

  get closed(): boolean {
    return this.closing;
  }

  stats(): PipelineStats {
    return {
      accepted: this.s.accepted,
      settled: this.s.settled,
      failed: this.s.failed,
      fellBack: this.s.fellBack,
      now: this.counts(),
      peak: { ...this.peakCounts },
      capacity: { ...this.capacity },
      headBatches: [...this.s.headBatches],
      tailGroups: [...this.s.tailGroups],
    };
  }

  private counts(): StageCounts {
    const c = { input: this.input.length, head: this.headCount, handover: this.handover.length, tail: this.tailCount, total: 0 };
    c.total = c.input + c.head + c.handover + c.tail;
    return c;
  }

  private notePeak(): void {
    const c = this.counts();
    for (const k of Object.keys(c) as (keyof StageCounts)[]) if (c[k] > this.peakCounts[k]) this.peakCounts[k] = c[k];
  }

  /** Whether a stage may take a (partial) batch from `queue` now; arms the timer otherwise. */
  private ready(queue: Item<I, M, O>[], batch: number): boolean {
    if (queue.length >= batch || this.closing || this.batchDelayMs === 0) return true;
    const due = (queue[0] as Item<I, M, O>).queuedAt + this.batchDelayMs;
    if (this.now() >= due) return true;
    if (due < this.timerAt) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timerAt = due;
      this.timer = setTimeout(
        () => {
          this.timer = null;
          this.timerAt = Infinity;
          this.pump();
        },
        Math.max(1, Math.ceil(due - this.now())),
      );
    }
    return false;
  }

  /** Move items along as far as the rules allow: the tail takes first (it frees hand-over room for the head), then the head (it frees input room), then the producers. */
  private pump(): void {
    for (let moved = true; moved; ) {
      moved = false;
      while (this.stages.tail !== null && this.tailRunning < this.tailConcurrency && this.handover.length > 0 && this.ready(this.handover, this.serverBatch)) {
        this.startTail(Math.min(this.serverBatch, this.handover.length));
        moved = true;
      }
      if (this.headCount === 0 && this.input.length > 0) {
        const target = this.headTarget();
        const n = Math.min(target ?? this.deviceBatch, this.input.length);
        const room = this.stages.tail === null || this.handover.length + n <= this.capacity.handover;
        if (room && (target === null || this.ready(this.input, target))) {
          this.startHead(n);
          moved = true;
        }
      }
      while (this.waiters.length > 0 && this.input.length < this.capacity.input) {
        const w = this.waiters.shift() as Waiter<I, M, O>;
        w.item.acceptedAt = w.item.queuedAt = this.now();
        this.input.push(w.item);
        this.s.accepted++;
        w.admitted();
        moved = true;
      }
    }
    this.notePeak();
    if (this.closing && this.s.settled === this.s.accepted && this.waiters.length === 0 && this.input.length === 0) {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.drainedResolve?.();
    }
  }

  /** The head batch to take now: headBatchTarget's answer as a whole number in 1..deviceBatch (null: none yet). */
  private headTarget(): number | null {
    if (this.headBatchTarget === undefined) return this.deviceBatch;
    const t = this.headBatchTarget();
    if (t === null) return null;
    const b = Math.round(t);
    return Number.isFinite(b) ? Math.min(this.deviceBatch, Math.max(1, b)) : this.deviceBatch;
  }

  private settle(item: Item<I, M, O>, value: O, fallback: boolean): void {
    this.s.settled++;
    if (fallback) this.s.fellBack++;
    item.resolve({ value, latencyMs: this.now() - item.acceptedAt, fallback });
  }

  private fail(item: Item<I, M, O>, err: unknown): void {
    this.s.settled++;
    this.s.failed++;
    item.reject(err);
  }

  private startHead(n: number): void {
    const batch = this.input.splice(0, n);
    this.headCount = n;
    this.s.headBatches.push(n);
    this.notePeak();
    const run = async (): Promise<M[]> => this.stages.head(batch.map((b) => b.input));
    run()
      .then(
        (mids) => {
          if (mids.length !== batch.length) throw new Error(`the head stage gave ${mids.length} results for ${batch.length} items`);
          const t = this.now();
          batch.forEach((item, i) => {
            if (this.stages.tail === null) this.settle(item, mids[i] as unknown as O, false);
            else {
              item.mid = mids[i] as M;
              item.queuedAt = t;
              this.handover.push(item);
            }
          });
        },
      )
      .catch((err: unknown) => {
        for (const item of batch) if (!this.handover.includes(item)) this.fail(item, err);
      })
      .finally(() => {
        this.headCount = 0;
        this.pump();
      });
  }

  private startTail(n: number): void {
    const group = this.handover.splice(0, n);
    this.tailRunning++;
    this.tailCount += n;
    this.s.tailGroups.push(n);
    this.notePeak();
    const mids = group.map((g) => g.mid as M);
    const run = async (): Promise<{ outs: O[]; fallback: boolean }> => {
      const fallback = this.stages.fallback;
      if (this.fellBack && fallback !== undefined) return { outs: await fallback(mids), fallback: true };
      try {
        return { outs: await (this.stages.tail as (m: M[]) => Promise<O[]>)(mids), fallback: false };
      } catch (err) {
        if (fallback === undefined || !(this.stages.isServerFailure?.(err) ?? true)) throw err;
        if (!this.fellBack) {
          this.fellBack = true;
          this.stages.onFallback?.(err);
        }
        return { outs: await fallback(mids), fallback: true };
      }
    };
    run()
      .then(({ outs, fallback }) => {
        if (outs.length !== group.length) throw new Error(`the tail stage gave ${outs.length} results for ${group.length} items`);
        group.forEach((item, i) => this.settle(item, outs[i] as O, fallback));
      })
      .catch((err: unknown) => {
        for (const item of group) this.fail(item, err);
      })
      .finally(() => {
        this.tailRunning--;
        this.tailCount -= n;
        this.pump();
      });
  }
}
