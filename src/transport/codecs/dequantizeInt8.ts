import { type AffineInt8, channelLayout } from "./quantizeInt8.js";

/**
 * int8 payload bytes (two's complement, row-major `shape`) -> float32, real = (q - zeroPoint) * scale,
 * per tensor (`axis` null, one entry in `params`) or per channel along `axis` (one entry per
 * channel). One 256-entry lookup table per channel: a single table read per element.
 * The caller has validated sizes and parameters.
 */
const F32_MAX = 3.4028234663852886e38;

export function dequantizeInt8(bytes: Uint8Array, shape: readonly number[], axis: number | null, params: readonly AffineInt8[]): Float32Array {
  const { outer, channels, inner } = channelLayout(shape, axis);
  const out = new Float32Array(bytes.length);
  const luts = params.map(({ scale, zeroPoint }) => {
    const lut = new Float32Array(256);
    for (let b = 0; b < 256; b++) {
      // clamp to the float32 range: a step past the largest input must not become Infinity
      const v = ((b < 128 ? b : b - 256) - zeroPoint) * scale;
      lut[b] = v > F32_MAX ? F32_MAX : v < -F32_MAX ? -F32_MAX : v;
    }
    return lut;
  });
  let base = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const lut = luts[c]!;
      const end = base + inner;
      for (let i = base; i < end; i++) out[i] = lut[bytes[i]!]!;
      base = end;
    }
  }
  return out;
}
