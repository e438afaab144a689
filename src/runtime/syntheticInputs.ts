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
 * input's content: the numbers are one item (the input at batch 1, row-major; a shorter list is
 * repeated to fill it), tiled over the batch. Dimensions marked in `batchDims` take `batch`
 * times their size (default 1). `checkInputValues` says whether values fit the inputs exactly.
 */
import { createHash } from "node:crypto";
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
  /** per input name: one item's values, row-major (repeated if shorter, tiled over the batch) */
  values?: Readonly<Record<string, readonly number[]>> | undefined;
}

/** Seeded uniform floats in [-1, 1) (mulberry32). */
export function seededFloats(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

/**
 * `arr` (of shape `dims`) filled with one item of `itemDims` tiled over it: element i takes the
 * item's element at coordinates (c_k mod itemDims[k]); the item is `values`, repeated if shorter.
 */
function filled<T extends { length: number; [i: number]: number | bigint }>(
  arr: T,
  values: readonly number[] | undefined,
  conv: (x: number) => number | bigint,
  itemDims: readonly number[],
  dims: readonly number[],
): T {
  if (values === undefined || values.length === 0) return arr;
  const rank = dims.length;
  const same = dims.every((d, k) => d === itemDims[k]);
  const itemStrides = itemDims.map((_, k) => itemDims.slice(k + 1).reduce((x, y) => x * y, 1));
  for (let i = 0; i < arr.length; i++) {
    let j = i;
    if (!same) {
      j = 0;
      let rest = i;
      for (let k = rank - 1; k >= 0; k--) {
        const d = dims[k] as number;
        const c = rest % d;
        rest = (rest - c) / d;
        j += (c % (itemDims[k] as number)) * (itemStrides[k] as number);
      }
    }
    arr[i] = conv(values[j % values.length] as number);
  }
  return arr;
}

/** One input tensor. */
export function syntheticTensor(spec: InputSpec, opts: SyntheticOptions = {}, index = 0): ort.Tensor {
  const batch = opts.batch ?? 1;
  const dims = spec.shape.map((d, i) => (spec.batchDims?.[i] === true ? d * batch : d));
  const n = dims.reduce((a, b) => a * b, 1);
  const given = opts.values?.[spec.name];
  const random = opts.fill !== "zeros" && given === undefined;
  const fill = <T extends { length: number; [i: number]: number | bigint }>(arr: T, conv: (x: number) => number | bigint): T => filled(arr, given, conv, spec.shape, dims);
  const floats = (): Float32Array => (random ? seededFloats(n, (opts.seed ?? 1) * 100_003 + (opts.sample ?? 0) * 31 + index) : fill(new Float32Array(n), Number));
  if (spec.dtype === "float32") return new ort.Tensor("float32", floats(), dims);
  if (spec.dtype === "float64") return new ort.Tensor("float64", Float64Array.from(floats()), dims);
  if (spec.dtype === "float16") return new ort.Tensor("float16", toFloat16(floats()), dims);
  const ctor = INTEGER_ARRAYS[spec.dtype];
  if (ctor === undefined) throw new UsageError(`input ${spec.name} has type ${spec.dtype}, for which splitwatt cannot make inputs: give real values, or use a model whose inputs are numeric`);
  const big = spec.dtype === "int64" || spec.dtype === "uint64";
  const conv = spec.dtype === "bool" ? (x: number) => (x !== 0 ? 1 : 0) : big ? (x: number) => BigInt(Math.trunc(x)) : (x: number) => Math.trunc(x);
  return new ort.Tensor(spec.dtype as "int32", fill(new ctor(n), conv) as Int32Array, dims);
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

/** Range of each integer type's values (bool: 0 or 1). */
const INTEGER_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  bool: [0, 1],
};

/**
 * Refuse values that do not fit the inputs exactly: an unknown input name (listing the real
 * ones), a count other than the input's elements per item, a non-integer or out-of-range value
 * for an integer or bool input, a non-finite one. `from` names where the values came from.
 */
export function checkInputValues(specs: readonly InputSpec[], values: Readonly<Record<string, readonly number[]>>, from = "input values"): void {
  for (const [name, v] of Object.entries(values)) {
    const s = specs.find((x) => x.name === name);
    if (s === undefined) throw new UsageError(`${from}: there is no input named ${name}; the model's inputs are ${specs.map((x) => x.name).join(", ")}`);
    const n = s.shape.reduce((a, b) => a * b, 1);
    const what = `${name} is ${s.dtype} [${s.shape.join(",")}] per item`;
    if (v.length !== n) throw new UsageError(`${from}: ${v.length} value${v.length === 1 ? "" : "s"} for ${name}, but ${what} (${n} element${n === 1 ? "" : "s"}): give exactly ${n}`);
    const range = INTEGER_RANGES[s.dtype];
    for (const x of v) {
      if (!Number.isFinite(x)) throw new UsageError(`${from}: ${name} holds ${x}; give finite numbers`);
      if (range !== undefined && (!Number.isInteger(x) || x < range[0] || x > range[1])) {
        throw new UsageError(`${from}: ${name} holds ${x}, but ${what}: give integers in ${range[0]}..${range[1]}`);
      }
    }
  }
}

/** Every input, in the given order (the order is part of the seed). */
export function syntheticInputs(specs: readonly InputSpec[], opts: SyntheticOptions = {}): Record<string, ort.Tensor> {
  for (const name of Object.keys(opts.values ?? {})) {
    if (!specs.some((s) => s.name === name)) throw new UsageError(`there is no input named ${name}; the model's inputs are ${specs.map((s) => s.name).join(", ")}`);
  }
  return Object.fromEntries(specs.map((s, i) => [s.name, syntheticTensor(s, opts, i)]));
}

/** sha256 (hex) of given values, independent of the order names were given in; null for none. */
export function inputValuesDigest(values: Readonly<Record<string, readonly number[]>>): string | null {
  const names = Object.keys(values).sort();
  if (names.length === 0) return null;
  return createHash("sha256")
    .update(JSON.stringify(names.map((n) => [n, values[n]])))
    .digest("hex");
}
