/**
 * NumPy's .npy format (format versions 1.0-3.0, as numpy.lib.format documents it): a magic
 * string, a header (a Python dict literal with descr, fortran_order and shape), then the array's
 * bytes. Little-endian float32/float64/int64/int32/int8/uint8/bool in C order are read; float64
 * becomes float32 when `asFloat32`.
 */
import { UsageError } from "../errors.js";

export interface NpyArray {
  /** onnxruntime type name */
  dtype: "float32" | "float64" | "int64" | "int32" | "int8" | "uint8" | "bool";
  shape: number[];
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array;
}

const DESCR: Record<string, { dtype: NpyArray["dtype"]; bytes: number }> = {
  "<f4": { dtype: "float32", bytes: 4 },
  "<f8": { dtype: "float64", bytes: 8 },
  "<i8": { dtype: "int64", bytes: 8 },
  "<i4": { dtype: "int32", bytes: 4 },
  "|i1": { dtype: "int8", bytes: 1 },
  "|u1": { dtype: "uint8", bytes: 1 },
  "|b1": { dtype: "bool", bytes: 1 },
};

export function readNpy(bytes: Uint8Array, name = "the file"): NpyArray {
  const bad = (why: string): UsageError => new UsageError(`${name} is not a .npy file splitwatt can read (${why}): save it with numpy.save as a C-ordered little-endian array`);
  if (bytes.length < 10 || bytes[0] !== 0x93 || String.fromCharCode(...bytes.subarray(1, 6)) !== "NUMPY") throw bad("no NUMPY magic");
  const major = bytes[6] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (major < 1 || major > 3 || start + headerLen > bytes.length) throw bad(`format version ${major}`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad("a header without descr, fortran_order and shape");
  if (fortran === "True") throw bad("Fortran order");
  const type = DESCR[descr];
  if (type === undefined) throw bad(`dtype ${descr}`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const n = shape.reduce((a, b) => a * b, 1);
  const at = start + headerLen;
  if (bytes.length - at !== n * type.bytes) throw bad(`${bytes.length - at} data bytes for shape (${shape.join(", ")}) of ${descr}`);
  // a copy: aligned, and independent of the file's buffer
  const body = new Uint8Array(bytes.subarray(at)).buffer; // Buffer.slice would be a view of the file's pool
  const data =
    type.dtype === "float32"
      ? new Float32Array(body)
      : type.dtype === "float64"
        ? new Float64Array(body)
        : type.dtype === "int64"
          ? new BigInt64Array(body)
          : type.dtype === "int32"
            ? new Int32Array(body)
            : type.dtype === "int8"
              ? new Int8Array(body)
              : new Uint8Array(body);
  return { dtype: type.dtype, shape, data };
}

/** An array as .npy bytes (format 1.0), for tests and for writing inputs. */
export function writeNpy(a: { dtype: "float32"; shape: number[]; data: Float32Array }): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${a.shape.join(", ")}${a.shape.length === 1 ? "," : ""}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += `${" ".repeat(pad % 64)}\n`;
  const out = new Uint8Array(10 + header.length + a.data.byteLength);
  out.set([0x93, ...[..."NUMPY"].map((c) => c.charCodeAt(0)), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), 10 + header.length);
  return out;
}
