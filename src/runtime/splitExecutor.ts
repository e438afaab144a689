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
import { executionTargetName, type ExecutionTarget } from "./executionTarget.js";
import { createSession, type SessionPurpose } from "./sessionFactory.js";
import { warmUp, type HeadWarmUp } from "./warmUp.js";

export type TailSpec =
  /** the tail in this process */
  | { kind: "local"; target?: ExecutionTarget | undefined }
  /** a tail server; `model` is the served model's name (it serves `<model>.tail.<cut>`) */
  | { kind: "remote"; client: TailClient; model: string; timeoutMs?: number | undefined };

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
  /** this run's remote-tail timeout instead of the tail spec's, ms */
  timeoutMs?: number | undefined;
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

export class SplitExecutor {
  /** the tensors that cross the cut, in the cut's order */
  readonly crossing: readonly string[];

  private constructor(
    readonly analysis: ModelAnalysis,
    readonly options: SplitExecutorOptions,
    private readonly head_: ort.InferenceSession | null,
    private readonly tail_: ort.InferenceSession | null,
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
    const { head, tail } = o.parts ?? splitModel(a, o.cut);
    const label = o.label ?? a.model.path;
    const purpose = o.purpose ?? "inference";
    const t0 = performance.now();
    const headS = head === null ? null : await createSession(serializeModel(head), { target: o.deviceTarget, purpose, optimization: o.optimization, label: `the head of ${label} at cut ${o.cut}` });
    const headSessionCreateMs = head === null ? 0 : performance.now() - t0;
    let tailS: ort.InferenceSession | null = null;
    try {
      if (tail !== null && o.tail.kind === "local") tailS = await createSession(serializeModel(tail), { target: o.tail.target, purpose, optimization: o.optimization, label: `the tail of ${label} at cut ${o.cut}` });
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
  async head(feeds: Record<string, ort.Tensor>, opts: RunOptions = {}): Promise<HeadStage> {
    const a = this.analysis;
    const codec = opts.codec === undefined ? this.options.codec : opts.codec;
    throwIfAborted(opts.signal);
    const t0 = performance.now();
    let values: Record<string, ort.Tensor> = feeds;
    if (this.head_ !== null) {
      const h = this.head_;
      values = { ...feeds, ...(await h.run(Object.fromEntries(h.inputNames.map((n) => [n, feeds[n] as ort.Tensor])))) };
    }
    const t1 = performance.now();
    if (this.allOnDevice) {
      const outputs = Object.fromEntries(a.graph.outputs.map((o) => [o, values[o] as ort.Tensor]));
      const ms = t1 - t0;
      return { kind: "done", result: { outputs, timings: { headMs: ms, encodeMs: 0, transferMs: 0, serverMs: 0, decodeMs: 0, totalMs: ms }, tensorBytes: 0, wireBytes: 0, receivedBytes: 0, server: null } };
    }
    throwIfAborted(opts.signal);
    if (this.options.tail.kind === "local") {
      // encode what crosses, then hand the tail what decoding gives back
      let tensorBytes = 0;
      const encoded = this.crossing.map((name) => {
        const t = values[name];
        if (t === undefined) throw new Error(`the head did not produce cut tensor ${name}`);
        if (codec === null || t.type !== "float32") {
          tensorBytes += (t.data as { byteLength: number }).byteLength;
          return { name, t, e: null };
        }
        const e = encodeTensor(t.data as Float32Array, [...t.dims], codec);
        tensorBytes += e.bytes.byteLength;
        return { name, t, e };
      });
      return { kind: "local", values, encoded, tensorBytes, headMs: t1 - t0, encodeMs: performance.now() - t1 };
    }
    const effective = codec ?? { codec: "raw", compression: "none" };
    const tensors = this.crossing.map((name) => {
      const v = values[name];
      if (v === undefined) throw new Error(`the head did not produce cut tensor ${name}`);
      const t = oipOf(name, v);
      return t.datatype === "FP32" ? codecTensor(t, effective as CodecSpec) : t;
    });
    const tensorBytes = tensors.reduce((n, t) => n + payloadBytes(t), 0);
    return { kind: "remote", tensors, tensorBytes, headMs: t1 - t0, encodeMs: performance.now() - t1 };
  }

  /** The rest of a run after head(): the tail (local or remote) and the decode. Stage times add up to totalMs (the time between the two calls is not counted). */
  async tail(stage: HeadStage, opts: RunOptions = {}): Promise<ExecutionResult> {
    if (stage.kind === "done") return stage.result;
    const a = this.analysis;
    throwIfAborted(opts.signal);
    const { headMs, encodeMs, tensorBytes } = stage;
    if (stage.kind === "local") {
      const t2 = performance.now();
      const s = this.tail_ as ort.InferenceSession;
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
      server: { serverMs: r.serverMs, computeMs: r.computeMs, load: r.load, energyJ: r.serverEnergyJ, energySource: r.serverEnergySource, shapedMs: r.shapedMs },
    };
  }

  async release(): Promise<void> {
    await this.head_?.release();
    await this.tail_?.release();
  }
}
