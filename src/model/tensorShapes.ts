import { create } from "@bufbuild/protobuf";
import { ValueInfoProtoSchema, type GraphProto } from "onnx-buf";
import type * as ort from "onnxruntime-node";
import { BadModelError, UsageError } from "../errors.js";
import { createSession } from "../runtime/sessionFactory.js";
import { syntheticInputs, type InputSpec } from "../runtime/syntheticInputs.js";
import { batchLayout } from "./batchLayout.js";
import type { GraphInfo } from "./graphInfo.js";
import { serializeModel, type OnnxModel } from "./onnxModel.js";
import { ortMessage } from "./ortMessage.js";
import { dtypeBytes, dtypeName, elemTypeOf } from "./tensorType.js";

/** A tensor's type at batch 1 for the inspected input size. */
export interface TensorShape {
  name: string;
  dtype: string;
  elemType: number;
  /** concrete dims at batch 1 */
  shape: number[];
  /** per dim: true when it follows the batch size (written as the symbolic "N" in split parts) */
  batchDims: boolean[];
  bytes: number;
  /** "value_info" when declared in the model, "onnxruntime" when measured by running it */
  from: "value_info" | "onnxruntime";
}

export interface ShapeOptions {
  /**
   * concrete shape per graph input (needed when a non-batch dim is symbolic). The batch dims
   * (batchLayout.ts) may hold the batch to analyse at: the probe runs at that batch and every
   * shape is reported per item (batch 1)
   */
  inputShapes?: Record<string, number[]> | undefined;
  /** per graph input: the values of one item (row-major), fed instead of zeros to the probe */
  inputValues?: Readonly<Record<string, readonly number[]>> | undefined;
  /** when set, a batch other than 1 in `inputShapes` is refused with this reason */
  singleItem?: string | undefined;
}

/** The graph inputs as analysed: shapes per item, where the batch sits, and the batch to run at. */
export interface InputLayout {
  /** concrete shape of one item (batch dims at 1) per graph input */
  shapes: Record<string, number[]>;
  /** per graph input: true where the dim follows the batch */
  batchDims: Record<string, boolean[]>;
  /** the batch the shapes are measured (and splits verified) at: 1 unless `inputShapes` gives another */
  batch: number;
  /** every dim_param that stands for the batch */
  symbols: Set<string>;
}

/** `x=1,?,4`: an input's shape with the batch at 1 and "?" where the user must give a size. */
function shapeHint(name: string, dims: ReadonlyArray<number | string | null>, batchDims: readonly boolean[]): string {
  return `${name}=${dims.map((d, j) => (batchDims[j] === true ? 1 : typeof d === "number" && d > 0 ? d : "?")).join(",")}`;
}

/**
 * The graph inputs' shapes per item and the batch to analyse at: declared dims, the batch dims
 * (batchLayout.ts) at 1, other symbolic dims from `inputShapes`. A given shape's batch dims set
 * the batch (every input must agree) and count as 1 in the shapes.
 */
export function inputLayout(model: OnnxModel, info: GraphInfo, opts: ShapeOptions = {}): InputLayout {
  const layout = batchLayout(info);
  const shapes: Record<string, number[]> = {};
  const batchDims: Record<string, boolean[]> = {};
  let batch: { size: number; from: string } | null = null;
  for (const name of info.inputs) {
    const t = info.declared.get(name);
    const declared = t?.dims ?? null;
    const given = opts.inputShapes?.[name];
    // an input declared without a shape: its dim 0 is taken to follow the batch, as most exporters write it
    const dims = layout.batchDims[name] ?? [];
    const flags = declared === null ? (given ?? []).map((_, i) => i === 0) : dims;
    batchDims[name] = flags;
    if (given !== undefined) {
      if (declared !== null && given.length !== declared.length) {
        throw new UsageError(`--input-shape ${name}=${given.join(",")}: ${name} has ${declared.length} dims ([${declared.map((d) => d ?? "?").join(",")}]), not ${given.length}; e.g. ${shapeHint(name, declared, flags)}`);
      }
      for (const [j, d] of given.entries()) {
        if (flags[j] !== true) continue;
        if (d < 1) throw new UsageError(`--input-shape ${name}=${given.join(",")}: dim ${j} is the batch and must be at least 1`);
        if (batch !== null && batch.size !== d) {
          throw new UsageError(`--input-shape: the inputs disagree on the batch: ${batch.from} but ${name} has ${d} at dim ${j}; give every input the same batch (or batch 1)`);
        }
        batch = { size: d, from: `${name} has ${d} at dim ${j}` };
      }
      shapes[name] = given.map((d, j) => (flags[j] === true ? 1 : d));
      continue;
    }
    if (declared === null) throw new UsageError(`${model.path}: input ${name} has no declared shape: give one with --input-shape ${name}=1,3,224,224`);
    shapes[name] = declared.map((d, i) => {
      if (flags[i] === true) return 1;
      if (typeof d === "number" && d > 0) return d;
      throw new UsageError(`${model.path}: input ${name} dim ${i} is symbolic (${d ?? "?"}): give the shape with --input-shape ${shapeHint(name, declared, flags)}`);
    });
  }
  const size = batch?.size ?? 1;
  if (size !== 1 && opts.singleItem !== undefined) {
    const hints = Object.keys(opts.inputShapes ?? {})
      .filter((n) => shapes[n] !== undefined)
      .map((n) => `${n}=${(shapes[n] as number[]).join(",")}`);
    throw new UsageError(`--input-shape gives batch ${size} (${batch?.from}), but ${opts.singleItem}: give the shape of one item, ${hints.join(" ")}`);
  }
  return { shapes, batchDims, batch: size, symbols: layout.symbols };
}

/** The concrete input shapes of one item (see inputLayout). */
export function concreteInputShapes(model: OnnxModel, info: GraphInfo, opts: ShapeOptions = {}): Record<string, number[]> {
  return inputLayout(model, info, opts).shapes;
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The tensors whose shapes tensorShapes gives: graph inputs, compute outputs, and constant-only
 * tensors (they never cross, but a Conv reading a dequantized weight needs its dims for MACs).
 */
export function measuredTensors(info: GraphInfo): string[] {
  return [...info.birth.keys(), ...info.constantOnly.flatMap((n) => n.output).filter((o) => o !== "")];
}

/** Why the probe copy does not load: the model itself, or splitwatt's rewrite of it (the original loads). */
async function probeLoadError(model: OnnxModel, err: unknown): Promise<BadModelError> {
  try {
    await (await createSession(model.bytes, { purpose: "probe", label: model.path })).release();
  } catch (original) {
    const cause = original instanceof Error && original.cause !== undefined ? original.cause : original;
    return new BadModelError(`onnxruntime cannot load ${model.path}: ${ortMessage(cause)}`, { path: model.path, cause });
  }
  return new BadModelError(
    `onnxruntime loads ${model.path}, but not the copy with every intermediate tensor exposed that splitwatt runs to measure shapes: ${ortMessage(err)}; ` +
      "declare the shapes in the model (python: onnx.shape_inference.infer_shapes) so no probe is needed, or report this",
    { path: model.path, cause: err },
  );
}

/**
 * Types and shapes of every non-weight tensor (graph inputs and compute outputs), per item: from
 * the model's value_info where complete (a dim named by a batch symbol counts 1), else from
 * running the model with every missing tensor exposed as an output, at the layout's batch b,
 * and once more at 2b when the batch is symbolic, to see which dims follow it. The probe feeds
 * zeros of each input's type, or the given `inputValues` (one item, tiled over the batch).
 */
export async function tensorShapes(model: OnnxModel, info: GraphInfo, opts: ShapeOptions = {}): Promise<Map<string, TensorShape>> {
  const layout = inputLayout(model, info, opts);
  const inputShapes = layout.shapes;
  const b = layout.batch;
  const out = new Map<string, TensorShape>();
  const wanted = measuredTensors(info);
  const missing: string[] = [];
  for (const name of wanted) {
    const d = info.declared.get(name);
    const given = inputShapes[name];
    if (d === undefined) {
      missing.push(name);
      continue;
    }
    const flags = given !== undefined ? (layout.batchDims[name] as boolean[]) : (d.dims ?? []).map((x) => typeof x === "string" && layout.symbols.has(x));
    const dims = given ?? d.dims;
    if (dims != null && dims.every((x, i) => (typeof x === "number" && x > 0) || flags[i] === true)) {
      const shape = dims.map((x, i) => (flags[i] === true ? 1 : (x as number)));
      out.set(name, { name, dtype: dtypeName(d.elemType), elemType: d.elemType, shape, batchDims: flags, bytes: elementCount(shape) * dtypeBytes(d.elemType), from: "value_info" });
    } else missing.push(name);
  }
  if (missing.length === 0) return out;

  const g = model.proto.graph as GraphProto;
  const probeGraph: GraphProto = { ...g, output: [...g.output, ...missing.filter((m) => !info.outputs.includes(m)).map((name) => create(ValueInfoProtoSchema, { name }))] };
  const bytes = serializeModel({ ...model.proto, graph: probeGraph });
  let session: ort.InferenceSession;
  try {
    session = await createSession(bytes, { purpose: "probe", label: model.path });
  } catch (err) {
    throw await probeLoadError(model, err instanceof Error && err.cause !== undefined ? err.cause : err);
  }
  const specs: InputSpec[] = info.inputs.map((name) => ({
    name,
    dtype: dtypeName(info.declared.get(name)?.elemType ?? elemTypeOf("float32")),
    shape: inputShapes[name] as number[],
    batchDims: layout.batchDims[name],
  }));
  const symbolicBatch = Object.values(layout.batchDims).some((f) => f.includes(true));
  const what = opts.inputValues !== undefined && Object.keys(opts.inputValues).length > 0 ? `the given values (zeros elsewhere)` : "zeros";
  const run = async (batch: number, names: string[]) => {
    const feeds = syntheticInputs(specs, { fill: "zeros", batch, values: opts.inputValues });
    try {
      return await session.run(feeds, names);
    } catch (err) {
      const given = Object.entries(feeds).map(([k, v]) => `${k}=${v.dims.join(",")}`);
      throw new BadModelError(`onnxruntime failed to run ${model.path} on ${what} (${given.join(" ")}) to measure tensor shapes: ${ortMessage(err)}; check the shapes (--input-shape) and values (--input-values)`, {
        path: model.path,
        cause: err,
      });
    }
  };
  try {
    // A few dozen outputs per run bounds memory on large feature maps (PP-OCR det at 640x640).
    for (let i = 0; i < missing.length; i += 48) {
      const names = missing.slice(i, i + 48);
      const one = await run(b, names);
      const two = symbolicBatch ? await run(2 * b, names) : one;
      for (const name of names) {
        const t = one[name];
        if (t === undefined) continue;
        const elemType = elemTypeOf(t.type === "bool" ? "bool" : t.type);
        const { shape, batchDims } = perItem(name, [...t.dims], [...(two[name]?.dims ?? t.dims)], b, model.path);
        out.set(name, { name, dtype: t.type, elemType, shape, batchDims, bytes: elementCount(shape) * dtypeBytes(elemType), from: "onnxruntime" });
      }
    }
  } finally {
    await session.release();
  }
  return out;
}

/**
 * A probed tensor's shape per item from its dims at batch b and 2b: dims that differ follow the
 * batch (divided by b). A tensor whose rank changes with the batch (a Squeeze of a batch dim of 1)
 * keeps its dims at b, none marked: its parts are typed for the batch analysed.
 */
function perItem(name: string, atB: number[], at2B: number[], b: number, path: string): { shape: number[]; batchDims: boolean[] } {
  if (atB.length !== at2B.length) return { shape: atB, batchDims: atB.map(() => false) };
  const batchDims = atB.map((d, j) => at2B[j] !== d);
  const shape = atB.map((d, j) => {
    if (batchDims[j] !== true) return d;
    if (d % b !== 0) throw new BadModelError(`${path}: tensor ${name} dim ${j} is ${d} at batch ${b} and ${at2B[j]} at batch ${2 * b}, not a multiple of the batch: analyse at batch 1 (--input-shape with 1 in the batch dim)`, { path });
    return d / b;
  });
  return { shape, batchDims };
}
