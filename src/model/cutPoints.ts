import type { NodeProto } from "onnx-buf";
import { crossingAt, graphInfo, type GraphInfo } from "./graphInfo.js";
import { nodeMacs } from "./nodeMacs.js";
import type { OnnxModel } from "./onnxModel.js";
import { shapeCache, type ShapeCache } from "./shapeCache.js";
import { checkInputValues } from "../runtime/syntheticInputs.js";
import { dtypeName } from "./tensorType.js";
import { inputLayout, measuredTensors, tensorShapes, type ShapeOptions, type TensorShape } from "./tensorShapes.js";

export interface CutTensor {
  name: string;
  shape: number[];
  dtype: string;
  bytes: number;
}

/** One place the model can be cut: compute nodes [0, position) on the device, the rest on the server. */
export interface CutPoint {
  /** 0 = everything on the server, L = everything on the device */
  index: number;
  /** number of compute nodes in the head */
  position: number;
  /** last node of the head (null for index 0) */
  node: { name: string; op: string } | null;
  /** what crosses from head to tail (the graph inputs at index 0, the outputs at index L) */
  tensors: CutTensor[];
  bytes: number;
  /** multiply-accumulates of the head at batch 1 */
  headMacs: number;
  /** fewer bytes than the input and than every earlier cut (Dynamic Split Computing's definition) */
  naturalBottleneck: boolean;
}

export interface ModelAnalysis {
  model: OnnxModel;
  graph: GraphInfo;
  /** per item (batch 1), whatever batch they were measured at */
  shapes: Map<string, TensorShape>;
  /** concrete input shapes of one item (batch 1) the shapes and bytes are for */
  inputShapes: Record<string, number[]>;
  /** the batch the shapes were measured at, and splits are verified at (1 unless --input-shape gave another) */
  batch: number;
  /** per graph input, one item's values fed instead of synthetic ones on every path (modelInputs); empty when none were given */
  inputValues: Readonly<Record<string, readonly number[]>>;
  cuts: CutPoint[];
  totalMacs: number;
}

export interface CutOptions extends ShapeOptions {
  /** largest number of tensors a listed cut may carry (default 4) */
  maxTensors?: number | undefined;
  /** where measured shapes are kept between analyses (default: in memory, for this process) */
  shapeCache?: ShapeCache | undefined;
}

/** Shapes measured in this process, for analyses given no cache of their own. */
const processShapes = shapeCache();

/**
 * Every position in the topological order where at most `maxTensors` tensors cross from head to
 * tail (weights and Constant outputs never cross), with shapes, bytes, head MACs and natural
 * bottlenecks. Consecutive positions with the same crossing set are listed once.
 */
export async function analyzeModel(model: OnnxModel, opts: CutOptions = {}): Promise<ModelAnalysis> {
  const graph = graphInfo(model);
  const layout = inputLayout(model, graph, opts);
  const inputShapes = layout.shapes;
  const inputValues = opts.inputValues ?? {};
  checkInputValues(
    graph.inputs.map((name) => ({ name, dtype: dtypeName(graph.declared.get(name)?.elemType ?? 1), shape: inputShapes[name] as number[] })),
    inputValues,
    "given input values",
  );
  const cache = opts.shapeCache ?? processShapes;
  const key = { sha256: model.sha256, inputShapes, batch: layout.batch, inputValues };
  let shapes = cache.get(key, measuredTensors(graph));
  if (shapes === null) {
    shapes = await tensorShapes(model, graph, { inputShapes: opts.inputShapes, inputValues });
    cache.set(key, shapes);
  }
  const maxTensors = opts.maxTensors ?? 4;
  const weightDims = weightShapes(model);
  const shapeOf = (name: string): number[] | undefined => shapes.get(name)?.shape ?? weightDims.get(name);
  const macs = graph.compute.map((n) => nodeMacs(n, shapeOf));
  const describe = (names: string[]): CutTensor[] =>
    names.map((name) => {
      const s = shapes.get(name);
      return { name, shape: s?.shape ?? [], dtype: s?.dtype ?? "unknown", bytes: s?.bytes ?? 0 };
    });
  const n = graph.compute.length;
  const positions: number[] = [0];
  let prevKey = "";
  for (let k = 1; k < n; k++) {
    const crossing = crossingAt(graph, k);
    if (crossing.length === 0 || crossing.length > maxTensors) continue;
    const key = [...crossing].sort().join("\u0000");
    if (key === prevKey) continue;
    prevKey = key;
    positions.push(k);
  }
  positions.push(n);
  let cumulative = 0;
  let macIndex = 0;
  let smallest = Number.POSITIVE_INFINITY;
  const cuts: CutPoint[] = [];
  let inputBytes = 0;
  positions.forEach((k, index) => {
    while (macIndex < k) cumulative += macs[macIndex++] ?? 0;
    const names = k === n ? graph.outputs : k === 0 ? graph.inputs : crossingAt(graph, k);
    const tensors = describe(names);
    const bytes = tensors.reduce((a, t) => a + t.bytes, 0);
    if (index === 0) inputBytes = bytes;
    const last: NodeProto | undefined = k > 0 ? graph.compute[k - 1] : undefined;
    const natural = index > 0 && bytes < inputBytes && bytes < smallest;
    if (index > 0) smallest = Math.min(smallest, bytes);
    cuts.push({ index, position: k, node: last === undefined ? null : { name: last.name, op: last.opType }, tensors, bytes, headMacs: cumulative, naturalBottleneck: natural });
  });
  return { model, graph, shapes, inputShapes, batch: layout.batch, inputValues, cuts, totalMacs: macs.reduce((a, b) => a + b, 0) };
}

/** Dims of every initializer and Constant tensor (weights carry their own dims). */
function weightShapes(model: OnnxModel): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const g = model.proto.graph;
  for (const t of g?.initializer ?? []) out.set(t.name, t.dims.map(Number));
  for (const node of g?.node ?? []) {
    const t = node.opType === "Constant" ? node.attribute.find((a) => a.name === "value")?.t : undefined;
    if (t !== undefined && node.output[0] !== undefined) out.set(node.output[0], t.dims.map(Number));
  }
  return out;
}
