import type { GraphProto, NodeProto } from "onnx-buf";
import { BadModelError } from "../errors.js";
import { declaredType, type DeclaredType } from "./tensorType.js";
import type { OnnxModel } from "./onnxModel.js";

/** The graph as split computing sees it: compute nodes in topological order, weights apart. */
export interface GraphInfo {
  /** nodes that compute (everything but Constant), topologically sorted */
  compute: NodeProto[];
  /** Constant nodes by the tensor they produce: weights, never crossing a cut */
  constants: Map<string, NodeProto>;
  /** initializer names and Constant outputs */
  weights: Set<string>;
  /** graph inputs that are not initializers */
  inputs: string[];
  outputs: string[];
  /** index of the compute node producing a tensor; -1 for graph inputs */
  birth: Map<string, number>;
  /** index of the last compute node reading a tensor; compute.length for graph outputs */
  lastUse: Map<string, number>;
  /** declared types (graph inputs, outputs, value_info) */
  declared: Map<string, DeclaredType>;
}

/** Names a node reads, including outer-scope names its subgraphs (If/Loop/Scan bodies) use. */
export function nodeInputs(n: NodeProto): string[] {
  const out = n.input.filter((x) => x !== "");
  for (const a of n.attribute) {
    const graphs: GraphProto[] = [...(a.g === undefined ? [] : [a.g]), ...a.graphs];
    for (const g of graphs) {
      const local = new Set([...g.input.map((i) => i.name), ...g.initializer.map((i) => i.name), ...g.node.flatMap((x) => x.output)]);
      for (const sub of g.node) for (const x of nodeInputs(sub)) if (!local.has(x)) out.push(x);
    }
  }
  return out;
}

export function graphInfo(model: OnnxModel): GraphInfo {
  const g = model.proto.graph as GraphProto;
  const weights = new Set(g.initializer.map((t) => t.name));
  const constants = new Map<string, NodeProto>();
  for (const n of g.node) {
    if (n.opType === "Constant" && (n.domain === "" || n.domain === "ai.onnx")) {
      for (const o of n.output) {
        constants.set(o, n);
        weights.add(o);
      }
    }
  }
  const inputs = g.input.map((i) => i.name).filter((name) => !weights.has(name));
  const outputs = g.output.map((o) => o.name);
  const nodes = g.node.filter((n) => !(n.opType === "Constant" && (n.domain === "" || n.domain === "ai.onnx")));

  // Kahn's algorithm, keeping the file's order among ready nodes (exporters already sort).
  const available = new Set<string>([...inputs, ...weights]);
  const compute: NodeProto[] = [];
  let pending = nodes;
  while (pending.length > 0) {
    const next: NodeProto[] = [];
    for (const n of pending) {
      if (nodeInputs(n).every((x) => available.has(x))) {
        compute.push(n);
        for (const o of n.output) if (o !== "") available.add(o);
      } else next.push(n);
    }
    if (next.length === pending.length) {
      const stuck = next[0] as NodeProto;
      const missing = nodeInputs(stuck).filter((x) => !available.has(x));
      throw new BadModelError(`${model.path}: node ${stuck.name || stuck.opType} reads ${missing.join(", ")} which nothing produces (a cycle or a broken graph)`, { path: model.path });
    }
    pending = next;
  }

  const birth = new Map<string, number>(inputs.map((i) => [i, -1]));
  const lastUse = new Map<string, number>();
  compute.forEach((n, i) => {
    for (const x of nodeInputs(n)) if (!weights.has(x)) lastUse.set(x, Math.max(lastUse.get(x) ?? -1, i));
    for (const o of n.output) if (o !== "") birth.set(o, i);
  });
  for (const o of outputs) lastUse.set(o, compute.length);

  const declared = new Map<string, DeclaredType>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) {
    const t = declaredType(v);
    if (t !== null) declared.set(v.name, t);
  }
  return { compute, constants, weights, inputs, outputs, birth, lastUse, declared };
}

/** Tensors produced before position k (by a graph input or compute node < k) and needed at or after k. */
export function crossingAt(info: GraphInfo, k: number): string[] {
  const out: string[] = [];
  for (const [t, b] of info.birth) {
    const last = info.lastUse.get(t);
    if (last !== undefined && b < k && last >= k) out.push(t);
  }
  return out;
}
