/**
 * The split executor: one cut of a model, run as head -> encode -> tail -> decode, with the
 * time of every stage and the bytes that crossed. Three cases of one path:
 *
 * - remote tail: the head runs here, its cut tensors are encoded with the codec and sent to a
 *   tail server (Open Inference Protocol, TailClient) as `<model>.tail.<cut>`;
 * - local tail: the tail runs in this process, fed what the codec's round trip gives back
 *   (what a server would see), for verification and accuracy;
 * - all on the device (the last cut): the head is the whole model; nothing is encoded or sent.
 *   At cut 0 there is no head: the inputs themselves are the cut tensors.
 *
 * Stages, ms (they add up to `totalMs` up to the executor's own bookkeeping):
 *   head      the head session's run (0 at cut 0)
 *   encode    the codec over every FP32 cut tensor (other types travel as they are)
 *   transfer  remote: the call's time minus the server's own (`server_time_ms`); local: 0
 *   server    remote: the server's own time; local: the codec's decode plus the tail's run
 *   decode    remote: the answer's tensors made onnxruntime tensors; local: 0
 *
 * Bytes: `tensorBytes` = the cut tensors as encoded (codec payload); `wireBytes` = the request
 * body on the wire (protocol header included; 0 when nothing is sent over a network);
 * `receivedBytes` = the response body.
 *
 * `run` is the head stage (`runHead`) then the tail stage (`runTail`: encode, tail, decode); the
 * pipeline executor (pipelineExecutor.ts) calls the two stages itself, on batches, overlapped.
 * `runTail(values, { local: true })` runs a remote executor's tail in this process (its session
 * is loaded on first use): the fallback when the server fails.
 *
 * No energy is measured here: callers wrap `run` in their meter's window. Cancellable with an
 * AbortSignal between stages and during the remote call.
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { serializeModel } from "../model/onnxModel.js";
import { splitModel } from "../model/splitModel.js";
import type { LoadSignal } from "../transport/admission.js";
import { decodeTensor, encodeTensor, type CodecSpec } from "../transport/codecs/codecs.js";
import { datatypeToOrt, ortToDatatype, type OipTensor } from "../transport/oip/index.js";
import { codecTensor, type TailClient } from "../transport/tailClient.js";
import { checkTritonCodec, tritonTensors, type ServerKind } from "../transport/tritonCodec.js";
import type { ExecutionTarget } from "./executionTarget.js";
import { createSession, type SessionPurpose } from "./sessionFactory.js";

export type TailSpec =
  /** the tail in this process */
  | { kind: "local"; target?: ExecutionTarget | undefined }
  /**
   * a tail server; `model` is the served model's name (it serves `<model>.tail.<cut>`).
   * `serverKind` "triton": a stock Open Inference Protocol server (Triton, KServe) serving the
   * tails `splitwatt export-triton --codec` wrote: the cut tensors go as plain tensors (FP16, or
   * INT8 with their scale and zero point as extra inputs), no splitwatt parameters.
   */
  | { kind: "remote"; client: TailClient; model: string; timeoutMs?: number | undefined; serverKind?: ServerKind | undefined };

export interface SplitExecutorOptions {
  /** cut index as in `splitwatt inspect`: 0 = all on the server, the last = all on the device */
  cut: number;
  /** where the head runs (default cpu) */
  deviceTarget?: ExecutionTarget | undefined;
  /** codec of the FP32 cut tensors; null hands them over untouched (local tails only) */
  codec: CodecSpec | null;
  /** where the tail runs (ignored at the last cut) */
  tail: TailSpec;
  /** the purpose of the sessions made here (default inference; verification uses exact) */
  purpose?: SessionPurpose | undefined;
  /** overrides the purpose's graph optimisation level (verification at other levels) */
  optimization?: "disabled" | "basic" | "extended" | "all" | undefined;
  /** the model's name in error messages */
  label?: string | undefined;
}

export interface StageTimings {
  headMs: number;
  encodeMs: number;
  transferMs: number;
  serverMs: number;
  decodeMs: number;
  totalMs: number;
}

/** What a remote tail server reported about the request. */
export interface ServerReport {
  /** its own time from arrival to outputs ready (null when it does not say) */
  serverMs: number | null;
  /** its onnxruntime time */
  computeMs: number | null;
  load: LoadSignal | null;
  /** energy its own counter measured over the compute window */
  energyJ: number | null;
  energySource: string | null;
  /** delay the client added to emulate a link (part of transfer) */
  shapedMs: number;
}

export interface ExecutionResult {
  /** the model's outputs, by name */
  outputs: Record<string, ort.Tensor>;
  timings: StageTimings;
  tensorBytes: number;
  wireBytes: number;
  receivedBytes: number;
  /** remote tails only */
  server: ServerReport | null;
}

export interface RunOptions {
  signal?: AbortSignal | undefined;
  /** this run's codec instead of the executor's */
  codec?: CodecSpec | null | undefined;
}

export interface TailRunOptions extends RunOptions {
  /** run the tail in this process even when the executor's tail is remote (loaded on first use) */
  local?: boolean | undefined;
  /** performance.now() the stage's time counts from (default: its start); `run` passes the head's end */
  from?: number | undefined;
}

/** What the head stage hands the tail stage. */
export interface HeadResult {
  /** the inputs and every head output: the cut tensors, and at the last cut the model's outputs */
  values: Record<string, ort.Tensor>;
  /** the head session's run, ms (0 at cut 0) */
  headMs: number;
  /** performance.now() at its end */
  endedAt: number;
}

/**
 * The codec a cut tensor of several rows (a batch) is encoded with: `int8` gets one scale and
 * zero point per row (int8-channel along the batch axis), so each row decodes exactly as it
 * would have alone, whatever else is in the batch. Other codecs are unchanged (int8-channel's
 * per-channel ranges then span the batch's rows).
 */
export function rowCodec(spec: CodecSpec, shape: readonly number[], batched: boolean): CodecSpec {
  return spec.codec === "int8" && batched && (shape[0] ?? 1) > 1 ? { codec: "int8-channel", compression: spec.compression, channelAxis: 0 } : spec;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
}

function oipOf(name: string, t: ort.Tensor): OipTensor {
  const datatype = ortToDatatype(t.type);
  if (datatype === undefined) throw new UsageError(`cut tensor ${name} has type ${t.type}, which the tail protocol cannot carry: pick another cut`);
  return { name, datatype, shape: [...t.dims], data: t.data as OipTensor["data"] };
}

function ortOf(t: OipTensor): ort.Tensor {
  return new ort.Tensor(datatypeToOrt(t.datatype) as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape);
}

function payloadBytes(t: OipTensor): number {
  const d = t.data as { byteLength?: number; length: number };
  return d.byteLength ?? d.length;
}

export class SplitExecutor {
  /** the tensors that cross the cut, in the cut's order */
  readonly crossing: readonly string[];
  /** a remote executor's tail, being loaded here for a fallback */
  private loadingTail: Promise<ort.InferenceSession> | null = null;

  private constructor(
    readonly analysis: ModelAnalysis,
    readonly options: SplitExecutorOptions,
    private readonly head: ort.InferenceSession | null,
    private tail: ort.InferenceSession | null,
  ) {
    this.crossing = (analysis.cuts[options.cut]?.tensors ?? []).map((t) => t.name);
  }

  /** Load the sessions the cut needs. */
  static async open(a: ModelAnalysis, o: SplitExecutorOptions): Promise<SplitExecutor> {
    const last = a.cuts.length - 1;
    if (!Number.isInteger(o.cut) || o.cut < 0 || o.cut > last) {
      throw new UsageError(`cut ${o.cut} is out of range: this model has cuts 0-${last} (0 = all on the server, ${last} = all on the device; see splitwatt inspect)`);
    }
    if (o.codec === null && o.tail.kind === "remote") throw new UsageError("a remote tail needs a codec (raw sends the tensors as they are)");
    if (o.tail.kind === "remote" && o.tail.serverKind === "triton" && o.codec !== null) checkTritonCodec(o.codec);
    const { head, tail } = splitModel(a, o.cut);
    const label = o.label ?? a.model.path;
    const purpose = o.purpose ?? "inference";
    const headS = head === null ? null : await createSession(serializeModel(head), { target: o.deviceTarget, purpose, optimization: o.optimization, label: `the head of ${label} at cut ${o.cut}` });
    let tailS: ort.InferenceSession | null = null;
    try {
      if (tail !== null && o.tail.kind === "local") tailS = await createSession(serializeModel(tail), { target: o.tail.target, purpose, optimization: o.optimization, label: `the tail of ${label} at cut ${o.cut}` });
    } catch (e) {
      await headS?.release();
      throw e;
    }
    return new SplitExecutor(a, o, headS, tailS);
  }

  /** Whether cut tensor `name` has the batch as its first dimension. */
  private batched(name: string): boolean {
    return this.analysis.shapes.get(name)?.batchDims[0] === true;
  }

  /** True at the last cut: everything runs here. */
  get allOnDevice(): boolean {
    return this.options.cut === this.analysis.cuts.length - 1;
  }

  /** Run one input (or a batch: every input with the same batch size): the head stage, then the tail stage. */
  async run(feeds: Record<string, ort.Tensor>, opts: RunOptions = {}): Promise<ExecutionResult> {
    const h = await this.runHead(feeds, opts);
    if (this.allOnDevice) {
      const outputs = Object.fromEntries(this.analysis.graph.outputs.map((o) => [o, h.values[o] as ort.Tensor]));
      const ms = h.headMs;
      return { outputs, timings: { headMs: ms, encodeMs: 0, transferMs: 0, serverMs: 0, decodeMs: 0, totalMs: ms }, tensorBytes: 0, wireBytes: 0, receivedBytes: 0, server: null };
    }
    // the tail stage counts from the head's end: one run from the head's start to the tail's end
    const t = await this.runTail(h.values, { ...opts, from: h.endedAt });
    return { ...t, timings: { ...t.timings, headMs: h.headMs, totalMs: h.headMs + t.timings.totalMs } };
  }

  /**
   * The head stage alone: the head session's run over `feeds` (nothing at cut 0). `values` holds
   * the inputs and everything the head produced: the cut tensors (`crossing`), and at the last
   * cut the model's outputs.
   */
  async runHead(feeds: Record<string, ort.Tensor>, opts: { signal?: AbortSignal | undefined } = {}): Promise<HeadResult> {
    throwIfAborted(opts.signal);
    const t0 = performance.now();
    if (this.head === null) return { values: feeds, headMs: 0, endedAt: t0 };
    const h = this.head;
    const values = { ...feeds, ...(await h.run(Object.fromEntries(h.inputNames.map((n) => [n, feeds[n] as ort.Tensor])))) };
    const endedAt = performance.now();
    return { values, headMs: endedAt - t0, endedAt };
  }

  /**
   * The tail stage alone, from what the head stage produced (at least the cut tensors): encode,
   * the tail where the executor's spec says (or here, `local: true`: a remote executor loads the
   * tail in this process on first use, for a fallback), decode. Timings have headMs 0 and
   * totalMs = this stage's time.
   */
  async runTail(values: Record<string, ort.Tensor>, opts: TailRunOptions = {}): Promise<ExecutionResult> {
    if (this.allOnDevice) throw new Error("the last cut has no tail: everything ran in the head");
    const codec = opts.codec === undefined ? this.options.codec : opts.codec;
    throwIfAborted(opts.signal);
    const tail = this.options.tail;
    if (tail.kind === "local" || opts.local === true) return this.localTail(values, codec, opts.from);
    return this.remoteTail(tail, values, codec, opts.signal, opts.from);
  }

  /** The tail in this process, fed what the codec's round trip gives back (what a server would see). */
  private async localTail(values: Record<string, ort.Tensor>, codec: CodecSpec | null, from: number | undefined): Promise<ExecutionResult> {
    const a = this.analysis;
    const s = this.tail ?? (await this.localTailSession());
    const t1 = from ?? performance.now();
    let tensorBytes = 0;
    const encoded = this.crossing.map((name) => {
      const t = values[name];
      if (t === undefined) throw new Error(`the head did not produce cut tensor ${name}`);
      if (codec === null || t.type !== "float32") {
        tensorBytes += (t.data as { byteLength: number }).byteLength;
        return { name, t, e: null };
      }
      const e = encodeTensor(t.data as Float32Array, [...t.dims], rowCodec(codec, [...t.dims], this.batched(name)));
      tensorBytes += e.bytes.byteLength;
      return { name, t, e };
    });
    const t2 = performance.now();
    const tailFeeds: Record<string, ort.Tensor> = {};
    for (const { name, t, e } of encoded) tailFeeds[name] = e === null ? t : new ort.Tensor("float32", decodeTensor(e.bytes, e.datatype, e.shape, e.parameters), t.dims);
    const out = await s.run(Object.fromEntries(s.inputNames.map((n) => [n, (tailFeeds[n] ?? values[n]) as ort.Tensor])));
    const t3 = performance.now();
    const outputs = Object.fromEntries(a.graph.outputs.map((o) => [o, out[o] as ort.Tensor]));
    return {
      outputs,
      timings: { headMs: 0, encodeMs: t2 - t1, transferMs: 0, serverMs: t3 - t2, decodeMs: 0, totalMs: t3 - t1 },
      tensorBytes,
      wireBytes: 0,
      receivedBytes: 0,
      server: null,
    };
  }

  /** The tail session in this process: the one opened with a local spec, or loaded now for a remote executor (once). */
  private localTailSession(): Promise<ort.InferenceSession> {
    if (this.tail !== null) return Promise.resolve(this.tail);
    if (this.loadingTail === null) {
      const o = this.options;
      const { tail } = splitModel(this.analysis, o.cut);
      const target = o.tail.kind === "local" ? o.tail.target : o.deviceTarget;
      this.loadingTail = createSession(serializeModel(tail as NonNullable<typeof tail>), {
        target,
        purpose: o.purpose ?? "inference",
        optimization: o.optimization,
        label: `the tail of ${o.label ?? this.analysis.model.path} at cut ${o.cut} (loaded here: the server failed)`,
      }).then((s) => {
        this.tail = s;
        return s;
      });
      this.loadingTail.catch(() => {
        this.loadingTail = null;
      });
    }
    return this.loadingTail;
  }

  private async remoteTail(
    tail: Extract<TailSpec, { kind: "remote" }>,
    values: Record<string, ort.Tensor>,
    codec: CodecSpec | null,
    signal: AbortSignal | undefined,
    from: number | undefined,
  ): Promise<ExecutionResult> {
    const a = this.analysis;
    const t1 = from ?? performance.now();
    const effective = codec ?? { codec: "raw", compression: "none" };
    const tensors = this.crossing.flatMap((name) => {
      const v = values[name];
      if (v === undefined) throw new Error(`the head did not produce cut tensor ${name}`);
      const t = oipOf(name, v);
      if (t.datatype !== "FP32") return [t];
      // a stock server (Triton, KServe) gets plain tensors its exported tail decodes in the graph
      const batched = this.batched(name);
      return tail.serverKind === "triton" ? tritonTensors(t, effective as CodecSpec, batched) : [codecTensor(t, rowCodec(effective as CodecSpec, t.shape, batched))];
    });
    const tensorBytes = tensors.reduce((n, t) => n + payloadBytes(t), 0);
    const t2 = performance.now();
    const r = await tail.client.infer(`${tail.model}.tail.${this.options.cut}`, tensors, { binary: true, signal, timeoutMs: tail.timeoutMs });
    const t3 = performance.now();
    const outputs: Record<string, ort.Tensor> = {};
    for (const name of a.graph.outputs) {
      const o = r.outputs[name];
      if (o === undefined) throw new UsageError(`the tail server's answer lacks output ${name}: is it serving the same model? (check --server-model)`);
      outputs[name] = ortOf(o);
    }
    const t4 = performance.now();
    const serverMs = r.serverMs ?? 0;
    return {
      outputs,
      timings: { headMs: 0, encodeMs: t2 - t1, transferMs: Math.max(0, t3 - t2 - serverMs), serverMs, decodeMs: t4 - t3, totalMs: t4 - t1 },
      tensorBytes,
      wireBytes: r.bytesSent,
      receivedBytes: r.bytesReceived,
      server: { serverMs: r.serverMs, computeMs: r.computeMs, load: r.load, energyJ: r.serverEnergyJ, energySource: r.serverEnergySource, shapedMs: r.shapedMs },
    };
  }

  async release(): Promise<void> {
    await this.head?.release();
    const tail = this.tail ?? (await this.loadingTail?.catch(() => null)) ?? null;
    this.tail = null;
    this.loadingTail = null;
    await tail?.release();
  }
}
