/**
 * float32 -> IEEE 754 binary16, round to nearest, ties to even; subnormals, ±0, ±Inf and NaN
 * handled (NaN keeps its sign and top 10 payload bits and is made quiet). Finite values whose
 * magnitude rounds past 65504 become ±Inf, as IEEE conversion does.
 * Pure integer bit manipulation: no per-element allocation, no float arithmetic.
 */

/** One float32 bit pattern (as an unsigned or signed 32-bit integer) to its binary16 bit pattern. */
export function float32BitsToFloat16Bits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const abs = bits & 0x7fffffff;
  if (abs >= 0x47800000) {
    // |x| >= 2^16 (always past the largest half, 65504), Inf or NaN
    if (abs > 0x7f800000) return sign | 0x7e00 | ((abs >>> 13) & 0x3ff);
    return sign | 0x7c00;
  }
  if (abs >= 0x38800000) {
    // normal half range 2^-14 <= |x| < 2^16: rebias the exponent (127 -> 15) and round the 13
    // dropped mantissa bits to nearest even; a carry into the exponent is the correct result
    // (up to 0x7c00 = Inf for 65520 <= |x| < 2^16).
    return sign | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
  }
  if (abs <= 0x33000000) return sign; // |x| <= 2^-25: rounds to ±0 (2^-25 is a tie, 0 is even)
  // half subnormal: the result is |x| / 2^-24 rounded to an integer (0x400 = min normal if it carries)
  const e = abs >>> 23; // 102..112
  const m = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - e; // 14..24
  const half = 1 << (shift - 1);
  const rem = m & ((1 << shift) - 1);
  let r = m >>> shift;
  if (rem > half || (rem === half && (r & 1) === 1)) r++;
  return sign | r;
}

/** Converts every element of `src` into `dst` (allocated when absent); returns `dst`. */
export function toFloat16(src: Float32Array, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  if (dst.length !== src.length) throw new RangeError(`toFloat16: dst has ${dst.length} elements, src ${src.length}`);
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const n = bits.length;
  for (let i = 0; i < n; i++) {
    const x = bits[i]!;
    const abs = x & 0x7fffffff;
    // fast path: the normal half range, branch-light
    if (abs >= 0x38800000 && abs < 0x47800000) dst[i] = ((x >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
    else dst[i] = float32BitsToFloat16Bits(x);
  }
  return dst;
}
