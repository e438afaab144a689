/**
 * Cut tensor codecs: how the float32 tensor at the split point crosses the network between the
 * head (edge device) and the tail (server) in an Open Inference Protocol (OIP / KServe v2) request.
 *
 * Codecs (negotiated per tensor in its OIP `parameters`):
 *   raw           float32 as is                                         datatype FP32, 4 bytes/element
 *   fp16          IEEE 754 binary16, round to nearest even               datatype FP16, 2 bytes/element
 *   int8          per-tensor affine int8, real = (q - zero_point) * scale datatype INT8, 1 byte/element
 *   int8-channel  per-channel affine int8 along an axis (default 1 =
 *                 the C of NCHW), one scale and zero point per channel   datatype INT8, 1 byte/element
 * each optionally compressed: `+deflate` (zlib format, RFC 1950/1951) or `+zstd` (one zstd frame,
 * RFC 8878). Element bytes are little-endian, row-major (C order) over `shape`.
 *
 * Tensor parameters (all prefixed `sw_`, other keys are ignored):
 *   sw_codec               "raw" | "fp16" | "int8" | "int8-channel"   (absent: "raw")
 *   sw_compression         "none" | "deflate" | "zstd"                (absent: "none")
 *   sw_scale               number > 0, finite                         (int8)
 *   sw_zero_point          integer in [-128, 127]                     (int8)
 *   sw_axis                integer in [0, rank)                       (int8-channel)
 *   sw_scales              JSON array string, one scale per channel   (int8-channel)
 *   sw_zero_points         JSON array string, one zero point per channel (int8-channel)
 *   sw_uncompressed_bytes  payload size before compression            (required when compressed;
 *                          must equal elements x bytes per element)
 * Numbers may also arrive as numeric strings, and sw_scales / sw_zero_points as JSON arrays.
 * The OIP `datatype` is that of the decompressed payload and must match the codec.
 */
import { UsageError } from "../../errors.js";
import { CodecError } from "./codecError.js";
import type { CodecName, Compression } from "./codecNames.js";
import { compressPayload } from "./compressPayload.js";
import { decompressPayload } from "./decompressPayload.js";
import { dequantizeInt8 } from "./dequantizeInt8.js";
import { fromFloat16 } from "./fromFloat16.js";
import { type AffineInt8, quantizeInt8 } from "./quantizeInt8.js";
import { toFloat16 } from "./toFloat16.js";

export { CodecError } from "./codecError.js";

export type { CodecName, Compression } from "./codecNames.js";
export interface CodecSpec {
  codec: CodecName;
  compression: Compression;
  /** int8-channel only: the channel axis (negative counts from the end); default 1 */
  channelAxis?: number;
}

export const CODEC_NAMES: readonly CodecName[] = ["raw", "fp16", "int8", "int8-channel"];
export const COMPRESSIONS: readonly Compression[] = ["none", "deflate", "zstd"];

/** Largest tensor decodeTensor accepts, in elements (1 GiB as float32). */
export const MAX_ELEMENTS = 2 ** 28;

const DATATYPE: Record<CodecName, "FP32" | "FP16" | "INT8"> = { raw: "FP32", fp16: "FP16", int8: "INT8", "int8-channel": "INT8" };
const ELEMENT_BYTES: Record<CodecName, number> = { raw: 4, fp16: 2, int8: 1, "int8-channel": 1 };

const isCodecName = (s: unknown): s is CodecName => typeof s === "string" && (CODEC_NAMES as readonly string[]).includes(s);
const isCompression = (s: unknown): s is Compression => typeof s === "string" && (COMPRESSIONS as readonly string[]).includes(s);

/** "raw", "fp16", "int8+zstd", "int8-channel+deflate" ... -> spec; UsageError (exit 2) listing the valid names otherwise */
export function parseCodec(text: string): CodecSpec {
  const parts = String(text).trim().split("+");
  const [codec, compression = "none", ...rest] = parts;
  if (rest.length === 0 && isCodecName(codec) && isCompression(compression)) return { codec, compression };
  throw new UsageError(
    `unknown codec "${text}": use one of ${CODEC_NAMES.join(", ")}, each optionally followed by +deflate or +zstd (e.g. int8+zstd, fp16+deflate)`,
  );
}

/**
 * Bytes per element of an FP32 tensor encoded with `spec`, before compression (4, 2 or 1; the
 * int8 codecs' scales and zero points are a few bytes per tensor or channel and not counted).
 * Compression is data-dependent: its ratio is not predicted (counted as 1).
 */
export function codecBytesPerElement(spec: CodecSpec): number {
  return ELEMENT_BYTES[spec.codec];
}

/** Inverse of parseCodec: "raw", "int8+zstd", ... (compression "none" is left out) */
export function codecName(spec: CodecSpec): string {
  return spec.compression === "none" ? spec.codec : `${spec.codec}+${spec.compression}`;
}

/** What goes on the wire for one tensor. `datatype` is the Open Inference Protocol datatype of the (decompressed) payload: FP32, FP16 or INT8; when compressed, the bytes are the compressed payload. */
export interface EncodedTensor {
  bytes: Uint8Array;
  datatype: "FP32" | "FP16" | "INT8";
  shape: number[];
  parameters: Record<string, string | number | boolean>;
}

/**
 * Encodes `data` (row-major over `shape`). `bytes` is always a fresh buffer, never a view of
 * `data`; uncompressed it starts at byteOffset 0 of its own ArrayBuffer, so FP32/FP16/INT8 typed
 * views of it are aligned (little-endian hosts).
 */
export function encodeTensor(data: Float32Array, shape: number[], spec: CodecSpec): EncodedTensor {
  if (!isCodecName(spec.codec)) throw new CodecError(`unknown codec "${String(spec.codec)}": use one of ${CODEC_NAMES.join(", ")}`);
  if (!isCompression(spec.compression)) throw new CodecError(`unknown compression "${String(spec.compression)}": use one of ${COMPRESSIONS.join(", ")}`);
  const n = elementCount(shape, Number.MAX_SAFE_INTEGER);
  if (data.length !== n) throw new CodecError(`tensor has ${data.length} elements but shape [${shape.join(",")}] implies ${n}`);

  const parameters: Record<string, string | number | boolean> = { sw_codec: spec.codec, sw_compression: spec.compression };
  let payload: Uint8Array;
  switch (spec.codec) {
    case "raw":
      payload = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
      if (!LITTLE_ENDIAN_HOST) swapBytes(payload, 4);
      break;
    case "fp16": {
      const h = toFloat16(data);
      payload = new Uint8Array(h.buffer, h.byteOffset, h.byteLength);
      if (!LITTLE_ENDIAN_HOST) swapBytes(payload, 2);
      break;
    }
    case "int8": {
      const { q, params } = quantizeInt8(data, shape, null);
      const p = params[0]!;
      parameters.sw_scale = p.scale;
      parameters.sw_zero_point = p.zeroPoint;
      payload = new Uint8Array(q.buffer, q.byteOffset, q.byteLength);
      break;
    }
    case "int8-channel": {
      const rank = shape.length;
      const requested = spec.channelAxis ?? 1;
      const axis = requested < 0 ? requested + rank : requested;
      if (!Number.isInteger(axis) || axis < 0 || axis >= rank) {
        throw new CodecError(`int8-channel axis ${requested} is outside a rank-${rank} tensor (shape [${shape.join(",")}]); use 0..${rank - 1}`);
      }
      const { q, params } = quantizeInt8(data, shape, axis);
      parameters.sw_axis = axis;
      parameters.sw_scales = JSON.stringify(params.map((p) => p.scale));
      parameters.sw_zero_points = JSON.stringify(params.map((p) => p.zeroPoint));
      payload = new Uint8Array(q.buffer, q.byteOffset, q.byteLength);
      break;
    }
  }
  if (spec.compression !== "none") parameters.sw_uncompressed_bytes = payload.length;
  return { bytes: compressPayload(payload, spec.compression), datatype: DATATYPE[spec.codec], shape: [...shape], parameters };
}

/** Inverse of encodeTensor. Validates everything and throws a one-line CodecError on bad input; memory stays bounded by the size `shape` implies. */
export function decodeTensor(bytes: Uint8Array, datatype: string, shape: number[], parameters: Record<string, unknown>): Float32Array {
  if (!(bytes instanceof Uint8Array)) throw new CodecError("tensor payload must be bytes (a Uint8Array)");
  if (parameters === null || typeof parameters !== "object") throw new CodecError("tensor parameters must be an object");
  const n = elementCount(shape, MAX_ELEMENTS);

  const codec = parameters.sw_codec ?? "raw";
  if (!isCodecName(codec)) throw new CodecError(`unknown sw_codec ${JSON.stringify(codec)}: use one of ${CODEC_NAMES.join(", ")}`);
  const compression = parameters.sw_compression ?? "none";
  if (!isCompression(compression)) throw new CodecError(`unknown sw_compression ${JSON.stringify(compression)}: use one of ${COMPRESSIONS.join(", ")}`);
  if (datatype !== DATATYPE[codec]) throw new CodecError(`datatype ${JSON.stringify(datatype)} does not match sw_codec ${codec}, which sends ${DATATYPE[codec]}`);

  const expected = n * ELEMENT_BYTES[codec];
  const declared = readNumber(parameters, "sw_uncompressed_bytes");
  if (declared === undefined && compression !== "none") throw new CodecError(`missing parameter sw_uncompressed_bytes (required with sw_compression ${compression})`);
  if (declared !== undefined && declared !== expected) throw new CodecError(`sw_uncompressed_bytes is ${declared} but shape [${shape.join(",")}] as ${DATATYPE[codec]} needs ${expected}`);

  // parameters before the payload: cheap checks first, no decompression for a request that fails them
  let axis: number | null = null;
  let params: AffineInt8[] = [];
  if (codec === "int8") {
    params = [{ scale: readScale(parameters.sw_scale, "sw_scale"), zeroPoint: readZeroPoint(parameters.sw_zero_point, "sw_zero_point") }];
  } else if (codec === "int8-channel") {
    const a = readNumber(parameters, "sw_axis");
    if (a === undefined) throw new CodecError("missing parameter sw_axis (required with sw_codec int8-channel)");
    if (!Number.isInteger(a) || a < 0 || a >= shape.length) throw new CodecError(`sw_axis ${a} is outside shape [${shape.join(",")}]; use 0..${shape.length - 1}`);
    axis = a;
    const channels = shape[a]!;
    const scales = readArray(parameters.sw_scales, "sw_scales", channels);
    const zeroPoints = readArray(parameters.sw_zero_points, "sw_zero_points", channels);
    params = scales.map((s, c) => ({ scale: readScale(s, `sw_scales[${c}]`), zeroPoint: readZeroPoint(zeroPoints[c], `sw_zero_points[${c}]`) }));
  }

  if (compression === "none" && bytes.length !== expected) {
    throw new CodecError(`payload is ${bytes.length} bytes but shape [${shape.join(",")}] as ${DATATYPE[codec]} needs ${expected}`);
  }
  const payload = decompressPayload(bytes, compression, expected);

  switch (codec) {
    case "raw": {
      const out = new Float32Array(n);
      const outBytes = new Uint8Array(out.buffer);
      outBytes.set(payload);
      if (!LITTLE_ENDIAN_HOST) swapBytes(outBytes, 4);
      return out;
    }
    case "fp16": {
      let h: Uint16Array;
      if (LITTLE_ENDIAN_HOST && payload.byteOffset % 2 === 0) h = new Uint16Array(payload.buffer, payload.byteOffset, n);
      else {
        h = new Uint16Array(n);
        const hb = new Uint8Array(h.buffer);
        hb.set(payload);
        if (!LITTLE_ENDIAN_HOST) swapBytes(hb, 2);
      }
      return fromFloat16(h);
    }
    case "int8":
    case "int8-channel":
      return dequantizeInt8(payload, shape, axis, params);
  }
}

/** Elements in `shape`; CodecError unless it is an array of non-negative integers with at most `max` elements in all. */
function elementCount(shape: unknown, max: number): number {
  if (!Array.isArray(shape)) throw new CodecError(`shape must be an array of dimensions, got ${describe(shape)}`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new CodecError(`shape [${shape.map(describe).join(",")}] has a dimension that is not a non-negative integer`);
    n *= d;
  }
  if (shape.includes(0)) return 0;
  if (!(n <= max)) throw new CodecError(`shape [${shape.join(",")}] has more than ${max} elements`);
  return n;
}

function describe(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? "an array" : typeof v;
}

/** A number parameter: a JSON number or a numeric string; undefined when absent. */
function readNumber(parameters: Record<string, unknown>, name: string): number | undefined {
  const v = parameters[name];
  if (v === undefined) return undefined;
  return toNumber(v, name);
}

function toNumber(v: unknown, name: string): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "" && v.length <= 64) {
    const x = Number(v);
    if (!Number.isNaN(x)) return x;
  }
  throw new CodecError(`parameter ${name} must be a number, got ${describe(v)}`);
}

function readScale(v: unknown, name: string): number {
  if (v === undefined) throw new CodecError(`missing parameter ${name}`);
  const s = toNumber(v, name);
  if (!(s > 0) || !Number.isFinite(s)) throw new CodecError(`${name} must be a finite number > 0, got ${s}`);
  return s;
}

function readZeroPoint(v: unknown, name: string): number {
  if (v === undefined) throw new CodecError(`missing parameter ${name}`);
  const z = toNumber(v, name);
  if (!Number.isInteger(z) || z < -128 || z > 127) throw new CodecError(`${name} must be an integer in [-128, 127], got ${z}`);
  return z;
}

/** A JSON array string (or an array) of exactly `length` entries; the string is length-checked before parsing. */
function readArray(v: unknown, name: string, length: number): unknown[] {
  if (v === undefined) throw new CodecError(`missing parameter ${name} (required with sw_codec int8-channel)`);
  let arr: unknown = v;
  if (typeof v === "string") {
    if (v.length > 64 + 32 * length) throw new CodecError(`parameter ${name} is ${v.length} characters, too long for ${length} channels`);
    try {
      arr = JSON.parse(v);
    } catch {
      throw new CodecError(`parameter ${name} is not a JSON array: ${describe(v)}`);
    }
  }
  if (!Array.isArray(arr)) throw new CodecError(`parameter ${name} must be a JSON array, got ${describe(v)}`);
  if (arr.length !== length) throw new CodecError(`parameter ${name} has ${arr.length} entries, the channel axis has ${length}`);
  return arr;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `width`-byte group in place (big-endian hosts only). */
function swapBytes(b: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i + width <= b.length; i += width) {
    for (let j = 0; j < width / 2; j++) {
      const t = b[i + j]!;
      b[i + j] = b[i + width - 1 - j]!;
      b[i + width - 1 - j] = t;
    }
  }
}
