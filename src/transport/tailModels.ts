import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";
import { analyzeModel, type ModelAnalysis } from "../model/cutPoints.js";
import { loadModel, serializeModel } from "../model/onnxModel.js";
import { resolveModel } from "../model/resolveModel.js";
import { splitModel } from "../model/splitModel.js";

/** Where sessions run: CPU with N intra-op threads, or CUDA/TensorRT where installed. */
export type ExecutionTarget = { kind: "cpu"; threads: number } | { kind: "cuda" } | { kind: "tensorrt" };

export function parseTarget(text: string): ExecutionTarget {
  const m = /^cpu(?::(\d+))?$/.exec(text);
  if (m !== null) return { kind: "cpu", threads: m[1] === undefined ? 0 : Number(m[1]) };
  if (text === "cuda" || text === "tensorrt") return { kind: text };
  throw new UsageError(`execution target "${text}" is not one of cpu, cpu:N, cuda, tensorrt`);
}

export interface TensorMeta {
  name: string;
  /** onnxruntime type name (float32, int64, ...) */
  dtype: string;
  /** -1 for the batch dimension */
  shape: number[];
}

export interface ModelMeta {
  name: string;
  inputs: TensorMeta[];
  outputs: TensorMeta[];
}

/** A name this server does not serve (a user error: a client's request, or `serve --warm-up`) */
export class ModelNotFoundError extends UsageError {}

interface Entry {
  session: ort.InferenceSession;
  meta: ModelMeta;
  bytes: number;
  users: number;
  lastUsed: number;
}

export interface TailModelsOptions {
  /** served name -> MODEL (a path, zoo name or paddle:cls) */
  models: Record<string, string>;
  target?: ExecutionTarget | undefined;
  /**
   * bound on the serialized ONNX bytes (weights) of the loaded sessions; least recently used ones
   * are released first (default 1 GiB). Not a bound on memory: onnxruntime holds about 1.5-3x
   * that per session (bench:cache)
   */
  cacheBytes?: number | undefined;
  /** input shapes for models whose inputs are symbolic */
  inputShapes?: Record<string, number[]> | undefined;
}

/**
 * The models a tail server offers: every registered model `<name>` whole, and its tails
 * `<name>.tail.<cut>` split on demand (cut index as in `splitwatt inspect`). Sessions load
 * lazily and are kept in an LRU bounded by weight bytes.
 */
export class TailModels {
  private readonly analyses = new Map<string, Promise<ModelAnalysis>>();
  private readonly sessions = new Map<string, Promise<Entry>>();
  private readonly metas = new Map<string, Promise<ModelMeta>>();
  /** the sessions that finished loading (eviction never waits for one still loading) */
  private readonly ready = new Map<string, Entry>();
  /** per registered model: can it be resolved, parsed and loaded by onnxruntime (memoized) */
  private readonly checks = new Map<string, Promise<void>>();
  private readonly cacheBytes: number;

  constructor(private readonly opts: TailModelsOptions) {
    this.cacheBytes = opts.cacheBytes ?? 1 << 30;
    const t = opts.target;
    if (t !== undefined && t.kind !== "cpu") {
      // detect, never assume: onnxruntime-node lists execution providers and whether their binaries are present
      const backend = ort.listSupportedBackends().find((b) => b.name === t.kind);
      if (backend === undefined || !backend.bundled) {
        throw new UsageError(
          `the ${t.kind} execution provider is not installed in this onnxruntime-node (it was installed with onnxruntime-node-install=skip): see the README's "CUDA on a GPU server", or use --target cpu`,
        );
      }
    }
  }

  names(): string[] {
    return Object.keys(this.opts.models);
  }

  /** `<model>` or `<model>.tail.<cut>` -> [model, cut or null]; ModelNotFoundError otherwise. */
  parseName(name: string): [string, number | null] {
    if (this.opts.models[name] !== undefined) return [name, null];
    const m = /^(.+)\.tail\.(\d+)$/.exec(name);
    if (m !== null && this.opts.models[m[1] as string] !== undefined) return [m[1] as string, Number(m[2])];
    throw new ModelNotFoundError(`unknown model "${name}"; this server has ${this.names().map((n) => `${n} (and ${n}.tail.<cut>)`).join(", ")}`);
  }

  analysis(model: string): Promise<ModelAnalysis> {
    let a = this.analyses.get(model);
    if (a === undefined) {
      const spec = this.opts.models[model] as string;
      a = resolveModel(spec).then((r) => analyzeModel(loadModel(r.path), { inputShapes: { ...(r.inputShapes ?? {}), ...(this.opts.inputShapes ?? {}) } }));
      this.analyses.set(model, a);
      a.catch(() => this.analyses.delete(model));
    }
    return a;
  }

  /**
   * Whether registered model `model` can be served: resolved, parsed and loaded by onnxruntime
   * (a session is created and released). Memoized, a failure included: fix the model and restart.
   * The UsageError names the model, the --model flag and the cause (which may hold server paths:
   * for logs and the operator, not for HTTP clients).
   */
  loadable(model: string): Promise<void> {
    let c = this.checks.get(model);
    if (c === undefined) {
      const spec = this.opts.models[model];
      c = (async () => {
        if (spec === undefined) throw new ModelNotFoundError(`unknown model "${model}"; this server has ${this.names().join(", ")}`);
        try {
          const a = await this.analysis(model);
          const session = await ort.InferenceSession.create(a.model.bytes, this.sessionOptions());
          await session.release();
        } catch (err) {
          const why = (err as Error).message.split("\n")[0] ?? "";
          // most causes say what to do already (resolveModel, loadModel); onnxruntime's do not
          const hint = /\b(give|check|is the file|set|use|run)\b/i.test(why) ? "" : "; fix or replace the model file";
          throw new UsageError(`--model ${model}=${spec} cannot be served: ${why}${hint}`, { cause: err });
        }
      })();
      c.catch(() => undefined); // observed by whoever asks; never an unhandled rejection
      this.checks.set(model, c);
    }
    return c;
  }

  /** Every registered model is loadable (see loadable); the first that is not rejects. */
  async checkAll(): Promise<void> {
    for (const m of this.names()) await this.loadable(m);
  }

  /** Metadata of a served name without loading a session (computed once per name: every request asks). */
  metadata(name: string): Promise<ModelMeta> {
    let m = this.metas.get(name);
    if (m === undefined) {
      m = this.computeMetadata(name);
      this.metas.set(name, m);
      m.catch(() => this.metas.delete(name));
    }
    return m;
  }

  private async computeMetadata(name: string): Promise<ModelMeta> {
    const [model, cut] = this.parseName(name);
    const a = await this.analysis(model);
    const meta = (names: string[]): TensorMeta[] =>
      names.map((n) => {
        const s = a.shapes.get(n);
        return { name: n, dtype: s?.dtype ?? "float32", shape: (s?.shape ?? []).map((d, i) => (s?.batchDims[i] === true ? -1 : d)) };
      });
    if (cut === null) return { name, inputs: meta(a.graph.inputs), outputs: meta(a.graph.outputs) };
    const c = a.cuts[cut];
    if (c === undefined || cut >= a.cuts.length - 1) {
      throw new ModelNotFoundError(`model "${model}" has tails for cuts 0-${a.cuts.length - 2} (cut ${a.cuts.length - 1} runs everything on the device)`);
    }
    return { name, inputs: meta(c.tensors.map((t) => t.name)), outputs: meta(a.graph.outputs) };
  }

  /** Run `name` with a session from the cache (loaded on first use); computeMs is the onnxruntime run alone. */
  async run(name: string, feeds: Record<string, ort.Tensor>): Promise<{ outputs: Record<string, ort.Tensor>; computeMs: number }> {
    const entry = await this.acquire(name);
    try {
      const t0 = performance.now();
      const outputs = await entry.session.run(feeds);
      return { outputs, computeMs: performance.now() - t0 };
    } finally {
      entry.users--;
      entry.lastUsed = performance.now();
    }
  }

  /** Load the session now (warm-up). */
  async load(name: string): Promise<void> {
    const e = await this.acquire(name);
    e.users--;
  }

  private sessionOptions(): ort.InferenceSession.SessionOptions {
    const t = this.opts.target ?? { kind: "cpu", threads: 0 };
    if (t.kind === "cpu") return { executionProviders: ["cpu"], ...(t.threads > 0 ? { intraOpNumThreads: t.threads } : {}) };
    return { executionProviders: [t.kind] };
  }

  private async acquire(name: string): Promise<Entry> {
    let p = this.sessions.get(name);
    if (p === undefined) {
      p = this.create(name);
      this.sessions.set(name, p);
      p.catch(() => this.sessions.delete(name));
    }
    const e = await p;
    e.users++;
    e.lastUsed = performance.now();
    this.ready.set(name, e);
    await this.evict(name);
    return e;
  }

  private async create(name: string): Promise<Entry> {
    const meta = await this.metadata(name);
    const [model, cut] = this.parseName(name);
    const a = await this.analysis(model);
    const bytes = cut === null ? a.model.bytes : serializeModel(splitModel(a, cut).tail as NonNullable<ReturnType<typeof splitModel>["tail"]>);
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, this.sessionOptions());
    } catch (err) {
      const t = this.opts.target?.kind ?? "cpu";
      throw new UsageError(`cannot start an onnxruntime session for ${name} on ${t}: ${(err as Error).message.split("\n")[0]}${t === "cpu" ? "" : " (is the CUDA build of onnxruntime-node installed? see README)"}`);
    }
    return { session, meta, bytes: bytes.byteLength, users: 0, lastUsed: performance.now() };
  }

  /** Release least recently used idle sessions until the loaded weights fit the bound. */
  private async evict(keep: string): Promise<void> {
    let total = 0;
    for (const e of this.ready.values()) total += e.bytes;
    for (const [n, e] of [...this.ready].sort((x, y) => x[1].lastUsed - y[1].lastUsed)) {
      if (total <= this.cacheBytes) break;
      if (n === keep || e.users > 0) continue;
      this.ready.delete(n);
      this.sessions.delete(n);
      total -= e.bytes;
      await e.session.release();
    }
  }

  loadedNames(): string[] {
    return [...this.sessions.keys()];
  }

  async close(): Promise<void> {
    for (const p of this.sessions.values()) await (await p.catch(() => undefined))?.session.release();
    this.sessions.clear();
    this.ready.clear();
  }
}
