/**
 * A tail that takes a codec's tensors natively, for a stock Open Inference Protocol server
 * (Triton, KServe) that knows nothing of splitwatt's codecs: nodes that decode each FP32 cut
 * tensor are prepended to the tail's graph (the wire form is src/transport/tritonCodec.ts).
 *
 *   fp16          X (FLOAT16) -> Cast(to FLOAT)
 *   int8          X (INT8), X_scale (FLOAT [N,1]), X_zero_point (INT8 [N,1])
 *                 -> (Cast(X) - Cast(zero_point)) x scale, scale and zero point reshaped to
 *                 broadcast per row: DequantizeLinear's formula, written out because
 *                 DequantizeLinear takes one scale per tensor (or per axis) and Triton's dynamic
 *                 batcher joins requests whose rows each carry their own
 *   int8-channel  the same with X_scale / X_zero_point of [N,C], broadcast along the channel axis
 *   raw           unchanged
 *
 * Without a batch dimension the scale and zero point are [1] (int8) or [C] (int8-channel).
 * Only the ops Cast, Reshape, Sub and Mul are added (ONNX opset 7 and later, so no opset change).
 */
import { create } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType, AttributeProtoSchema, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, TensorProto_DataType, TensorProtoSchema, type ModelProto, type NodeProto } from "onnx-buf";
import { UsageError } from "../errors.js";
import type { CodecName } from "../transport/codecs/codecNames.js";
import { scaleInputName, zeroPointInputName } from "../transport/tritonCodec.js";
import { valueInfo } from "./valueInfo.js";

export interface CodedInput {
  /** the cut tensor (a tail input) */
  name: string;
  /** its dims; "N" for the batch dimension */
  dims: ReadonlyArray<number | string>;
}

function castNode(input: string, output: string, to: number): NodeProto {
  return create(NodeProtoSchema, {
    opType: "Cast",
    name: output,
    input: [input],
    output: [output],
    attribute: [create(AttributeProtoSchema, { name: "to", type: AttributeProto_AttributeType.INT, i: BigInt(to) })],
  });
}

/** Whether a subgraph of `n` (at any depth) reads `name`. */
function readsInSubgraph(n: NodeProto, name: string): boolean {
  const graphs = n.attribute.flatMap((a) => [...(a.g === undefined ? [] : [a.g]), ...a.graphs]);
  return graphs.some((sub) => sub.node.some((m) => m.input.includes(name) || readsInSubgraph(m, name)));
}

const op = (type: string, inputs: string[], output: string): NodeProto => create(NodeProtoSchema, { opType: type, name: output, input: inputs, output: [output] });

/**
 * `tail` with each FP32 input in `inputs` taken in `codec`'s wire form and decoded in the graph.
 * `channelAxis` is int8-channel's axis (negative counts from the end). Nodes of `tail` are not
 * modified (copies are made where they read a decoded input).
 */
export function tailDecodeGraph(tail: ModelProto, inputs: readonly CodedInput[], codec: CodecName, channelAxis = 1): ModelProto {
  const g = tail.graph;
  if (g === undefined || codec === "raw" || inputs.length === 0) return tail;
  const taken = new Set<string>([...g.input.map((i) => i.name), ...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => [...n.input, ...n.output])]);
  const fresh = (base: string): string => {
    let name = base;
    for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
    taken.add(name);
    return name;
  };
  const renamed = new Map<string, string>();
  const prepended: NodeProto[] = [];
  const initializers = [...g.initializer];
  const graphInputs = [...g.input];
  for (const input of inputs) {
    const at = graphInputs.findIndex((v) => v.name === input.name);
    if (at < 0) throw new Error(`the tail has no input ${input.name}`);
    if (g.output.some((o) => o.name === input.name)) throw new UsageError(`cut tensor ${input.name} is also a model output: export this cut with --codec raw`);
    if (g.node.some((n) => readsInSubgraph(n, input.name))) throw new UsageError(`a subgraph (If/Loop/Scan) of the tail reads cut tensor ${input.name}: export this cut with --codec raw`);
    const decoded = fresh(`${input.name}__sw_decoded`);
    renamed.set(input.name, decoded);
    const rank = input.dims.length;
    const batched = input.dims[0] === "N";
    if (codec === "fp16") {
      graphInputs[at] = valueInfo(input.name, TensorProto_DataType.FLOAT16, input.dims);
      prepended.push(castNode(input.name, decoded, TensorProto_DataType.FLOAT));
      continue;
    }
    const axis = codec === "int8-channel" ? (channelAxis < 0 ? channelAxis + rank : channelAxis) : null;
    if (axis !== null && (axis < 0 || axis >= rank || (batched && axis === 0))) {
      throw new UsageError(`int8-channel axis ${channelAxis} does not fit cut tensor ${input.name} of rank ${rank}${batched ? " (axis 0 is the batch)" : ""}`);
    }
    const k = axis === null ? 1 : (input.dims[axis] as number);
    const paramDims = batched ? ["N", k] : [k];
    const scale = scaleInputName(input.name);
    const zero = zeroPointInputName(input.name);
    if (taken.has(scale) || taken.has(zero)) throw new UsageError(`the tail already has a tensor named ${scale} or ${zero}: export this cut with --codec raw or fp16`);
    taken.add(scale);
    taken.add(zero);
    graphInputs[at] = valueInfo(input.name, TensorProto_DataType.INT8, input.dims);
    graphInputs.splice(at + 1, 0, valueInfo(scale, TensorProto_DataType.FLOAT, paramDims), valueInfo(zero, TensorProto_DataType.INT8, paramDims));
    // the parameters as [N, 1.., k at the axis, 1..] (or without N): Reshape's 0 copies N, -1 is k
    const target = Array.from({ length: rank }, (_, i) => (batched && i === 0 ? 0 : i === axis ? -1 : 1));
    const shapeName = fresh(`${input.name}__sw_param_shape`);
    initializers.push(
      create(TensorProtoSchema, { name: shapeName, dataType: TensorProto_DataType.INT64, dims: [BigInt(rank)], rawData: new Uint8Array(BigInt64Array.from(target.map(BigInt)).buffer) }),
    );
    const q = fresh(`${input.name}__sw_q`);
    const zf = fresh(`${input.name}__sw_zero_point_f`);
    const zr = fresh(`${input.name}__sw_zero_point_r`);
    const sr = fresh(`${input.name}__sw_scale_r`);
    const centred = fresh(`${input.name}__sw_centred`);
    prepended.push(
      castNode(input.name, q, TensorProto_DataType.FLOAT),
      castNode(zero, zf, TensorProto_DataType.FLOAT),
      op("Reshape", [zf, shapeName], zr),
      op("Reshape", [scale, shapeName], sr),
      op("Sub", [q, zr], centred),
      op("Mul", [centred, sr], decoded),
    );
  }
  const nodes = g.node.map((n) => (n.input.some((i) => renamed.has(i)) ? create(NodeProtoSchema, { ...n, input: n.input.map((i) => renamed.get(i) ?? i) }) : n));
  const graph = create(GraphProtoSchema, { ...g, input: graphInputs, node: [...prepended, ...nodes], initializer: initializers, valueInfo: g.valueInfo.filter((v) => !renamed.has(v.name)) });
  return create(ModelProtoSchema, { ...tail, graph, docString: `${tail.docString} (takes ${codec} cut tensors: splitwatt export-triton --codec ${codec})` });
}
