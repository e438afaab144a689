/**
 * Open Inference Protocol tensor datatypes (KServe v2 "Tensor Data Types" table) and their
 * JavaScript and onnxruntime-node counterparts.
 *
 * | OIP    | bytes | JS storage                           | onnxruntime-node |
 * | BOOL   | 1     | Uint8Array (0 or 1)                  | bool             |
 * | UINT8  | 1     | Uint8Array                           | uint8            |
 * | UINT16 | 2     | Uint16Array                          | uint16           |
 * | UINT32 | 4     | Uint32Array                          | uint32           |
 * | UINT64 | 8     | BigUint64Array                       | uint64           |
 * | INT8   | 1     | Int8Array                            | int8             |
 * | INT16  | 2     | Int16Array                           | int16            |
 * | INT32  | 4     | Int32Array                           | int32            |
 * | INT64  | 8     | BigInt64Array                        | int64            |
 * | FP16   | 2     | Uint16Array (raw IEEE 754 half bits) | float16          |
 * | FP32   | 4     | Float32Array                         | float32          |
 * | FP64   | 8     | Float64Array                         | float64          |
 * | BYTES  | var.  | Uint8Array[] (one per element)       | string           |
 */

export type Datatype =
  | "BOOL"
  | "UINT8"
  | "UINT16"
  | "UINT32"
  | "UINT64"
  | "INT8"
  | "INT16"
  | "INT32"
  | "INT64"
  | "FP16"
  | "FP32"
  | "FP64"
  | "BYTES";

export type TypedArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/** The JS storage for each datatype. */
export interface DatatypeArrayMap {
  BOOL: Uint8Array;
  UINT8: Uint8Array;
  UINT16: Uint16Array;
  UINT32: Uint32Array;
  UINT64: BigUint64Array;
  INT8: Int8Array;
  INT16: Int16Array;
  INT32: Int32Array;
  INT64: BigInt64Array;
  FP16: Uint16Array;
  FP32: Float32Array;
  FP64: Float64Array;
  BYTES: Uint8Array[];
}

/** onnxruntime-node tensor type names (`Tensor.Type`) that have an OIP datatype. */
export type OrtTensorType =
  | "bool"
  | "uint8"
  | "uint16"
  | "uint32"
  | "uint64"
  | "int8"
  | "int16"
  | "int32"
  | "int64"
  | "float16"
  | "float32"
  | "float64"
  | "string";

export type FixedDatatype = Exclude<Datatype, "BYTES">;

export type TypedArrayConstructor =
  | Uint8ArrayConstructor
  | Int8ArrayConstructor
  | Uint16ArrayConstructor
  | Int16ArrayConstructor
  | Uint32ArrayConstructor
  | Int32ArrayConstructor
  | BigUint64ArrayConstructor
  | BigInt64ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor;

/** How JSON values map onto elements: the decoder and encoder switch on this. */
export type ElementKind = "bool" | "int" | "bigint" | "fp16" | "float" | "bytes";

export interface DatatypeInfo {
  readonly datatype: Datatype;
  /** bytes per element in the binary form; 0 for BYTES (variable: 4-byte length + bytes) */
  readonly size: number;
  readonly ort: OrtTensorType;
  /** typed array class; null for BYTES */
  readonly ctor: TypedArrayConstructor | null;
  readonly kind: ElementKind;
  /** inclusive range for integer kinds (numbers for "int", bigints for "bigint") */
  readonly min?: number | bigint;
  readonly max?: number | bigint;
}

export const DATATYPES: Readonly<Record<Datatype, DatatypeInfo>> = Object.freeze({
  BOOL: { datatype: "BOOL", size: 1, ort: "bool", ctor: Uint8Array, kind: "bool" },
  UINT8: { datatype: "UINT8", size: 1, ort: "uint8", ctor: Uint8Array, kind: "int", min: 0, max: 0xff },
  UINT16: { datatype: "UINT16", size: 2, ort: "uint16", ctor: Uint16Array, kind: "int", min: 0, max: 0xffff },
  UINT32: { datatype: "UINT32", size: 4, ort: "uint32", ctor: Uint32Array, kind: "int", min: 0, max: 0xffffffff },
  UINT64: { datatype: "UINT64", size: 8, ort: "uint64", ctor: BigUint64Array, kind: "bigint", min: 0n, max: 2n ** 64n - 1n },
  INT8: { datatype: "INT8", size: 1, ort: "int8", ctor: Int8Array, kind: "int", min: -0x80, max: 0x7f },
  INT16: { datatype: "INT16", size: 2, ort: "int16", ctor: Int16Array, kind: "int", min: -0x8000, max: 0x7fff },
  INT32: { datatype: "INT32", size: 4, ort: "int32", ctor: Int32Array, kind: "int", min: -0x80000000, max: 0x7fffffff },
  INT64: { datatype: "INT64", size: 8, ort: "int64", ctor: BigInt64Array, kind: "bigint", min: -(2n ** 63n), max: 2n ** 63n - 1n },
  FP16: { datatype: "FP16", size: 2, ort: "float16", ctor: Uint16Array, kind: "fp16" },
  FP32: { datatype: "FP32", size: 4, ort: "float32", ctor: Float32Array, kind: "float" },
  FP64: { datatype: "FP64", size: 8, ort: "float64", ctor: Float64Array, kind: "float" },
  BYTES: { datatype: "BYTES", size: 0, ort: "string", ctor: null, kind: "bytes" },
} satisfies Record<Datatype, DatatypeInfo>);

export const DATATYPE_NAMES: readonly Datatype[] = Object.freeze(Object.keys(DATATYPES) as Datatype[]);

export function isDatatype(s: unknown): s is Datatype {
  return typeof s === "string" && Object.prototype.hasOwnProperty.call(DATATYPES, s);
}

/** Bytes per element in the binary form; 0 for BYTES. */
export function datatypeSize(dt: Datatype): number {
  return DATATYPES[dt].size;
}

/** OIP datatype -> onnxruntime-node tensor type ("FP32" -> "float32", "BYTES" -> "string"). */
export function datatypeToOrt(dt: Datatype): OrtTensorType {
  return DATATYPES[dt].ort;
}

const FROM_ORT: ReadonlyMap<string, Datatype> = new Map(DATATYPE_NAMES.map((d) => [DATATYPES[d].ort, d]));

/**
 * onnxruntime-node tensor type -> OIP datatype ("float32" -> "FP32"). undefined for types the
 * protocol has no datatype for (bfloat16, int4, uint4, ...).
 */
export function ortToDatatype(t: string): Datatype | undefined {
  return FROM_ORT.get(t);
}

/** A zeroed array of `length` elements for a fixed-size datatype. */
export function allocateTypedArray<D extends FixedDatatype>(dt: D, length: number): DatatypeArrayMap[D] {
  const ctor = DATATYPES[dt].ctor;
  if (ctor === null) throw new TypeError(`${dt} has no typed array`);
  return new ctor(length) as DatatypeArrayMap[D];
}

/** Whether `data` is the storage class the datatype uses (Buffer counts as Uint8Array). */
export function matchesDatatype(dt: Datatype, data: unknown): boolean {
  const ctor = DATATYPES[dt].ctor;
  if (ctor === null) return Array.isArray(data) && data.every((e) => e instanceof Uint8Array);
  return data instanceof ctor;
}
