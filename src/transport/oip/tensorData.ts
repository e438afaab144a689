/**
 * Element data <-> wire, for one tensor: the JSON "data" array and the binary tensor data
 * extension's section (little-endian, row-major, no padding; BOOL one byte 0/1; BYTES elements
 * as a 4-byte little-endian unsigned length followed by the bytes).
 */
import { DATATYPES, type Datatype, type TypedArray, type TypedArrayConstructor } from "./datatypes.js";
import { OipError, malformed, tooLarge } from "./oipError.js";

/** Thrown (internally) when INT64/UINT64 JSON data needs the bigint-preserving parse. */
export class NeedLosslessJson extends Error {
  constructor() {
    super("INT64/UINT64 JSON data needs a lossless parse");
  }
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Deepest nesting accepted in a JSON "data" array (the rank of any real tensor is far below). */
export const MAX_JSON_DATA_DEPTH = 64;

const utf8Decoder = new TextDecoder("utf-8", { fatal: true });
const utf8Encoder = new TextEncoder();

/** Short printable form of a JSON value for error messages. */
export function describeValue(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (v === undefined) return "nothing";
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

// ---------------------------------------------------------------- JSON -> data

/**
 * The leaves of a flat or nested JSON "data" array, checked to be exactly `count` of them.
 * Iterative; stops as soon as there are too many, so memory stays bounded by the body.
 */
function jsonLeaves(data: unknown, count: number, label: string): unknown[] {
  if (!Array.isArray(data)) throw malformed(`${label}: "data" must be a JSON array, got ${describeValue(data)}`);
  let flat = true;
  for (let k = 0; k < data.length; k++) {
    if (Array.isArray(data[k])) {
      flat = false;
      break;
    }
  }
  const mismatch = (have: string): OipError => malformed(`${label}: shape holds ${count} elements but "data" has ${have}`);
  if (flat) {
    if (data.length !== count) throw mismatch(String(data.length));
    return data;
  }
  const out: unknown[] = [];
  const stack: Array<{ a: unknown[]; k: number }> = [{ a: data, k: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { a: unknown[]; k: number };
    if (top.k >= top.a.length) {
      stack.pop();
      continue;
    }
    const v = top.a[top.k++];
    if (Array.isArray(v)) {
      if (stack.length >= MAX_JSON_DATA_DEPTH) throw malformed(`${label}: "data" is nested deeper than ${MAX_JSON_DATA_DEPTH} levels`);
      stack.push({ a: v, k: 0 });
    } else {
      if (out.length >= count) throw mismatch("more");
      out.push(v);
    }
  }
  if (out.length !== count) throw mismatch(String(out.length));
  return out;
}

export interface JsonDataContext {
  /** e.g. `input "x"`, for messages */
  label: string;
  /** the header was parsed with parseJsonLossless (big integer literals are bigints) */
  lossless: boolean;
  maxTensorBytes: number;
}

/** JSON "data" -> storage for the datatype. `count` is the shape's element count, already limit-checked. */
export function jsonToTensorData(dt: Datatype, count: number, data: unknown, ctx: JsonDataContext): TypedArray | Uint8Array[] {
  const info = DATATYPES[dt];
  const { label } = ctx;
  if (info.kind === "fp16") {
    throw malformed(`${label}: FP16 data cannot be sent as JSON (JSON has no 16-bit float); send it as binary data with "binary_data_size"`);
  }
  const values = jsonLeaves(data, count, label);
  const bad = (k: number, v: unknown, why: string): OipError => malformed(`${label}: element ${k} (${describeValue(v)}) ${why}`);
  switch (info.kind) {
    case "bool": {
      const out = new Uint8Array(count);
      for (let k = 0; k < count; k++) {
        const v = values[k];
        if (v === true) out[k] = 1;
        else if (v !== false) throw bad(k, v, "is not true or false");
      }
      return out;
    }
    case "int": {
      const min = info.min as number;
      const max = info.max as number;
      const out = new (info.ctor as Exclude<TypedArrayConstructor, BigInt64ArrayConstructor | BigUint64ArrayConstructor>)(count);
      for (let k = 0; k < count; k++) {
        const v = values[k];
        if (typeof v !== "number" || !Number.isInteger(v)) {
          if (typeof v === "bigint") throw bad(k, v, `is out of range for ${dt}`);
          throw bad(k, v, `is not an integer (${dt})`);
        }
        if (v < min || v > max) throw bad(k, v, `is out of range for ${dt}`);
        out[k] = v;
      }
      return out;
    }
    case "bigint": {
      const min = info.min as bigint;
      const max = info.max as bigint;
      const out = new (info.ctor as BigInt64ArrayConstructor | BigUint64ArrayConstructor)(count);
      for (let k = 0; k < count; k++) {
        const v = values[k];
        let b: bigint;
        if (typeof v === "number") {
          if (!Number.isInteger(v)) throw bad(k, v, `is not an integer (${dt})`);
          if (!Number.isSafeInteger(v)) {
            // JSON.parse rounded it: re-read the text with big integers kept exact.
            if (!ctx.lossless) throw new NeedLosslessJson();
            throw bad(k, v, `is out of range for ${dt} or not written as an integer literal`);
          }
          b = BigInt(v);
        } else if (typeof v === "bigint") {
          b = v;
        } else {
          throw bad(k, v, `is not an integer (${dt})`);
        }
        if (b < min || b > max) throw bad(k, v, `is out of range for ${dt}`);
        out[k] = b;
      }
      return out;
    }
    case "float": {
      const fp32 = dt === "FP32";
      const out = fp32 ? new Float32Array(count) : new Float64Array(count);
      for (let k = 0; k < count; k++) {
        const v = values[k];
        let x: number;
        if (typeof v === "number") x = v;
        else if (typeof v === "bigint") x = Number(v);
        else throw bad(k, v, `is not a number (${dt})`);
        if (!Number.isFinite(fp32 ? Math.fround(x) : x)) throw bad(k, v, `is out of range for ${dt}`);
        out[k] = x;
      }
      return out;
    }
    case "bytes": {
      const out: Uint8Array[] = new Array<Uint8Array>(count);
      let total = 0;
      for (let k = 0; k < count; k++) {
        const v = values[k];
        if (typeof v !== "string") throw bad(k, v, "is not a string (BYTES)");
        const bytes = utf8Encoder.encode(v);
        total += 4 + bytes.length;
        if (total > ctx.maxTensorBytes) throw tooLarge(`${label}: BYTES data exceeds the ${ctx.maxTensorBytes}-byte tensor limit`);
        out[k] = bytes;
      }
      return out;
    }
  }
  throw malformed(`${label}: unsupported datatype ${dt}`);
}

// ---------------------------------------------------------------- binary -> data

function swapBytes(bytes: Uint8Array, size: number): void {
  for (let p = 0; p + size <= bytes.length; p += size) {
    for (let a = p, b = p + size - 1; a < b; a++, b--) {
      const t = bytes[a] as number;
      bytes[a] = bytes[b] as number;
      bytes[b] = t;
    }
  }
}

/**
 * One binary section -> storage for the datatype. `bytes` is exactly the section (its length is
 * the tensor's binary_data_size). Returns a view into `bytes` when the element alignment allows,
 * a copy otherwise (or on a big-endian host).
 */
export function binaryToTensorData(dt: Datatype, count: number, bytes: Uint8Array, label: string): TypedArray | Uint8Array[] {
  const info = DATATYPES[dt];
  if (info.kind === "bytes") {
    // every element takes at least its 4-byte length: reject impossible counts before allocating
    if (count > Math.floor(bytes.length / 4)) {
      throw malformed(`${label}: ${count} BYTES elements cannot fit in binary_data_size ${bytes.length}`);
    }
    const out: Uint8Array[] = new Array<Uint8Array>(count);
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 4 > bytes.length) throw malformed(`${label}: BYTES element ${k} length prefix runs past the tensor's binary data`);
      const len = ((bytes[p] as number) | ((bytes[p + 1] as number) << 8) | ((bytes[p + 2] as number) << 16) | ((bytes[p + 3] as number) << 24)) >>> 0;
      p += 4;
      if (len > bytes.length - p) throw malformed(`${label}: BYTES element ${k} declares ${len} bytes but only ${bytes.length - p} remain`);
      out[k] = bytes.subarray(p, p + len);
      p += len;
    }
    if (p !== bytes.length) throw malformed(`${label}: ${bytes.length - p} bytes left over after ${count} BYTES elements`);
    return out;
  }
  if (bytes.length !== count * info.size) {
    throw malformed(`${label}: binary_data_size ${bytes.length} does not match ${count} x ${info.size} bytes for ${dt}`);
  }
  if (info.kind === "bool") {
    for (let k = 0; k < count; k++) {
      const b = bytes[k] as number;
      if (b > 1) throw malformed(`${label}: BOOL element ${k} is byte ${b}, not 0 or 1`);
    }
    return bytes;
  }
  const ctor = info.ctor as TypedArrayConstructor;
  if (info.size === 1) return ctor === Uint8Array ? bytes : new Int8Array(bytes.buffer, bytes.byteOffset, count);
  if (LITTLE_ENDIAN && bytes.byteOffset % info.size === 0) {
    return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, count);
  }
  const copy = bytes.slice();
  if (!LITTLE_ENDIAN) swapBytes(copy, info.size);
  return new ctor(copy.buffer, 0, count);
}

// ---------------------------------------------------------------- data -> JSON

/**
 * Storage -> the JSON text of the "data" array. Throws OipError(400) for values JSON cannot carry
 * (FP16, NaN/Infinity, BYTES that are not UTF-8); `hint` says how to ask for binary instead.
 */
export function tensorDataToJson(dt: Datatype, data: TypedArray | Uint8Array[], label: string, hint: string): string {
  const info = DATATYPES[dt];
  switch (info.kind) {
    case "fp16":
      throw new OipError(400, `${label}: FP16 cannot be represented in JSON; ${hint}`);
    case "bool": {
      const a = data as Uint8Array;
      const plain: boolean[] = new Array<boolean>(a.length);
      for (let k = 0; k < a.length; k++) plain[k] = a[k] !== 0;
      return JSON.stringify(plain);
    }
    case "int": {
      // JSON.stringify of a plain array is about twice as fast as TypedArray.prototype.join
      const a = data as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
      const plain: number[] = new Array<number>(a.length);
      for (let k = 0; k < a.length; k++) plain[k] = a[k] as number;
      return JSON.stringify(plain);
    }
    case "bigint":
      return `[${(data as BigInt64Array | BigUint64Array).join(",")}]`; // exact digits, no "n"
    case "float": {
      const a = data as Float32Array | Float64Array;
      const plain: number[] = new Array<number>(a.length);
      let negZero = false;
      for (let k = 0; k < a.length; k++) {
        const x = a[k] as number;
        if (x - x !== 0) throw new OipError(400, `${label}: element ${k} is ${x}, which JSON cannot represent; ${hint}`);
        if (x === 0 && 1 / x < 0) negZero = true;
        plain[k] = x;
      }
      if (!negZero) return JSON.stringify(plain);
      // JSON.stringify writes -0 as 0; keep the sign so the round trip is exact
      const parts: string[] = new Array<string>(a.length);
      for (let k = 0; k < a.length; k++) {
        const x = a[k] as number;
        parts[k] = x === 0 && 1 / x < 0 ? "-0" : String(x);
      }
      return `[${parts.join(",")}]`;
    }
    case "bytes": {
      const a = data as Uint8Array[];
      const parts: string[] = new Array<string>(a.length);
      for (let k = 0; k < a.length; k++) {
        let s: string;
        try {
          s = utf8Decoder.decode(a[k]);
        } catch {
          throw new OipError(400, `${label}: BYTES element ${k} is not valid UTF-8, which JSON strings cannot carry; ${hint}`);
        }
        parts[k] = JSON.stringify(s);
      }
      return `[${parts.join(",")}]`;
    }
  }
  throw new OipError(500, `${label}: unsupported datatype ${dt}`);
}

// ---------------------------------------------------------------- data -> binary

/** Byte length of the binary section for this data. */
export function binaryByteLength(dt: Datatype, data: TypedArray | Uint8Array[]): number {
  if (dt !== "BYTES") return (data as TypedArray).byteLength;
  let total = 0;
  for (const e of data as Uint8Array[]) total += 4 + e.length;
  return total;
}

/**
 * Storage -> the binary section. Fixed-size types come back as a view of the caller's array (no
 * copy) on little-endian hosts; BYTES is serialised into one new buffer; BOOL is copied only if a
 * byte other than 0/1 must be normalised.
 */
export function tensorDataToBinary(dt: Datatype, data: TypedArray | Uint8Array[], label: string): Uint8Array {
  const info = DATATYPES[dt];
  if (info.kind === "bytes") {
    const elems = data as Uint8Array[];
    const out = new Uint8Array(binaryByteLength(dt, elems));
    let p = 0;
    for (const e of elems) {
      const len = e.length;
      if (len > 0xffffffff) throw new OipError(413, `${label}: a BYTES element is longer than 2^32-1 bytes`);
      out[p] = len & 0xff;
      out[p + 1] = (len >>> 8) & 0xff;
      out[p + 2] = (len >>> 16) & 0xff;
      out[p + 3] = (len >>> 24) & 0xff;
      out.set(e, p + 4);
      p += 4 + len;
    }
    return out;
  }
  const a = data as TypedArray;
  const view = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (info.kind === "bool") {
    for (let k = 0; k < view.length; k++) {
      if ((view[k] as number) > 1) return view.map((b) => (b === 0 ? 0 : 1));
    }
    return view;
  }
  if (LITTLE_ENDIAN || info.size === 1) return view;
  const copy = view.slice();
  swapBytes(copy, info.size);
  return copy;
}
