/**
 * NumPy's .npy format (numpy.lib.format, versions 1.0-3.0): the 6-byte magic "\x93NUMPY", major
 * and minor version bytes, the header length (uint16 little-endian in 1.0, uint32 in 2.0 and
 * 3.0), an ASCII (3.0: UTF-8) Python dict literal `{'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), }`, then the elements. Numeric and bool dtypes of either byte order are read;
 * Fortran-ordered arrays are returned in C (row-major) order.
 */
import { UsageError } from "../errors.js";
import { fromFloat16 } from "../transport/codecs/fromFloat16.js";

export interface NpyArray {
  /** the descr without its byte order, e.g. f4, i8, b1 */
  dtype: string;
  shape: number[];
  /** row-major; int64 and uint64 elements as numbers (exact up to 2^53) */
  data: number[];
}

const READERS: Record<string, { bytes: number; read: (v: DataView, at: number, little: boolean) => number }> = {
  f4: { bytes: 4, read: (v, at, le) => v.getFloat32(at, le) },
  f8: { bytes: 8, read: (v, at, le) => v.getFloat64(at, le) },
  f2: { bytes: 2, read: (v, at, le) => fromFloat16(Uint16Array.of(v.getUint16(at, le)))[0] as number },
  i1: { bytes: 1, read: (v, at) => v.getInt8(at) },
  u1: { bytes: 1, read: (v, at) => v.getUint8(at) },
  b1: { bytes: 1, read: (v, at) => (v.getUint8(at) === 0 ? 0 : 1) },
  i2: { bytes: 2, read: (v, at, le) => v.getInt16(at, le) },
  u2: { bytes: 2, read: (v, at, le) => v.getUint16(at, le) },
  i4: { bytes: 4, read: (v, at, le) => v.getInt32(at, le) },
  u4: { bytes: 4, read: (v, at, le) => v.getUint32(at, le) },
  i8: { bytes: 8, read: (v, at, le) => Number(v.getBigInt64(at, le)) },
  u8: { bytes: 8, read: (v, at, le) => Number(v.getBigUint64(at, le)) },
};

/** Parse an .npy file's bytes; `label` names it in errors. */
export function parseNpy(bytes: Uint8Array, label: string): NpyArray {
  const bad = (why: string) => new UsageError(`${label}: not a NumPy array splitwatt reads: ${why}`, { path: label });
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw bad("it does not start with \\x93NUMPY (save it with numpy.save)");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6] as number;
  if (major < 1 || major > 3) throw bad(`format version ${major}.${bytes[7]} (1.0-3.0 are read)`);
  const headerLen = major === 1 ? view.getUint16(8, true) : bytes.length >= 12 ? view.getUint32(8, true) : -1;
  const start = major === 1 ? 10 : 12;
  if (headerLen < 0 || start + headerLen > bytes.length) throw bad("the header is cut short");
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`the header lacks descr, fortran_order or shape (${header.trim().slice(0, 80)})`);
  const shape = shapeText
    .split(",")
    .map((d) => d.trim())
    .filter((d) => d !== "")
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText}) is not a tuple of sizes`);
  const order = descr[0];
  const dtype = order === "<" || order === ">" || order === "|" || order === "=" ? descr.slice(1) : descr;
  const reader = READERS[dtype];
  if (reader === undefined) throw bad(`its dtype ${descr} is not a number or bool type (float16/32/64, int8-64, uint8-64, bool are read)`);
  const little = order !== ">";
  const n = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLen;
  if (bytes.length - dataStart < n * reader.bytes) throw bad(`shape (${shape.join(", ")}) of ${descr} needs ${n * reader.bytes} data bytes, the file has ${bytes.length - dataStart}`);
  const stored = Array.from({ length: n }, (_, i) => reader.read(view, dataStart + i * reader.bytes, little));
  if (fortran === "False" || shape.length < 2) return { dtype, shape, data: stored };
  // Fortran order: element (c_0, ..., c_k) is stored at sum c_j * (d_0 * ... * d_{j-1})
  const data = new Array<number>(n);
  const fStrides = shape.map((_, j) => shape.slice(0, j).reduce((a, b) => a * b, 1));
  for (let i = 0; i < n; i++) {
    let rest = i;
    let at = 0;
    for (let j = shape.length - 1; j >= 0; j--) {
      const d = shape[j] as number;
      const c = rest % d;
      rest = (rest - c) / d;
      at += c * (fStrides[j] as number);
    }
    data[i] = stored[at] as number;
  }
  return { dtype, shape, data };
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
