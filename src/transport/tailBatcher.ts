/**
 * Server-side batching for the tail server, with the two knobs of Triton's dynamic batcher:
 * requests for the same tail (and the same shape after the batch dimension) that wait together
 * run as one onnxruntime call of at most `maxBatch` rows, and a partial batch waits at most
 * `maxQueueDelayMs` (from its oldest request's arrival) for more before it runs.
 *
 * - A batch is formed when one of the server's slots (Admission) is free, as Triton forms one
 *   when a model instance is free: under load the queue grows while the slots are busy, so
 *   batches fill even with a delay of 0. At most `maxConcurrent` batches per tail wait for or
 *   hold a slot at once.
 * - A request is decoded (codecs) only when its batch is formed, inside the slot, so decoded
 *   inputs exist for the running batches only; a request that fails to decode fails alone.
 * - A request larger than `maxBatch` rows runs alone.
 * - Each request gets its own rows of the outputs, its share of the batch's onnxruntime time
 *   and energy (batch figure x its rows / the batch's rows), and the batch's size and time.
 */
import type * as ort from "onnxruntime-node";
import { concatRecords, splitRecord } from "../runtime/batchRows.js";
import type { Admission } from "./admission.js";

export interface BatcherOptions {
  /** largest batch, rows (1 = no batching) */
  maxBatch: number;
  /** how long a partial batch waits for more requests, ms */
  maxQueueDelayMs: number;
}

/** One request, decoded only when its batch runs. */
export interface BatchRequest {
  /** the served name, e.g. cls.tail.27 */
  name: string;
  /** rows it brings (its inputs' first dimension) */
  rows: number;
  /** its inputs' types and dimensions after the first: requests batch together only when these agree */
  signature: string;
  /** its inputs as onnxruntime tensors (decoding codecs); throws for a bad payload */
  decode: () => Record<string, ort.Tensor>;
}

export interface BatchAnswer {
  /** this request's rows of every output */
  outputs: Record<string, ort.Tensor>;
  /** its share of the batch's onnxruntime time, ms */
  computeMs: number;
  /** rows in the batch it ran in */
  batchRows: number;
  /** the batch's onnxruntime time, ms */
  batchComputeMs: number;
  /** its share of the energy measured over the batch's compute window, or null */
  energy: { deviceJ: number; source: string } | null;
}

/** What runs a batch: the tail's session on the joined feeds, its onnxruntime time, and the energy over that window. */
export type BatchRunner = (name: string, feeds: Record<string, ort.Tensor>) => Promise<{ outputs: Record<string, ort.Tensor>; computeMs: number; energy: { deviceJ: number; source: string } | null }>;

interface Pending {
  req: BatchRequest;
  arrivedAt: number;
  resolve: (a: BatchAnswer) => void;
  reject: (e: unknown) => void;
}

interface Queue {
  items: Pending[];
  rows: number;
  /** slots asked for whose batch is not formed yet */
  asked: number;
  /** a slot holder waiting for the batch to fill */
  wake: (() => void) | null;
}

export class TailBatcher {
  private readonly queues = new Map<string, Queue>();

  constructor(
    readonly opts: BatcherOptions,
    private readonly admission: Admission,
    private readonly run: BatchRunner,
  ) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    if (!(opts.maxQueueDelayMs >= 0)) throw new RangeError(`maxQueueDelayMs must be >= 0, got ${opts.maxQueueDelayMs}`);
  }

  /** Requests waiting for their batch to form. */
  pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.items.length;
    return n;
  }

  /** Queue one request; resolves with its own rows when its batch has run. */
  submit(req: BatchRequest): Promise<BatchAnswer> {
    const key = `${req.name}\n${req.signature}`;
    let q = this.queues.get(key);
    if (q === undefined) {
      q = { items: [], rows: 0, asked: 0, wake: null };
      this.queues.set(key, q);
    }
    const queue = q;
    return new Promise<BatchAnswer>((resolve, reject) => {
      queue.items.push({ req, arrivedAt: performance.now(), resolve, reject });
      queue.rows += req.rows;
      if (queue.rows >= this.opts.maxBatch) queue.wake?.();
      this.ask(key, queue);
    });
  }

  /** Ask for slots until the asked ones cover what waits (at most the server's concurrency). */
  private ask(key: string, q: Queue): void {
    while (q.items.length > 0 && q.asked * this.opts.maxBatch < q.rows && q.asked < this.admission.maxConcurrent) {
      q.asked++;
      void this.admission.runInSlot(() => this.inSlot(key, q));
    }
  }

  /** Holding a slot: wait for the batch to fill or its delay, take it, run it. */
  private async inSlot(key: string, q: Queue): Promise<void> {
    const oldest = q.items[0];
    if (oldest !== undefined && q.rows < this.opts.maxBatch) {
      const left = oldest.arrivedAt + this.opts.maxQueueDelayMs - performance.now();
      if (left > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, left);
          function done(): void {
            clearTimeout(timer);
            if (q.wake === done) q.wake = null;
            resolve();
          }
          // one holder waits at a time; another that arrives meanwhile takes what is there
          if (q.wake === null) q.wake = done;
          else done();
        });
      }
    }
    q.asked--;
    const batch: Pending[] = [];
    let rows = 0;
    while (q.items.length > 0) {
      const next = q.items[0] as Pending;
      if (batch.length > 0 && rows + next.req.rows > this.opts.maxBatch) break;
      batch.push(q.items.shift() as Pending);
      rows += next.req.rows;
    }
    q.rows -= rows;
    if (q.items.length === 0 && q.asked === 0) this.queues.delete(key);
    else this.ask(key, q);
    if (batch.length === 0) return;
    await this.runBatch(batch);
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    const ok: { p: Pending; feeds: Record<string, ort.Tensor> }[] = [];
    for (const p of batch) {
      try {
        ok.push({ p, feeds: p.req.decode() });
      } catch (err) {
        p.reject(err);
      }
    }
    if (ok.length === 0) return;
    const name = (ok[0] as { p: Pending }).p.req.name;
    const rows = ok.map((o) => o.p.req.rows);
    const total = rows.reduce((a, b) => a + b, 0);
    try {
      const first = (ok[0] as { feeds: Record<string, ort.Tensor> }).feeds;
      const feeds = ok.length === 1 ? first : concatRecords(ok.map((o) => o.feeds), Object.keys(first));
      const r = await this.run(name, feeds);
      const parts = ok.length === 1 ? [r.outputs] : splitRecord(r.outputs, Object.keys(r.outputs), rows);
      ok.forEach(({ p }, i) => {
        const share = (p.req.rows || 1) / (total || ok.length);
        p.resolve({
          outputs: parts[i] as Record<string, ort.Tensor>,
          computeMs: r.computeMs * share,
          batchRows: total,
          batchComputeMs: r.computeMs,
          energy: r.energy === null ? null : { deviceJ: r.energy.deviceJ * share, source: r.energy.source },
        });
      });
    } catch (err) {
      for (const { p } of ok) p.reject(err);
    }
  }
}
