import { create } from "@bufbuild/protobuf";
import {
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type ValueInfoProto,
} from "onnx-buf";

/** A tensor value_info: numbers are fixed dims, strings symbolic ones (e.g. "N"), null = no shape. */
export function valueInfo(name: string, elemType: number, dims: ReadonlyArray<number | string> | null): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: "tensorType",
        value: create(TypeProto_TensorSchema, {
          elemType,
          ...(dims === null
            ? {}
            : {
                shape: create(TensorShapeProtoSchema, {
                  dim: dims.map((d) =>
                    create(TensorShapeProto_DimensionSchema, { value: typeof d === "number" ? { case: "dimValue", value: BigInt(d) } : { case: "dimParam", value: d } }),
                  ),
                }),
              }),
        }),
      },
    }),
  });
}
