/**
 * IEEE 754 binary16 -> float32, exact (every half is a float32). Uses a 65536-entry table of
 * float32 bit patterns (256 KiB, built on first use), so decoding is one lookup per element.
 */

/** One binary16 bit pattern to the float32 bit pattern of the same value (NaN payloads kept). */
export function float16BitsToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf, NaN
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // normal: rebias 15 -> 127
  if (mant === 0) return sign >>> 0; // ±0
  // subnormal: mant * 2^-24; normalise so the leading 1 reaches bit 10
  let e = 113; // biased float32 exponent of 2^-14
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

let table: Uint32Array | undefined;

function float32Table(): Uint32Array {
  if (table === undefined) {
    table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = float16BitsToFloat32Bits(h);
  }
  return table;
}

/** Converts every element of `src` into `dst` (allocated when absent); returns `dst`. */
export function fromFloat16(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  if (dst.length !== src.length) throw new RangeError(`fromFloat16: dst has ${dst.length} elements, src ${src.length}`);
  const t = float32Table();
  const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  const n = src.length;
  for (let i = 0; i < n; i++) out[i] = t[src[i]!]!;
  return dst;
}
