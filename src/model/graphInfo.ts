import type { GraphProto, NodeProto } from "onnx-buf";
import { BadModelError } from "../errors.js";
import { declaredType, type DeclaredType } from "./tensorType.js";
import type { OnnxModel } from "./onnxModel.js";
import { staticShapeFold } from "./staticShapeFold.js";

/** The graph as split computing sees it: compute nodes in topological order, weights apart. */
export interface GraphInfo {
  /** nodes that compute on the model's inputs, topologically sorted (no Constant, no constant-only node) */
  compute: NodeProto[];
  /** producers of weights by the tensor they produce: never crossing a cut, copied into each part that reads them */
  constants: Map<string, NodeProto>;
  /** the same producers in topological order (Constant nodes, folded Shape/Size, constant-only nodes) */
  constantNodes: NodeProto[];
  /**
   * The model's own nodes that are constant but not Constant: ones reading only weights
   * (a Concat of constant pads, ConstantOfShape, Shape of an initializer, chains of these) and
   * Shape/Size of a declared static shape (replaced by a Constant in `constants`).
   */
  constantOnly: NodeProto[];
  /** initializer names and every tensor a constant producer makes */
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
  /** compute nodes with If/Loop/Scan bodies and how many nodes those hold (cuts never go inside them) */
  subgraphs: Array<{ node: string; op: string; nodes: number }>;
}

/** Ops whose outputs are not a function of their inputs: never constant, whatever they read. */
const RANDOM_OPS = new Set(["RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli"]);

const defaultDomain = (n: NodeProto): boolean => n.domain === "" || n.domain === "ai.onnx";
const isConstantOp = (n: NodeProto): boolean => n.opType === "Constant" && defaultDomain(n);
const bodies = (n: NodeProto): GraphProto[] => n.attribute.flatMap((a) => [...(a.g === undefined ? [] : [a.g]), ...a.graphs]);

/** Nodes inside a node's bodies, nested bodies included. */
function innerNodes(n: NodeProto): number {
  return bodies(n).reduce((sum, g) => sum + g.node.reduce((k, x) => k + 1 + innerNodes(x), 0), 0);
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
  const declared = new Map<string, DeclaredType>();
  for (const v of [...g.input, ...g.output, ...g.valueInfo]) {
    const t = declaredType(v);
    if (t !== null) declared.set(v.name, t);
  }
  const weights = new Set(g.initializer.map((t) => t.name));
  const constants = new Map<string, NodeProto>();
  const constantNodes: NodeProto[] = [];
  const constantOnly: NodeProto[] = [];
  const addConstant = (n: NodeProto) => {
    constantNodes.push(n);
    for (const o of n.output) {
      if (o === "") continue;
      constants.set(o, n);
      weights.add(o);
    }
  };
  const nodes: NodeProto[] = [];
  for (const n of g.node) {
    const folded = isConstantOp(n) ? n : staticShapeFold(n, declared);
    if (folded === null) nodes.push(n);
    else {
      if (folded !== n) constantOnly.push(n);
      addConstant(folded);
    }
  }
  const inputs = g.input.map((i) => i.name).filter((name) => !weights.has(name));
  const outputs = g.output.map((o) => o.name);

  // Kahn's algorithm, keeping the file's order among ready nodes (exporters already sort). A ready
  // node that reads only weights is a weight too: it joins the constants, not the compute order.
  const available = new Set<string>([...inputs, ...weights]);
  const compute: NodeProto[] = [];
  let pending = nodes;
  while (pending.length > 0) {
    const next: NodeProto[] = [];
    for (const n of pending) {
      const reads = nodeInputs(n);
      if (reads.every((x) => available.has(x))) {
        for (const o of n.output) if (o !== "") available.add(o);
        const constant = reads.length > 0 && defaultDomain(n) && !RANDOM_OPS.has(n.opType) && bodies(n).length === 0 && reads.every((x) => weights.has(x));
        if (constant) {
          constantOnly.push(n);
          addConstant(n);
        } else compute.push(n);
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
  const subgraphs = compute.filter((n) => bodies(n).length > 0).map((n) => ({ node: n.name, op: n.opType, nodes: innerNodes(n) }));
  return { compute, constants, constantNodes, constantOnly, weights, inputs, outputs, birth, lastUse, declared, subgraphs };
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
