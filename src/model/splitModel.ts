import { create } from "@bufbuild/protobuf";
import {
  GraphProtoSchema,
  ModelProtoSchema,
  ValueInfoProtoSchema,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type ValueInfoProto,
} from "onnx-buf";
import { UsageError } from "../errors.js";
import type { CutPoint, ModelAnalysis } from "./cutPoints.js";
import { nodeInputs } from "./graphInfo.js";
import type { TensorShape } from "./tensorShapes.js";
import { valueInfo } from "./valueInfo.js";

export interface SplitParts {
  cut: CutPoint;
  /** null at index 0 (nothing runs on the device) */
  head: ModelProto | null;
  /** null at index L (nothing runs on the server) */
  tail: ModelProto | null;
}

/** A typed value_info with the batch dims symbolic ("N") so both parts accept any batch. */
function typedValueInfo(s: TensorShape): ValueInfoProto {
  return valueInfo(s.name, s.elemType, s.shape.map((d, i) => (s.batchDims[i] === true ? "N" : d)));
}

/**
 * One part: the given compute nodes, the constant producers (Constant nodes, constant-only
 * subgraphs) they read, transitively, and the initializers all of these read; typed inputs and outputs.
 */
function part(a: ModelAnalysis, nodes: NodeProto[], inputs: string[], outputs: string[], suffix: string): ModelProto {
  const g = a.model.proto.graph as GraphProto;
  const reads = new Set([...nodes.flatMap(nodeInputs), ...outputs]);
  const used = new Set<NodeProto>();
  const stack = [...reads];
  for (let name = stack.pop(); name !== undefined; name = stack.pop()) {
    const c = a.graph.constants.get(name);
    if (c === undefined || used.has(c)) continue;
    used.add(c);
    for (const x of nodeInputs(c)) {
      reads.add(x);
      stack.push(x);
    }
  }
  const constants = a.graph.constantNodes.filter((c) => used.has(c));
  const typed = (name: string): ValueInfoProto => {
    const s = a.shapes.get(name);
    const original = [...g.input, ...g.output].find((v) => v.name === name);
    // graph inputs and outputs keep their declared types; cut tensors get measured ones
    return original ?? (s === undefined ? create(ValueInfoProtoSchema, { name }) : typedValueInfo(s));
  };
  const produced = new Set([...constants, ...nodes].flatMap((n) => n.output));
  const graph = create(GraphProtoSchema, {
    name: `${g.name || "graph"}.${suffix}`,
    node: [...constants, ...nodes],
    initializer: g.initializer.filter((t) => reads.has(t.name)),
    sparseInitializer: g.sparseInitializer.filter((t) => reads.has(t.values?.name ?? "")),
    input: inputs.map(typed),
    output: outputs.map(typed),
    valueInfo: g.valueInfo.filter((v) => produced.has(v.name) && !outputs.includes(v.name)),
    docString: g.docString,
  });
  return create(ModelProtoSchema, {
    irVersion: a.model.proto.irVersion,
    opsetImport: a.model.proto.opsetImport,
    producerName: "splitwatt",
    producerVersion: "0.1.0",
    domain: a.model.proto.domain,
    modelVersion: a.model.proto.modelVersion,
    docString: `${suffix} of ${a.model.path} (sha256 ${a.model.sha256.slice(0, 16)})`,
    graph,
    functions: a.model.proto.functions,
    metadataProps: a.model.proto.metadataProps,
  });
}

/**
 * Head and tail for cut `index`: head outputs = the crossing tensors, tail inputs = the same,
 * typed and shaped so ONNX checkers accept both. Weights are shared by reference (never decoded
 * or copied here; serializing copies them once).
 */
export function splitModel(a: ModelAnalysis, index: number): SplitParts {
  const cut = a.cuts[index];
  if (cut === undefined) throw new UsageError(`cut index ${index} is out of range: this model has cuts 0-${a.cuts.length - 1} (see splitwatt inspect)`);
  const k = cut.position;
  const crossing = cut.tensors.map((t) => t.name);
  const headNodes = a.graph.compute.slice(0, k);
  const tailNodes = a.graph.compute.slice(k);
  const headInputs = a.graph.inputs.filter((i) => headNodes.some((n) => nodeInputs(n).includes(i)) || crossing.includes(i));
  const head = k === 0 ? null : part(a, headNodes, headInputs, crossing, "head");
  const tail = k === a.graph.compute.length ? null : part(a, tailNodes, crossing, a.graph.outputs, "tail");
  return { cut, head, tail };
}
