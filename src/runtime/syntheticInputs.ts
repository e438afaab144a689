/**
 * Seeded inputs for running a model without real data: the profiler's requests, split
 * verification, accuracy by agreement, per-node profiling, the shape probe. One builder, so
 * every path feeds the same values for the same (seed, sample) and honours each input's type:
 *
 * - floating point (float32, float64, float16): uniform in [-1, 1) from mulberry32, seeded per
 *   input and sample (`seed * 100003 + sample * 31 + input index`);
 * - integers and bool: zeros. They are usually indices, lengths or flags, and 0 is the one
 *   value valid for every embedding, gather or sequence length; give real values with `values`
 *   where zeros would take the wrong branch of an `If`.
 *
 * `fill: "zeros"` makes every input zeros (the shape probe). `values[name]` overrides an
 * input's content: the numbers are repeated to fill the tensor. Dimensions marked in
 * `batchDims` take `batch` (default 1).
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";
import { mulberry32 } from "../mulberry32.js";
import { toFloat16 } from "../transport/codecs/toFloat16.js";

export interface InputSpec {
  name: string;
  /** onnxruntime type name: float32, int64, bool, ... */
  dtype: string;
  /** concrete dims at batch 1 */
  shape: readonly number[];
  /** per dim: true where it follows the batch size (default: none) */
  batchDims?: readonly boolean[] | undefined;
}

export interface SyntheticOptions {
  /** base seed (default 1) */
  seed?: number | undefined;
  /** which sample of a seeded set (default 0) */
  sample?: number | undefined;
  /** size of the batch dimensions (default 1) */
  batch?: number | undefined;
  fill?: "random" | "zeros" | undefined;
  /** per input name: the values to repeat over the tensor */
  values?: Readonly<Record<string, readonly number[]>> | undefined;
}

/** Seeded uniform floats in [-1, 1) (mulberry32). */
export function seededFloats(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

function filled<T extends { length: number; [i: number]: number | bigint }>(arr: T, values: readonly number[] | undefined, conv: (x: number) => number | bigint): T {
  if (values === undefined || values.length === 0) return arr;
  for (let i = 0; i < arr.length; i++) arr[i] = conv(values[i % values.length] as number);
  return arr;
}

/** One input tensor. */
export function syntheticTensor(spec: InputSpec, opts: SyntheticOptions = {}, index = 0): ort.Tensor {
  const batch = opts.batch ?? 1;
  const dims = spec.shape.map((d, i) => (spec.batchDims?.[i] === true ? d * batch : d));
  const n = dims.reduce((a, b) => a * b, 1);
  const given = opts.values?.[spec.name];
  const random = opts.fill !== "zeros" && given === undefined;
  const floats = (): Float32Array => (random ? seededFloats(n, (opts.seed ?? 1) * 100_003 + (opts.sample ?? 0) * 31 + index) : filled(new Float32Array(n), given, Number));
  if (spec.dtype === "float32") return new ort.Tensor("float32", floats(), dims);
  if (spec.dtype === "float64") return new ort.Tensor("float64", Float64Array.from(floats()), dims);
  if (spec.dtype === "float16") return new ort.Tensor("float16", toFloat16(floats()), dims);
  const ctor = INTEGER_ARRAYS[spec.dtype];
  if (ctor === undefined) throw new UsageError(`input ${spec.name} has type ${spec.dtype}, for which splitwatt cannot make inputs: give real values, or use a model whose inputs are numeric`);
  const big = spec.dtype === "int64" || spec.dtype === "uint64";
  const conv = spec.dtype === "bool" ? (x: number) => (x !== 0 ? 1 : 0) : big ? (x: number) => BigInt(Math.trunc(x)) : (x: number) => Math.trunc(x);
  return new ort.Tensor(spec.dtype as "int32", filled(new ctor(n), given, conv) as Int32Array, dims);
}

/** Integer and bool inputs: zeros unless given (bool is stored one byte per element). */
const INTEGER_ARRAYS: Record<string, new (n: number) => { length: number; [i: number]: number | bigint }> = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
};

/** Every input, in the given order (the order is part of the seed). */
export function syntheticInputs(specs: readonly InputSpec[], opts: SyntheticOptions = {}): Record<string, ort.Tensor> {
  for (const name of Object.keys(opts.values ?? {})) {
    if (!specs.some((s) => s.name === name)) throw new UsageError(`there is no input named ${name}; the model's inputs are ${specs.map((s) => s.name).join(", ")}`);
  }
  return Object.fromEntries(specs.map((s, i) => [s.name, syntheticTensor(s, opts, i)]));
}
