import { create } from "@bufbuild/protobuf";
import { ValueInfoProtoSchema, type GraphProto } from "onnx-buf";
import type * as ort from "onnxruntime-node";
import { BadModelError, UsageError } from "../errors.js";
import { createSession } from "../runtime/sessionFactory.js";
import { syntheticTensor } from "../runtime/syntheticInputs.js";
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
  /** concrete shape per graph input (needed when a non-batch dim is symbolic) */
  inputShapes?: Record<string, number[]> | undefined;
}

/** The concrete input shapes at batch 1: declared dims, symbolic first dim = 1, others from opts. */
export function concreteInputShapes(model: OnnxModel, info: GraphInfo, opts: ShapeOptions = {}): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const name of info.inputs) {
    const given = opts.inputShapes?.[name];
    if (given !== undefined) {
      out[name] = given;
      continue;
    }
    const t = info.declared.get(name);
    if (t?.dims == null) throw new UsageError(`${model.path}: input ${name} has no declared shape: give one with --input-shape ${name}=1,3,224,224`);
    out[name] = t.dims.map((d, i) => {
      if (typeof d === "number" && d > 0) return d;
      if (i === 0) return 1;
      throw new UsageError(`${model.path}: input ${name} dim ${i} is symbolic (${d ?? "?"}): give the shape with --input-shape ${name}=${t.dims?.map((x, j) => (j === 0 ? 1 : typeof x === "number" ? x : "?")).join(",")}`);
    });
  }
  return out;
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Zeros of an input's type, with the first dimension at `batch`. */
function zeros(elemType: number, shape: number[], batch: number): ort.Tensor {
  const dtype = dtypeName(elemType);
  return syntheticTensor({ name: "probe", dtype, shape: shape.map((d, i) => (i === 0 ? batch : d)) }, { fill: "zeros" });
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
 * Types and shapes of every non-weight tensor (graph inputs and compute outputs): from the
 * model's value_info where complete, else from running the model once (twice when the batch
 * is symbolic, to see which dims follow it) with every missing tensor exposed as an output.
 */
export async function tensorShapes(model: OnnxModel, info: GraphInfo, opts: ShapeOptions = {}): Promise<Map<string, TensorShape>> {
  const inputShapes = concreteInputShapes(model, info, opts);
  const out = new Map<string, TensorShape>();
  const wanted = measuredTensors(info);
  const missing: string[] = [];
  for (const name of wanted) {
    const d = info.declared.get(name);
    const given = inputShapes[name];
    const dims = given ?? d?.dims;
    if (d !== undefined && dims != null && dims.every((x, i) => (typeof x === "number" && x > 0) || (i === 0 && typeof x === "string"))) {
      const shape = dims.map((x) => (typeof x === "number" ? x : 1));
      const batchDims = (d.dims ?? dims).map((x, i) => i === 0 && typeof x === "string");
      out.set(name, { name, dtype: dtypeName(d.elemType), elemType: d.elemType, shape, batchDims, bytes: elementCount(shape) * dtypeBytes(d.elemType), from: "value_info" });
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
  const symbolicBatch = info.inputs.some((name) => typeof info.declared.get(name)?.dims?.[0] === "string");
  const run = async (batch: number, names: string[]) => {
    const feeds: Record<string, ort.Tensor> = {};
    for (const name of info.inputs) feeds[name] = zeros(info.declared.get(name)?.elemType ?? elemTypeOf("float32"), inputShapes[name] as number[], batch);
    try {
      return await session.run(feeds, names);
    } catch (err) {
      const given = Object.entries(inputShapes).map(([k, v]) => `${k}=${v.map((d, i) => (i === 0 ? batch : d)).join(",")}`);
      throw new BadModelError(`onnxruntime failed to run ${model.path} on zeros (${given.join(" ")}) to measure tensor shapes: ${ortMessage(err)}; check the shapes (--input-shape)`, {
        path: model.path,
        cause: err,
      });
    }
  };
  try {
    // A few dozen outputs per run bounds memory on large feature maps (PP-OCR det at 640x640).
    for (let i = 0; i < missing.length; i += 48) {
      const names = missing.slice(i, i + 48);
      const one = await run(1, names);
      const two = symbolicBatch ? await run(2, names) : one;
      for (const name of names) {
        const t = one[name];
        if (t === undefined) continue;
        const elemType = elemTypeOf(t.type === "bool" ? "bool" : t.type);
        const shape = [...t.dims];
        const shape2 = [...(two[name]?.dims ?? shape)];
        out.set(name, { name, dtype: t.type, elemType, shape, batchDims: shape.map((d, j) => shape2[j] !== d), bytes: elementCount(shape) * dtypeBytes(elemType), from: "onnxruntime" });
      }
    }
  } finally {
    await session.release();
  }
  return out;
}
