import type * as ort from "onnxruntime-node";
import { analyzeModel, type ModelAnalysis } from "../model/cutPoints.js";
import { loadModel, serializeModel } from "../model/onnxModel.js";
import { resolveModel } from "../model/resolveModel.js";
import type { ShapeCache } from "../model/shapeCache.js";
import { UsageError } from "../errors.js";
import { ortMessage } from "../model/ortMessage.js";
import { splitModel } from "../model/splitModel.js";
import { checkTargetInstalled, type ExecutionTarget } from "../runtime/executionTarget.js";
import { SessionCache, type CachedSession } from "../runtime/sessionCache.js";
import { createSession } from "../runtime/sessionFactory.js";
import { ortToDatatype } from "./oip/index.js";

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

/** The tensors `names` of an analysed model as metadata (dtype, shape with -1 for batch dimensions). */
export function tensorMeta(a: ModelAnalysis, names: readonly string[]): TensorMeta[] {
  return names.map((n) => {
    const s = a.shapes.get(n);
    return { name: n, dtype: s?.dtype ?? "float32", shape: (s?.shape ?? []).map((d, i) => (s?.batchDims[i] === true ? -1 : d)) };
  });
}

/** The Open Inference Protocol's model metadata answer ($metadata_model_response) for `meta`. */
export function metaJson(name: string, meta: ModelMeta): Record<string, unknown> {
  return {
    name,
    versions: ["1"],
    platform: "onnxruntime_onnx",
    inputs: meta.inputs.map((t) => ({ name: t.name, datatype: ortToDatatype(t.dtype) ?? "FP32", shape: t.shape })),
    outputs: meta.outputs.map((t) => ({ name: t.name, datatype: ortToDatatype(t.dtype) ?? "FP32", shape: t.shape })),
  };
}

/** A name this server does not serve (a user error: a client's request, or `serve --warm-up`) */
export class ModelNotFoundError extends UsageError {}

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
  /** one item's values per input name, for the shape probe of each model having that input (--input-values) */
  inputValues?: Readonly<Record<string, readonly number[]>> | undefined;
  /** where measured tensor shapes are kept between runs (default: this process's memo) */
  shapeCache?: ShapeCache | undefined;
}

/**
 * The models a tail server offers: every registered model `<name>` whole, and its tails
 * `<name>.tail.<cut>` split on demand (cut index as in `splitwatt inspect`). Sessions load
 * lazily and are kept in an LRU bounded by weight bytes.
 */
export class TailModels {
  private readonly analyses = new Map<string, Promise<ModelAnalysis>>();
  private readonly metas = new Map<string, Promise<ModelMeta>>();
  private readonly sessions: SessionCache<ModelMeta>;
  /** per registered model: can it be resolved, parsed and loaded by onnxruntime (memoized) */
  private readonly checks = new Map<string, Promise<void>>();

  constructor(private readonly opts: TailModelsOptions) {
    // detect, never assume: onnxruntime-node lists execution providers and whether their binaries are present
    if (opts.target !== undefined) checkTargetInstalled(opts.target);
    this.sessions = new SessionCache(opts.cacheBytes ?? 1 << 30, (name) => this.create(name));
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
      a = resolveModel(spec).then((r) => {
        const m = loadModel(r.path);
        const weights = new Set(m.proto.graph?.initializer.map((t) => t.name));
        const inputs = new Set((m.proto.graph?.input ?? []).map((i) => i.name).filter((n) => !weights.has(n)));
        const inputValues = Object.fromEntries(Object.entries(this.opts.inputValues ?? {}).filter(([n]) => inputs.has(n)));
        return analyzeModel(m, { inputShapes: { ...(r.inputShapes ?? {}), ...(this.opts.inputShapes ?? {}) }, inputValues, shapeCache: this.opts.shapeCache });
      });
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
          const session = await createSession(a.model.bytes, { target: this.opts.target, label: `model ${model}` });
          await session.release();
        } catch (err) {
          const why = ortMessage(err);
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

  /** Every registered model is loadable (see loadable), and every given input value is some model's input; the first that is not rejects. */
  async checkAll(): Promise<void> {
    for (const m of this.names()) await this.loadable(m);
    const inputs = new Set<string>();
    for (const m of this.names()) for (const i of (await this.analysis(m)).graph.inputs) inputs.add(i);
    const unknown = Object.keys(this.opts.inputValues ?? {}).filter((n) => !inputs.has(n));
    if (unknown.length > 0) throw new UsageError(`--input-values ${unknown[0]}: no served model has an input named "${unknown[0]}"; their inputs are ${[...inputs].join(", ")}`);
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
    const meta = (names: string[]): TensorMeta[] => tensorMeta(a, names);
    if (cut === null) return { name, inputs: meta(a.graph.inputs), outputs: meta(a.graph.outputs) };
    const c = a.cuts[cut];
    if (c === undefined || cut >= a.cuts.length - 1) {
      throw new ModelNotFoundError(`model "${model}" has tails for cuts 0-${a.cuts.length - 2} (cut ${a.cuts.length - 1} runs everything on the device)`);
    }
    return { name, inputs: meta(c.tensors.map((t) => t.name)), outputs: meta(a.graph.outputs) };
  }

  /** Run `name` with a session from the cache (loaded on first use); computeMs is the onnxruntime run alone. */
  async run(name: string, feeds: Record<string, ort.Tensor>): Promise<{ outputs: Record<string, ort.Tensor>; computeMs: number }> {
    return this.sessions.with(name, async ({ session }) => {
      const t0 = performance.now();
      const outputs = await session.run(feeds);
      return { outputs, computeMs: performance.now() - t0 };
    });
  }

  /** Load the session now (warm-up). */
  async load(name: string): Promise<void> {
    await this.sessions.acquire(name);
    this.sessions.release(name);
  }

  private async create(name: string): Promise<CachedSession<ModelMeta>> {
    const meta = await this.metadata(name);
    const [model, cut] = this.parseName(name);
    const a = await this.analysis(model);
    const bytes = cut === null ? a.model.bytes : serializeModel(splitModel(a, cut).tail as NonNullable<ReturnType<typeof splitModel>["tail"]>);
    const session = await createSession(bytes, { target: this.opts.target, label: name });
    return { session, meta, bytes: bytes.byteLength };
  }

  loadedNames(): string[] {
    return this.sessions.names();
  }

  async close(): Promise<void> {
    await this.sessions.close();
  }
}
