import { TensorProto_DataType, type TypeProto, type ValueInfoProto } from "onnx-buf";

/** ONNX element types splitwatt handles, with their onnxruntime-node names and sizes. */
const TYPES: Record<number, { name: string; bytes: number }> = {
  [TensorProto_DataType.FLOAT]: { name: "float32", bytes: 4 },
  [TensorProto_DataType.FLOAT16]: { name: "float16", bytes: 2 },
  [TensorProto_DataType.BFLOAT16]: { name: "bfloat16", bytes: 2 },
  [TensorProto_DataType.DOUBLE]: { name: "float64", bytes: 8 },
  [TensorProto_DataType.INT8]: { name: "int8", bytes: 1 },
  [TensorProto_DataType.UINT8]: { name: "uint8", bytes: 1 },
  [TensorProto_DataType.INT16]: { name: "int16", bytes: 2 },
  [TensorProto_DataType.UINT16]: { name: "uint16", bytes: 2 },
  [TensorProto_DataType.INT32]: { name: "int32", bytes: 4 },
  [TensorProto_DataType.UINT32]: { name: "uint32", bytes: 4 },
  [TensorProto_DataType.INT64]: { name: "int64", bytes: 8 },
  [TensorProto_DataType.UINT64]: { name: "uint64", bytes: 8 },
  [TensorProto_DataType.BOOL]: { name: "bool", bytes: 1 },
};

export function dtypeName(elemType: number): string {
  return TYPES[elemType]?.name ?? `onnx-type-${elemType}`;
}

export function dtypeBytes(elemType: number): number {
  return TYPES[elemType]?.bytes ?? 0;
}

export function elemTypeOf(name: string): number {
  for (const [k, v] of Object.entries(TYPES)) if (v.name === name) return Number(k);
  throw new Error(`unknown dtype ${name}`);
}

/** Declared type of a value: element type and dims (numbers, or strings for symbolic dims, null when absent). */
export interface DeclaredType {
  elemType: number;
  dims: Array<number | string | null> | null;
}

export function declaredType(v: ValueInfoProto): DeclaredType | null {
  const t: TypeProto | undefined = v.type;
  if (t === undefined || t.value.case !== "tensorType") return null;
  const tt = t.value.value;
  const dims = tt.shape === undefined ? null : tt.shape.dim.map((d) => (d.value.case === "dimValue" ? Number(d.value.value) : d.value.case === "dimParam" ? d.value.value : null));
  return { elemType: tt.elemType, dims };
}
