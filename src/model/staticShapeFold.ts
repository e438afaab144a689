import { create } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType, AttributeProtoSchema, NodeProtoSchema, TensorProto_DataType, TensorProtoSchema, type NodeProto } from "onnx-buf";
import type { DeclaredType } from "./tensorType.js";

const intAttr = (n: NodeProto, name: string): number | undefined => {
  const a = n.attribute.find((x) => x.name === name);
  return a === undefined ? undefined : Number(a.i);
};

/**
 * A Constant node standing for a `Shape` or `Size` node whose answer is fixed: the dims it reads
 * are declared as numbers (graph input, output or value_info; symbolic dims such as the batch
 * are not), so the result is the same for every input. Null when the node is anything else.
 * Shape's `start`/`end` (opset 15) select dims as the ONNX spec says: negative counts from the
 * back, both clamped to [0, rank].
 */
export function staticShapeFold(n: NodeProto, declared: ReadonlyMap<string, DeclaredType>): NodeProto | null {
  if ((n.domain !== "" && n.domain !== "ai.onnx") || (n.opType !== "Shape" && n.opType !== "Size")) return null;
  const out = n.output[0];
  const dims = declared.get(n.input[0] ?? "")?.dims;
  if (out === undefined || out === "" || dims == null) return null;
  let picked: Array<number | string | null> = dims;
  if (n.opType === "Shape") {
    const rank = dims.length;
    const clamp = (v: number) => Math.min(rank, Math.max(0, v < 0 ? v + rank : v));
    picked = dims.slice(clamp(intAttr(n, "start") ?? 0), clamp(intAttr(n, "end") ?? rank));
  }
  if (!picked.every((d): d is number => typeof d === "number" && d > 0)) return null;
  const values = picked.map(BigInt);
  const t =
    n.opType === "Shape"
      ? create(TensorProtoSchema, { name: out, dataType: TensorProto_DataType.INT64, dims: [BigInt(values.length)], int64Data: values })
      : create(TensorProtoSchema, { name: out, dataType: TensorProto_DataType.INT64, dims: [], int64Data: [values.reduce((a, b) => a * b, 1n)] });
  return create(NodeProtoSchema, {
    opType: "Constant",
    name: n.name,
    output: [out],
    docString: `${n.opType} of ${n.input[0]}, folded by splitwatt (declared static)`,
    attribute: [create(AttributeProtoSchema, { name: "value", type: AttributeProto_AttributeType.TENSOR, t })],
  });
}
