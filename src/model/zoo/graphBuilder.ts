/**
 * A small typed helper for writing ONNX graphs: activations with tracked shapes, lazily
 * generated initializers, and layer helpers (conv, batch norm, ReLU, ReLU6, pools, Linear, add,
 * flatten). Every tensor a node produces gets a value_info entry (float32, batch dim symbolic
 * "N"), so consumers can read shapes without running the model.
 *
 * Initializers are specs (name, dims, how to draw the values), not data: the data is generated
 * while serialising (see serialize.ts), so a model's skeleton costs nothing and building a big
 * model never holds more than one copy of its weights.
 */
import { create } from "@bufbuild/protobuf";
import {
  AttributeProto_AttributeType,
  AttributeProtoSchema,
  GraphProtoSchema,
  NodeProtoSchema,
  TensorProto_DataType,
  type AttributeProto,
  type GraphProto,
  type NodeProto,
  type ValueInfoProto,
} from "onnx-buf";
import type { WeightInit } from "./weights.js";
import { valueInfo } from "../valueInfo.js";

/** The symbolic batch dimension. */
export const BATCH = "N";
export type Dim = number | typeof BATCH;
export type Shape = readonly Dim[];

/** An activation tensor of the graph under construction. */
export interface Tensor {
  readonly name: string;
  readonly shape: Shape;
}

/**
 * `param`: a trainable parameter as torchvision counts it (`model.parameters()`);
 * `buffer`: BN running mean/var; `const`: a constant operand (e.g. the bounds of Clip).
 */
export type InitializerRole = "param" | "buffer" | "const";

export interface InitializerSpec {
  readonly name: string;
  readonly dims: readonly number[];
  readonly init: WeightInit;
  readonly role: InitializerRole;
}

export type AttrValue = number | number[] | { float: number };

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function attribute(name: string, v: AttrValue): AttributeProto {
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new TypeError(`attribute ${name}: ${v} is not an integer (use { float } for floats)`);
    return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INT, i: BigInt(v) });
  }
  if (Array.isArray(v)) return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.INTS, ints: v.map((x) => BigInt(x)) });
  return create(AttributeProtoSchema, { name, type: AttributeProto_AttributeType.FLOAT, f: v.float });
}

/** A float32 value_info with the batch dim written as dim_param "N". */
export function floatValueInfo(name: string, shape: Shape): ValueInfoProto {
  return valueInfo(name, TensorProto_DataType.FLOAT, shape);
}

/** Output size of a conv/pool window along one axis (floor mode, as PyTorch's default). */
export function windowOut(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

function spatial(x: Tensor, what: string): [Dim, number, number, number] {
  const [n, c, h, w] = x.shape;
  if (x.shape.length !== 4 || typeof c !== "number" || typeof h !== "number" || typeof w !== "number" || n === undefined) {
    throw new Error(`${what}: expected an NCHW tensor, got ${x.name} [${x.shape.join(",")}]`);
  }
  return [n, c, h, w];
}

export interface ConvOptions {
  /** node name (and output tensor name) */
  name: string;
  /** initializer prefix: `${prefix}.weight`, `${prefix}.bias` (default: name) */
  prefix?: string;
  cout: number;
  kernel: number;
  stride?: number;
  /** symmetric padding (default: kernel >> 1) */
  pad?: number;
  groups?: number;
  bias?: boolean;
  /** gain of the Kaiming-normal init: std = gain / sqrt(fan_in) (default sqrt(2), for a following ReLU) */
  gain?: number;
}

export interface LinearOptions {
  name: string;
  prefix?: string;
  out: number;
  /** output tensor name (default: name) */
  output?: string;
  /** std = gain / sqrt(fan_in) (default 1) */
  gain?: number;
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly specs: InitializerSpec[] = [];
  private readonly initNames = new Set<string>();
  private readonly nodeNames = new Set<string>();
  /** every activation tensor produced by a node, in creation order */
  private readonly produced = new Map<string, Shape>();
  private readonly inputs: Tensor[] = [];
  private readonly outputs: Tensor[] = [];

  constructor(readonly graphName: string) {}

  get initializers(): readonly InitializerSpec[] {
    return this.specs;
  }

  /** Sum of the elements of the `param` initializers (what torchvision's parameters() counts). */
  paramCount(): number {
    let n = 0;
    for (const s of this.specs) if (s.role === "param") n += elementCount(s.dims);
    return n;
  }

  input(name: string, shape: Shape): Tensor {
    this.checkTensorName(name);
    const t = { name, shape: [...shape] };
    this.inputs.push(t);
    this.produced.set(name, t.shape);
    return t;
  }

  output(t: Tensor): void {
    if (this.produced.get(t.name) === undefined) throw new Error(`graph output ${t.name} is not produced by any node`);
    this.outputs.push(t);
  }

  /** Declare an initializer (its values are drawn at serialisation time). Returns its name. */
  initializer(name: string, dims: readonly number[], init: WeightInit, role: InitializerRole = "param"): string {
    if (this.initNames.has(name) || this.produced.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.initNames.add(name);
    this.specs.push({ name, dims: [...dims], init, role });
    return name;
  }

  /** A shared constant (declared once, reused by name). */
  constant(name: string, dims: readonly number[], value: number): string {
    if (this.initNames.has(name)) return name;
    return this.initializer(name, dims, { kind: "fill", value }, "const");
  }

  private checkTensorName(name: string): void {
    if (this.produced.has(name) || this.initNames.has(name)) throw new Error(`duplicate tensor name ${name}`);
  }

  /** Add one node with one output; the output tensor is named `output` (default: the node name). */
  node(opType: string, name: string, inputs: readonly string[], outShape: Shape, attrs: Record<string, AttrValue> = {}, output = name): Tensor {
    if (this.nodeNames.has(name)) throw new Error(`duplicate node name ${name}`);
    this.checkTensorName(output);
    for (const i of inputs) {
      if (i !== "" && !this.produced.has(i) && !this.initNames.has(i)) throw new Error(`node ${name}: input ${i} is not defined yet`);
    }
    this.nodeNames.add(name);
    this.nodes.push(
      create(NodeProtoSchema, {
        name,
        opType,
        input: [...inputs],
        output: [output],
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    const shape = [...outShape];
    this.produced.set(output, shape);
    return { name: output, shape };
  }

  // ---- layer helpers ----

  conv(x: Tensor, o: ConvOptions): Tensor {
    const [n, cin, h, w] = spatial(x, o.name);
    const stride = o.stride ?? 1;
    const pad = o.pad ?? o.kernel >> 1;
    const groups = o.groups ?? 1;
    if (cin % groups !== 0 || o.cout % groups !== 0) throw new Error(`${o.name}: channels ${cin}->${o.cout} not divisible by groups ${groups}`);
    const prefix = o.prefix ?? o.name;
    const fanIn = (cin / groups) * o.kernel * o.kernel;
    const inputs = [x.name, this.initializer(`${prefix}.weight`, [o.cout, cin / groups, o.kernel, o.kernel], { kind: "normal", std: (o.gain ?? Math.SQRT2) / Math.sqrt(fanIn), row: fanIn })];
    if (o.bias === true) inputs.push(this.initializer(`${prefix}.bias`, [o.cout], { kind: "uniform", bound: 0.05 }));
    const oh = windowOut(h, o.kernel, stride, pad);
    const ow = windowOut(w, o.kernel, stride, pad);
    if (oh < 1 || ow < 1) throw new Error(`${o.name}: ${h}x${w} input is too small for kernel ${o.kernel} stride ${stride}`);
    return this.node("Conv", o.name, inputs, [n, o.cout, oh, ow], {
      dilations: [1, 1],
      group: groups,
      kernel_shape: [o.kernel, o.kernel],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
  }

  /** Inference-mode BatchNormalization with gamma≈1, beta≈0, running mean≈0, running var≈1. */
  batchNorm(x: Tensor, name: string, prefix = name): Tensor {
    const [, c] = spatial(x, name);
    const inputs = [
      x.name,
      this.initializer(`${prefix}.weight`, [c], { kind: "around", center: 1, spread: 0.1 }),
      this.initializer(`${prefix}.bias`, [c], { kind: "around", center: 0, spread: 0.1 }),
      this.initializer(`${prefix}.running_mean`, [c], { kind: "around", center: 0, spread: 0.1 }, "buffer"),
      this.initializer(`${prefix}.running_var`, [c], { kind: "around", center: 1, spread: 0.1 }, "buffer"),
    ];
    return this.node("BatchNormalization", name, inputs, x.shape, { epsilon: { float: 1e-5 } });
  }

  relu(x: Tensor, name: string): Tensor {
    return this.node("Relu", name, [x.name], x.shape);
  }

  /** ReLU6 as Clip(x, 0, 6) (opset >= 11 form: bounds are inputs). */
  relu6(x: Tensor, name: string): Tensor {
    return this.node("Clip", name, [x.name, this.constant("const.relu6_min", [], 0), this.constant("const.relu6_max", [], 6)], x.shape);
  }

  maxPool(x: Tensor, name: string, kernel: number, stride: number, pad = 0): Tensor {
    const [n, c, h, w] = spatial(x, name);
    return this.node("MaxPool", name, [x.name], [n, c, windowOut(h, kernel, stride, pad), windowOut(w, kernel, stride, pad)], {
      ceil_mode: 0,
      kernel_shape: [kernel, kernel],
      pads: [pad, pad, pad, pad],
      strides: [stride, stride],
    });
  }

  globalAvgPool(x: Tensor, name: string): Tensor {
    const [n, c] = spatial(x, name);
    return this.node("GlobalAveragePool", name, [x.name], [n, c, 1, 1]);
  }

  /** Flatten from axis 1 (torch.flatten(x, 1)). */
  flatten(x: Tensor, name: string): Tensor {
    const [n, ...rest] = x.shape;
    if (n === undefined) throw new Error(`${name}: cannot flatten a scalar`);
    let m = 1;
    for (const d of rest) {
      if (typeof d !== "number") throw new Error(`${name}: non-batch dims must be concrete`);
      m *= d;
    }
    return this.node("Flatten", name, [x.name], [n, m], { axis: 1 });
  }

  /** torch.nn.Linear as Gemm(x, W^T) + b with W stored [out, in] like torchvision's state dict. */
  linear(x: Tensor, o: LinearOptions): Tensor {
    const [n, fin] = x.shape;
    if (x.shape.length !== 2 || typeof fin !== "number" || n === undefined) throw new Error(`${o.name}: expected [N, features], got [${x.shape.join(",")}]`);
    const prefix = o.prefix ?? o.name;
    const wName = this.initializer(`${prefix}.weight`, [o.out, fin], { kind: "normal", std: (o.gain ?? 1) / Math.sqrt(fin), row: fin });
    const bName = this.initializer(`${prefix}.bias`, [o.out], { kind: "uniform", bound: 0.05 });
    return this.node("Gemm", o.name, [x.name, wName, bName], [n, o.out], { alpha: { float: 1 }, beta: { float: 1 }, transA: 0, transB: 1 }, o.output ?? o.name);
  }

  add(a: Tensor, b: Tensor, name: string): Tensor {
    if (a.shape.length !== b.shape.length || a.shape.some((d, i) => d !== b.shape[i])) {
      throw new Error(`${name}: shapes differ: ${a.name} [${a.shape.join(",")}] vs ${b.name} [${b.shape.join(",")}]`);
    }
    return this.node("Add", name, [a.name, b.name], a.shape);
  }

  // ---- output ----

  /**
   * The GraphProto without initializers: nodes, inputs, outputs, and a value_info for every
   * node output that is not a graph output.
   */
  graphWithoutInitializers(docString = ""): GraphProto {
    const outNames = new Set(this.outputs.map((o) => o.name));
    const inNames = new Set(this.inputs.map((i) => i.name));
    const valueInfo: ValueInfoProto[] = [];
    for (const [name, shape] of this.produced) if (!outNames.has(name) && !inNames.has(name)) valueInfo.push(floatValueInfo(name, shape));
    return create(GraphProtoSchema, {
      name: this.graphName,
      docString,
      node: this.nodes,
      input: this.inputs.map((t) => floatValueInfo(t.name, t.shape)),
      output: this.outputs.map((t) => floatValueInfo(t.name, t.shape)),
      valueInfo,
    });
  }
}
