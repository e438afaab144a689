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
 * No energy is measured here: callers wrap `run` in their meter's window. Cancellable with an
 * AbortSignal between stages and during the remote call. `run` is `head` (the device's part:
 * head and codec) then `tail` (the rest), so a scheduler can run the device's part in its queue.
 * `head` is `runHead` (the head session alone) then `encode` (the codec); the pipeline executor
 * (pipelineExecutor.ts) calls `runHead` on device batches and `runTail` (encode + tail) on
 * server groups, overlapped. `runTail(values, { local: true })` runs a remote executor's tail in
 * this process (its session loaded on first use): the fallback when the server fails.
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { serializeModel } from "../model/onnxModel.js";
import { splitModel, type SplitParts } from "../model/splitModel.js";
import type { LoadSignal } from "../transport/admission.js";
import { decodeTensor, encodeTensor, type CodecSpec } from "../transport/codecs/codecs.js";
import { datatypeToOrt, ortToDatatype, type OipTensor } from "../transport/oip/index.js";
import { codecTensor, type TailClient } from "../transport/tailClient.js";
import { checkTritonCodec, tritonTensors, type ServerKind } from "../transport/tritonCodec.js";
import { executionTargetName, type ExecutionTarget } from "./executionTarget.js";
import type { DeviceThread } from "./deviceThread.js";
import { modelSession, type ModelSession } from "./modelSession.js";
import { createSession, type SessionPurpose, type SessionRequest } from "./sessionFactory.js";
import { warmUp, type HeadWarmUp } from "./warmUp.js";

export type TailSpec =
  /** the tail in this process */
  | { kind: "local"; target?: ExecutionTarget | undefined }
  /** a tail server; `model` is the served model's name (it serves `<model>.tail.<cut>`) */
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
  /** the head and tail to run instead of splitModel's for `cut` (verifying parts made elsewhere) */
  parts?: Pick<SplitParts, "head" | "tail"> | undefined;
  /**
   * run the device's sessions (the head, and a remote executor's tail loaded here for a
   * fallback) on this thread, off the event loop (deviceThread.ts); default: this thread
   */
  deviceThread?: DeviceThread | undefined;
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
  /** of it, the time actually spent in the emulated RTT, ms (0 or absent without one) */
  rttSleptMs?: number | undefined;
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
  /** this run's remote-tail timeout instead of the tail spec's, ms */
  timeoutMs?: number | undefined;
}

export interface TailRunOptions extends RunOptions {
  /** run the tail in this process even when the executor's tail is remote (loaded on first use) */
  local?: boolean | undefined;
}

/** What the head session alone gives. */
export interface HeadResult {
  /** the inputs and every head output: the cut tensors, and at the last cut the model's outputs */
  values: Record<string, ort.Tensor>;
  /** the head session's run, ms (0 at cut 0) */
  headMs: number;
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

/**
 * What head() leaves for tail(): the result itself at the last cut; for a local tail the head's
 * values and the encoded cut tensors; for a remote tail the tensors to send.
 */
export type HeadStage =
  | { kind: "done"; result: ExecutionResult }
  | {
      kind: "local";
      values: Record<string, ort.Tensor>;
      encoded: Array<{ name: string; t: ort.Tensor; e: ReturnType<typeof encodeTensor> | null }>;
      tensorBytes: number;
      headMs: number;
      encodeMs: number;
    }
  | { kind: "remote"; tensors: OipTensor[]; tensorBytes: number; headMs: number; encodeMs: number };

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

/** A session for a model's bytes: on the device thread when given, else in this thread. */
async function openSession(model: Uint8Array, req: SessionRequest, thread: DeviceThread | undefined): Promise<ModelSession> {
  return thread === undefined ? modelSession(await createSession(model, req)) : thread.open(model, req);
}

export class SplitExecutor {
  /** the tensors that cross the cut, in the cut's order */
  readonly crossing: readonly string[];
  /** a remote executor's tail, being loaded here for a fallback */
  private loadingTail: Promise<ModelSession> | null = null;

  private constructor(
    readonly analysis: ModelAnalysis,
    readonly options: SplitExecutorOptions,
    private readonly head_: ModelSession | null,
    private tail_: ModelSession | null,
    /** creating the head's session, ms (0 without a head) */
    readonly headSessionCreateMs: number,
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
    const { head, tail } = o.parts ?? splitModel(a, o.cut);
    const label = o.label ?? a.model.path;
    const purpose = o.purpose ?? "inference";
    const t0 = performance.now();
    const headS = head === null ? null : await openSession(serializeModel(head), { target: o.deviceTarget, purpose, optimization: o.optimization, label: `the head of ${label} at cut ${o.cut}` }, o.deviceThread);
    const headSessionCreateMs = head === null ? 0 : performance.now() - t0;
    let tailS: ModelSession | null = null;
    try {
      if (tail !== null && o.tail.kind === "local") tailS = modelSession(await createSession(serializeModel(tail), { target: o.tail.target, purpose, optimization: o.optimization, label: `the tail of ${label} at cut ${o.cut}` }));
    } catch (e) {
      await headS?.release();
      throw e;
    }
    return new SplitExecutor(a, o, headS, tailS, headSessionCreateMs);
  }

  /**
   * Warm the head up before the first measured request: its first run (shader compilation on
   * WebGPU) and `steadyRuns` more, each timed, with the session's creation time. Call it once
   * right after open(): on a used session the first run is no longer the first. null at cut 0
   * (no head). acceleratorSwitchCostMs(result) is what a switch to this target costs.
   */
  async warmUpHead(feeds: Record<string, ort.Tensor>, steadyRuns = 3): Promise<HeadWarmUp | null> {
    const h = this.head_;
    if (h === null) return null;
    const times = await warmUp(h, Object.fromEntries(h.inputNames.map((n) => [n, feeds[n] as ort.Tensor])), steadyRuns);
    return { target: executionTargetName(this.options.deviceTarget ?? { kind: "cpu", threads: 0 }), sessionCreateMs: this.headSessionCreateMs, ...times };
  }

  /** True at the last cut: everything runs here. */
  get allOnDevice(): boolean {
    return this.options.cut === this.analysis.cuts.length - 1;
  }

  /** Run one input (or a batch: every input with the same batch size): head() then tail(). */
  async run(feeds: Record<string, ort.Tensor>, opts: RunOptions = {}): Promise<ExecutionResult> {
    return this.tail(await this.head(feeds, opts), opts);
  }

  /**
   * The device's part of a run: the head and the codec over what crosses the cut. What is left
   * (the tail, local or remote, and the decode) is `tail(stage)`; at the last cut the stage is
   * already the result. A scheduler runs this part in its device queue and the rest outside it.
   */
  async head(feeds: Record<string, ort.Tensor>, opts: TailRunOptions = {}): Promise<HeadStage> {
    return this.encode(await this.runHead(feeds, opts), opts);
  }

  /**
   * The head session alone over `feeds` (nothing at cut 0). `values` holds the inputs and
   * everything the head produced: the cut tensors (`crossing`), and at the last cut the outputs.
   */
  async runHead(feeds: Record<string, ort.Tensor>, opts: { signal?: AbortSignal | undefined } = {}): Promise<HeadResult> {
    throwIfAborted(opts.signal);
    const t0 = performance.now();
    if (this.head_ === null) return { values: feeds, headMs: 0 };
    const h = this.head_;
    const values = { ...feeds, ...(await h.run(Object.fromEntries(h.inputNames.map((n) => [n, feeds[n] as ort.Tensor])))) };
    return { values, headMs: performance.now() - t0 };
  }

  /**
   * The tail stage alone, from what the head produced (at least the cut tensors): encode, the
   * tail where the executor's spec says (or here, `local: true`), decode. headMs is 0.
   */
  async runTail(values: Record<string, ort.Tensor>, opts: TailRunOptions = {}): Promise<ExecutionResult> {
    if (this.allOnDevice) throw new Error("the last cut has no tail: everything ran in the head");
    return this.tail(this.encode({ values, headMs: 0 }, opts), opts);
  }

  /** Whether cut tensor `name` has the batch as its first dimension. */
  private batched(name: string): boolean {
    return this.analysis.shapes.get(name)?.batchDims[0] === true;
  }

  /** The codec over what crosses the cut: the tensors for a local tail (`local`) or for the server. */
  encode(h: HeadResult, opts: TailRunOptions = {}): HeadStage {
    const a = this.analysis;
    const { values, headMs } = h;
    const codec = opts.codec === undefined ? this.options.codec : opts.codec;
    const t1 = performance.now();
    if (this.allOnDevice) {
      const outputs = Object.fromEntries(a.graph.outputs.map((o) => [o, values[o] as ort.Tensor]));
      return { kind: "done", result: { outputs, timings: { headMs, encodeMs: 0, transferMs: 0, serverMs: 0, decodeMs: 0, totalMs: headMs }, tensorBytes: 0, wireBytes: 0, receivedBytes: 0, server: null } };
    }
    throwIfAborted(opts.signal);
    const tailSpec = this.options.tail;
    if (tailSpec.kind === "local" || opts.local === true) {
      // encode what crosses, then hand the tail what decoding gives back
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
      return { kind: "local", values, encoded, tensorBytes, headMs, encodeMs: performance.now() - t1 };
    }
    const effective = (codec ?? { codec: "raw", compression: "none" }) as CodecSpec;
    const tensors = this.crossing.flatMap((name) => {
      const v = values[name];
      if (v === undefined) throw new Error(`the head did not produce cut tensor ${name}`);
      const t = oipOf(name, v);
      if (t.datatype !== "FP32") return [t];
      const batched = this.batched(name);
      // a stock server (Triton, KServe) gets plain tensors its exported tail decodes in the graph
      return tailSpec.serverKind === "triton" ? tritonTensors(t, effective, batched) : [codecTensor(t, rowCodec(effective, t.shape, batched))];
    });
    const tensorBytes = tensors.reduce((n, t) => n + payloadBytes(t), 0);
    return { kind: "remote", tensors, tensorBytes, headMs, encodeMs: performance.now() - t1 };
  }

  /** The tail session in this process: the one opened with a local spec, or loaded now for a remote executor (once). */
  private localTailSession(): Promise<ModelSession> {
    if (this.tail_ !== null) return Promise.resolve(this.tail_);
    if (this.loadingTail === null) {
      const o = this.options;
      const { tail } = splitModel(this.analysis, o.cut);
      const target = o.tail.kind === "local" ? o.tail.target : o.deviceTarget;
      const req = {
        target,
        purpose: o.purpose ?? "inference",
        optimization: o.optimization,
        label: `the tail of ${o.label ?? this.analysis.model.path} at cut ${o.cut} (loaded here: the server failed)`,
      };
      // a remote executor's tail loaded here is device work: on the device thread when there is one
      this.loadingTail = openSession(serializeModel(tail as NonNullable<typeof tail>), req, o.tail.kind === "local" ? undefined : o.deviceThread).then((s) => {
        this.tail_ = s;
        return s;
      });
      this.loadingTail.catch(() => {
        this.loadingTail = null;
      });
    }
    return this.loadingTail;
  }

  /** The rest of a run after head(): the tail (local or remote) and the decode. Stage times add up to totalMs (the time between the two calls is not counted). */
  async tail(stage: HeadStage, opts: RunOptions = {}): Promise<ExecutionResult> {
    if (stage.kind === "done") return stage.result;
    const a = this.analysis;
    throwIfAborted(opts.signal);
    const { headMs, encodeMs, tensorBytes } = stage;
    if (stage.kind === "local") {
      const s = this.tail_ ?? (await this.localTailSession());
      const t2 = performance.now();
      const tailFeeds: Record<string, ort.Tensor> = {};
      for (const { name, t, e } of stage.encoded) tailFeeds[name] = e === null ? t : new ort.Tensor("float32", decodeTensor(e.bytes, e.datatype, e.shape, e.parameters), t.dims);
      const out = await s.run(Object.fromEntries(s.inputNames.map((n) => [n, (tailFeeds[n] ?? stage.values[n]) as ort.Tensor])));
      const serverMs = performance.now() - t2;
      const outputs = Object.fromEntries(a.graph.outputs.map((o) => [o, out[o] as ort.Tensor]));
      return {
        outputs,
        timings: { headMs, encodeMs, transferMs: 0, serverMs, decodeMs: 0, totalMs: headMs + encodeMs + serverMs },
        tensorBytes,
        wireBytes: 0,
        receivedBytes: 0,
        server: null,
      };
    }
    const tail = this.options.tail as Extract<TailSpec, { kind: "remote" }>;
    const t2 = performance.now();
    const r = await tail.client.infer(`${tail.model}.tail.${this.options.cut}`, stage.tensors, { binary: true, signal: opts.signal, timeoutMs: opts.timeoutMs ?? tail.timeoutMs });
    const t3 = performance.now();
    const outputs: Record<string, ort.Tensor> = {};
    for (const name of a.graph.outputs) {
      const o = r.outputs[name];
      if (o === undefined) throw new UsageError(`the tail server's answer lacks output ${name}: is it serving the same model? (check --server-model)`);
      outputs[name] = ortOf(o);
    }
    const t4 = performance.now();
    const serverMs = r.serverMs ?? 0;
    const transferMs = Math.max(0, t3 - t2 - serverMs);
    const decodeMs = t4 - t3;
    return {
      outputs,
      timings: { headMs, encodeMs, transferMs, serverMs, decodeMs, totalMs: headMs + encodeMs + (t4 - t2) },
      tensorBytes,
      wireBytes: r.bytesSent,
      receivedBytes: r.bytesReceived,
      server: { serverMs: r.serverMs, computeMs: r.computeMs, load: r.load, energyJ: r.serverEnergyJ, energySource: r.serverEnergySource, shapedMs: r.shapedMs, rttSleptMs: r.rttSleptMs },
    };
  }

  async release(): Promise<void> {
    await this.head_?.release();
    const tail = this.tail_ ?? (await this.loadingTail?.catch(() => null)) ?? null;
    this.tail_ = null;
    this.loadingTail = null;
    await tail?.release();
  }
}
