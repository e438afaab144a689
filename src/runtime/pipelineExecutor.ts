/**
 * The pipeline executor: the split executor's two stages (runHead, runTail) in a Pipeline
 * (pipeline.ts), so the device computes the head of the next batch while earlier items are on
 * the wire and at the server. Items are single inputs (batch 1): the head runs on batches of
 * `deviceBatch` items joined along the batch dimension, the tail on groups of `serverBatch`
 * items (one request each to a remote tail), and every item gets its own rows of the outputs.
 *
 * - A model whose batch dimension is fixed (an input, a cut tensor or an output without a
 *   symbolic first dimension) cannot be batched: both batch sizes fall back to 1 and `notes`
 *   says which tensor fixes it.
 * - A remote tail that fails (unreachable, 5xx, timeout, 408/429) sends its group and every
 *   later one to a tail loaded in this process (`fallback`, on by default): the items in flight
 *   are not lost. Wrong answers (4xx, a missing output) fail their items instead.
 * - Stage totals are kept for the bottleneck bound (`stageTimesPerItem`): head = the head runs
 *   plus encoding and decoding (the device's work), transfer = each request's call time minus
 *   the server's own time and the link's round trip, tail = the server's onnxruntime time.
 */
import type * as ort from "onnxruntime-node";
import { UnreachableError } from "../errors.js";
import { TailServerError } from "../transport/tailClient.js";
import { concatRecords, splitRecord } from "./batchRows.js";
import { Pipeline, type PipelineOptions, type PipelineResult } from "./pipeline.js";
import type { CodecSpec } from "../transport/codecs/codecs.js";
import type { ExecutionResult, SplitExecutor } from "./splitExecutor.js";

export type Feeds = Record<string, ort.Tensor>;

/** The pipeline's own options (pipeline.ts), plus what the split executor's stages need. */
export interface PipelineExecutorOptions
  extends Pick<PipelineOptions, "deviceBatch" | "serverBatch" | "tailConcurrency" | "inputCapacity" | "handoverCapacity" | "batchDelayMs" | "now" | "headBatchTarget"> {
  /** run the tail here when a remote server fails (default true) */
  fallback?: boolean | undefined;
  onFallback?: ((cause: unknown) => void) | undefined;
  /** the codec of the cut tensors (default the executor's) */
  codec?: CodecSpec | undefined;
  /**
   * runs the device's work, a head batch or a local tail (default: at once), e.g. through a
   * daemon's device queue so that requests with deadlines go first
   */
  runDevice?: (<T>(job: () => Promise<T>) => Promise<T>) | undefined;
  /** every tail group's result (remote, or local after a server failure), e.g. for a link estimator */
  onTail?: ((r: ExecutionResult, items: number, local: boolean) => void) | undefined;
  /** an item was submitted (its arrival), for an adaptive batch size */
  onArrival?: ((nowMs: number) => void) | undefined;
  /** a head batch of `items` took `ms` (the head run alone), for an adaptive batch size */
  onHeadBatch?: ((items: number, ms: number) => void) | undefined;
}

/** Sums over the stage work done, for the bound and the report. */
export interface StageTotals {
  items: number;
  headBatches: number;
  headMs: number;
  tailGroups: number;
  /** items whose tail ran on a server */
  remoteItems: number;
  /** requests sent to a server */
  requests: number;
  encodeMs: number;
  transferMs: number;
  /** of transferMs, the time spent in an emulated RTT (TailClient's link emulation) */
  rttSleptMs: number;
  /** the server's own time (remote) or the local tail's run */
  serverMs: number;
  /** the server's onnxruntime time where it reports one (else its own time) */
  computeMs: number;
  decodeMs: number;
  tensorBytes: number;
  wireBytes: number;
  receivedBytes: number;
  /** energy servers reported over their compute windows (only when every request carried one) */
  serverEnergyJ: number | null;
  serverEnergySource: string | null;
}

export const emptyTotals = (): StageTotals => ({
  items: 0,
  headBatches: 0,
  headMs: 0,
  tailGroups: 0,
  remoteItems: 0,
  requests: 0,
  encodeMs: 0,
  transferMs: 0,
  rttSleptMs: 0,
  serverMs: 0,
  computeMs: 0,
  decodeMs: 0,
  tensorBytes: 0,
  wireBytes: 0,
  receivedBytes: 0,
  serverEnergyJ: 0,
  serverEnergySource: null,
});

export interface StageTimes {
  /** device work per item: head runs, encoding, decoding, ms */
  head: number;
  /** time on the link per item (call time - server time - round trip), ms; 0 with no remote tail */
  transfer: number;
  /** server compute per item, ms */
  tail: number;
}

/**
 * Per-item stage times of `t`. The round trip is latency rather than occupancy: each request's
 * emulated RTT as it was spent, and `networkRttMs` (the network's own, e.g. a health probe's),
 * are taken out of its transfer.
 */
export function stageTimesPerItem(t: StageTotals, networkRttMs: number): StageTimes {
  const per = (ms: number, n: number): number => (n > 0 ? ms / n : 0);
  return {
    head: per(t.headMs + t.encodeMs + t.decodeMs, t.items),
    transfer: per(Math.max(0, t.transferMs - t.rttSleptMs - t.requests * networkRttMs), t.items),
    tail: per(t.computeMs, t.items),
  };
}

/** Each head batch and tail group of a stagesAlone run. */
export interface StageSamples {
  head: Array<{ items: number; ms: number }>;
  tail: Array<{ items: number; deviceMs: number; transferMs: number; rttSleptMs: number; computeMs: number; remote: boolean }>;
}

const median = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Per-item stage times from stagesAlone's samples: the median over batches (groups) of each
 * one's time per item, so a stall of a shared machine in one of them does not move the bound.
 * head = head run + encode + decode, transfer = call - server time - the emulated RTT as spent -
 * `networkRttMs`, tail = server compute.
 */
export function stageTimesOf(s: StageSamples, networkRttMs: number): StageTimes {
  const encodeDecode = median(s.tail.map((t) => t.deviceMs / t.items));
  const remote = s.tail.filter((t) => t.remote);
  return {
    head: median(s.head.map((h) => h.ms / h.items)) + encodeDecode,
    transfer: median(remote.map((t) => Math.max(0, t.transferMs - t.rttSleptMs - networkRttMs) / t.items)),
    tail: median(s.tail.map((t) => t.computeMs / t.items)),
  };
}

/** Items per second the slowest stage allows: 1000 / its ms per item (Infinity when every stage is free). */
export function boundPerS(s: StageTimes): number {
  const slowest = Math.max(s.head, s.transfer, s.tail);
  return slowest > 0 ? 1000 / slowest : Infinity;
}

/**
 * Tail requests in flight needed to keep the slowest stage busy (Little's law): one group's
 * round trip (transfer + RTT + server) over the slowest stage's time per group, plus one;
 * between 2 and `max`.
 */
export function tailConcurrencyFor(s: StageTimes, rttMs: number, serverBatch: number, max = 16): number {
  const slowest = Math.max(s.head, s.transfer, s.tail) * serverBatch;
  if (!(slowest > 0)) return 2;
  const roundTrip = (s.transfer + s.tail) * serverBatch + rttMs;
  return Math.min(max, Math.max(2, Math.ceil(roundTrip / slowest) + 1));
}

/** A tail error that is the server's failure rather than the request's: unreachable, 5xx, timeouts, refusals for load. */
export function isServerFailure(err: unknown): boolean {
  if (err instanceof UnreachableError) return true;
  if (err instanceof TailServerError) return err.status >= 500 || err.status === 408 || err.status === 429;
  return false;
}

/** The tensor that fixes `a`'s batch size, or null when every input, cut tensor and output keeps a symbolic first dimension. */
export function batchFixedBy(x: SplitExecutor): string | null {
  const a = x.analysis;
  const names = [...a.graph.inputs, ...x.crossing, ...a.graph.outputs];
  for (const n of names) {
    const s = a.shapes.get(n);
    if (s === undefined || s.batchDims[0] !== true || s.batchDims.slice(1).some((b) => b)) return n;
  }
  return null;
}

export class PipelineExecutor {
  readonly pipeline: Pipeline<Feeds, Feeds, Feeds>;
  readonly deviceBatch: number;
  readonly serverBatch: number;
  /** what a reader should know (a fixed batch size, a fallback) */
  readonly notes: string[] = [];
  private totals: StageTotals = emptyTotals();
  private readonly outputs: readonly string[];
  private readonly handed: readonly string[];
  private localQueue: Promise<unknown> = Promise.resolve();
  private readonly codec: CodecSpec | undefined;
  private readonly runDevice: <T>(job: () => Promise<T>) => Promise<T>;
  private readonly hooks: Pick<PipelineExecutorOptions, "onTail" | "onArrival" | "onHeadBatch" | "now">;
  /** per head batch and tail group while stagesAlone runs */
  private samples: StageSamples | null = null;

  constructor(
    readonly executor: SplitExecutor,
    opts: PipelineExecutorOptions,
  ) {
    const a = executor.analysis;
    const fixed = batchFixedBy(executor);
    let bd = opts.deviceBatch;
    let bs = opts.serverBatch;
    if (fixed !== null && (bd > 1 || bs > 1)) {
      const s = a.shapes.get(fixed);
      this.notes.push(`${executor.options.label ?? a.model.path} fixes its batch size (tensor ${fixed} has shape [${s?.shape.join(",") ?? "?"}] with no batch dimension): device and server batch fall back to 1`);
      bd = 1;
      bs = 1;
    }
    this.deviceBatch = bd;
    this.serverBatch = bs;
    this.codec = opts.codec;
    this.runDevice = opts.runDevice ?? ((job) => job());
    this.hooks = { onTail: opts.onTail, onArrival: opts.onArrival, onHeadBatch: opts.onHeadBatch, now: opts.now };
    this.outputs = a.graph.outputs;
    // what the head stage hands over: the cut tensors, or at the last cut the outputs
    this.handed = executor.allOnDevice ? this.outputs : executor.crossing;
    const remote = executor.options.tail.kind === "remote";
    this.pipeline = new Pipeline<Feeds, Feeds, Feeds>(
      {
        head: (inputs) => this.head(inputs),
        tail: executor.allOnDevice ? null : (mids) => this.tail(mids, false),
        fallback: remote && opts.fallback !== false ? (mids) => this.tail(mids, true) : undefined,
        isServerFailure,
        onFallback: (cause) => {
          this.notes.push(`the tail server failed (${(cause as Error).message.split("\n")[0]}): the items in flight and every later one ran their tail here`);
          opts.onFallback?.(cause);
        },
      },
      {
        deviceBatch: bd,
        serverBatch: bs,
        tailConcurrency: opts.tailConcurrency,
        inputCapacity: opts.inputCapacity,
        handoverCapacity: opts.handoverCapacity,
        batchDelayMs: opts.batchDelayMs,
        now: opts.now,
        headBatchTarget: opts.headBatchTarget,
      },
    );
  }

  /** One input (batch 1) into the pipeline: resolves once accepted, with its result's promise. */
  submit(feeds: Feeds, signal?: AbortSignal): Promise<{ result: Promise<PipelineResult<Feeds>> }> {
    this.arrived();
    return this.pipeline.submit(feeds, signal);
  }

  /** Every input of `source`, results in input order (see Pipeline.map). */
  map(source: AsyncIterable<Feeds> | Iterable<Feeds>, opts: { signal?: AbortSignal | undefined } = {}): AsyncGenerator<PipelineResult<Feeds>> {
    if (this.hooks.onArrival === undefined) return this.pipeline.map(source, opts);
    const arrived = (): void => this.arrived();
    return this.pipeline.map(
      (async function* () {
        for await (const f of source) {
          arrived();
          yield f;
        }
      })(),
      opts,
    );
  }

  private arrived(): void {
    this.hooks.onArrival?.(this.hooks.now?.() ?? performance.now());
  }

  /** Refuse new inputs; resolves once every accepted one has its result. */
  close(): Promise<void> {
    return this.pipeline.close();
  }

  /** The stage sums since the last reset (serverEnergyJ null unless every request reported one). */
  stageTotals(): StageTotals {
    return finished(this.totals);
  }

  resetTotals(): void {
    this.totals = emptyTotals();
  }

  /**
   * Each stage alone, no overlap: the heads of every input (batches of deviceBatch), then the
   * tails (groups of serverBatch), one at a time. Its totals and per-batch samples are the
   * uncontended stage times the bottleneck bound is made of (stageTimesOf: medians, so a
   * shared machine's stalls do not move it). Returns the outputs in input order.
   */
  async stagesAlone(inputs: readonly Feeds[]): Promise<{ outputs: Feeds[]; totals: StageTotals; samples: StageSamples }> {
    const before = this.totals;
    this.totals = emptyTotals();
    const samples: StageSamples = { head: [], tail: [] };
    this.samples = samples;
    try {
      const mids: Feeds[] = [];
      for (let i = 0; i < inputs.length; i += this.deviceBatch) mids.push(...(await this.head(inputs.slice(i, i + this.deviceBatch))));
      if (this.executor.allOnDevice) return { outputs: mids, totals: finished(this.totals), samples };
      const outputs: Feeds[] = [];
      for (let i = 0; i < mids.length; i += this.serverBatch) outputs.push(...(await this.tail(mids.slice(i, i + this.serverBatch), false)));
      return { outputs, totals: finished(this.totals), samples };
    } finally {
      this.totals = before;
      this.samples = null;
    }
  }

  private async head(inputs: Feeds[]): Promise<Feeds[]> {
    const names = Object.keys(inputs[0] ?? {});
    for (const f of inputs) {
      for (const n of names) {
        const rows = f[n]?.dims[0];
        if (rows !== 1) throw new Error(`pipeline items are single inputs (batch 1): input ${n} has ${rows} rows`);
      }
    }
    const feeds = inputs.length === 1 ? (inputs[0] as Feeds) : concatRecords(inputs, names);
    const h = await this.runDevice(() => this.executor.runHead(feeds));
    this.totals.items += inputs.length;
    this.totals.headBatches++;
    this.totals.headMs += h.headMs;
    this.samples?.head.push({ items: inputs.length, ms: h.headMs });
    this.hooks.onHeadBatch?.(inputs.length, h.headMs);
    return inputs.length === 1 ? [pick(h.values, this.handed)] : splitRecord(h.values, this.handed, inputs.map(() => 1));
  }

  private async tail(mids: Feeds[], local: boolean): Promise<Feeds[]> {
    const values = mids.length === 1 ? (mids[0] as Feeds) : concatRecords(mids, this.handed);
    const codec = this.codec;
    const r = local
      ? await this.serialLocal(() => this.runDevice(() => this.executor.runTail(values, { local: true, codec })))
      : await this.executor.runTail(values, codec === undefined ? {} : { codec });
    this.count(r, mids.length, local);
    this.hooks.onTail?.(r, mids.length, local);
    return mids.length === 1 ? [r.outputs] : splitRecord(r.outputs, this.outputs, mids.map(() => 1));
  }

  /** Local tails one at a time (one session, on the device). */
  private serialLocal<T>(f: () => Promise<T>): Promise<T> {
    const p = this.localQueue.then(f, f);
    this.localQueue = p.catch(() => undefined);
    return p;
  }

  private count(r: ExecutionResult, items: number, local: boolean): void {
    this.samples?.tail.push({
      items,
      deviceMs: r.timings.encodeMs + r.timings.decodeMs,
      transferMs: r.timings.transferMs,
      rttSleptMs: r.server?.rttSleptMs ?? 0,
      computeMs: r.server?.computeMs ?? r.timings.serverMs,
      remote: !local && r.server !== null,
    });
    addTailRun(this.totals, r, items, !local && r.server !== null);
  }
}

/**
 * Add one tail run (`items` items, local or through the server) to stage totals: the sums the
 * pipeline and a serial stream (src/measure/streamRun.ts) keep alike. The server's requests,
 * items and energy count only for a remote run; one without an energy figure makes the total
 * unknown (null), never an undercount.
 */
export function addTailRun(t: StageTotals, r: ExecutionResult, items: number, remote: boolean): void {
  t.tailGroups++;
  t.encodeMs += r.timings.encodeMs;
  t.transferMs += r.timings.transferMs;
  t.rttSleptMs += r.server?.rttSleptMs ?? 0;
  t.serverMs += r.timings.serverMs;
  t.computeMs += r.server?.computeMs ?? r.timings.serverMs;
  t.decodeMs += r.timings.decodeMs;
  t.tensorBytes += r.tensorBytes;
  t.wireBytes += r.wireBytes;
  t.receivedBytes += r.receivedBytes;
  if (remote && r.server !== null) {
    t.requests++;
    t.remoteItems += items;
    if (r.server.energyJ !== null && t.serverEnergyJ !== null) {
      t.serverEnergyJ += r.server.energyJ;
      t.serverEnergySource = r.server.energySource;
    } else t.serverEnergyJ = null;
  }
}

function finished(t: StageTotals): StageTotals {
  return { ...t, serverEnergyJ: t.requests === 0 ? null : t.serverEnergyJ };
}

function pick(values: Feeds, names: readonly string[]): Feeds {
  return Object.fromEntries(names.map((n) => [n, values[n] as ort.Tensor]));
}
