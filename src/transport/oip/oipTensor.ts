import type { Datatype, TypedArray } from "./datatypes.js";

/** $parameters: string -> string | number | boolean (KServe v2 "Parameters"). */
export type OipParameters = Record<string, string | number | boolean>;

/**
 * One tensor of a request (input) or response (output). `data` is row-major, flattened, in the
 * storage class of the datatype (see datatypes.ts): Float32Array for FP32, Uint16Array of raw
 * half-precision bits for FP16, Uint8Array of 0/1 for BOOL, BigInt64Array for INT64, one
 * Uint8Array per element for BYTES. Decoded binary data may be a view into the body it came from.
 *
 * `parameters` never holds the transport's own `binary_data_size`: the codec adds and removes it.
 */
export interface OipTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  data: TypedArray | Uint8Array[];
  parameters?: OipParameters;
}
