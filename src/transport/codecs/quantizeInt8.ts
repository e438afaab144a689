import { CodecError } from "./codecError.js";

/** Affine int8 parameters: real = (q - zeroPoint) * scale, q in [-128, 127]. */
export interface AffineInt8 {
  scale: number;
  zeroPoint: number;
}

/**
 * Asymmetric affine parameters for values in [min, max]: the range is widened to contain 0 so
 * that 0 is exactly representable (q = zeroPoint), scale = (max - min) / 255, zero point rounded
 * and clamped to [-128, 127]. An all-zero (or empty) range gives scale 1, zero point 0.
 * Every value in [min, max] then dequantizes within scale / 2 of itself.
 */
export function affineInt8(min: number, max: number): AffineInt8 {
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  const scale = (hi - lo) / 255;
  if (!(scale > 0) || !Number.isFinite(scale)) return { scale: 1, zeroPoint: 0 };
  const zeroPoint = Math.min(127, Math.max(-128, Math.round(-128 - lo / scale)));
  return { scale, zeroPoint };
}

export interface QuantizedInt8 {
  q: Int8Array;
  /** one entry per channel along `axis`, or a single entry when per-tensor */
  params: AffineInt8[];
}

/**
 * Quantizes `data` (row-major, `shape`) to int8: per tensor when `axis` is null, else per channel
 * along `axis` (0 <= axis < shape.length). Values must be finite (CodecError otherwise).
 */
export function quantizeInt8(data: Float32Array, shape: readonly number[], axis: number | null): QuantizedInt8 {
  const { outer, channels, inner } = channelLayout(shape, axis);
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  let base = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      let lo = mins[c]!;
      let hi = maxs[c]!;
      const end = base + inner;
      let poison = 0; // x * 0 is 0 for finite x and NaN for NaN or ±Inf, which min/max would miss (NaN)
      for (let i = base; i < end; i++) {
        const x = data[i]!;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
        poison += x * 0;
      }
      if (poison !== 0) checkFinite(data, base, end);
      mins[c] = lo;
      maxs[c] = hi;
      base = end;
    }
  }
  const params: AffineInt8[] = [];
  for (let c = 0; c < channels; c++) params.push(affineInt8(mins[c]!, maxs[c]!));

  const q = new Int8Array(data.length);
  base = 0;
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const { scale, zeroPoint } = params[c]!;
      const inv = 1 / scale;
      // q = round(x / scale) + zeroPoint, computed as trunc(x / scale + zeroPoint + 128.5) - 128:
      // in range the operand is >= 0, so truncation is round-half-up, cheaper than Math.round
      const offset = zeroPoint + 128.5;
      const end = base + inner;
      for (let i = base; i < end; i++) {
        const u = (data[i]! * inv + offset) | 0;
        q[i] = (u < 0 ? 0 : u > 255 ? 255 : u) - 128;
      }
      base = end;
    }
  }
  return { q, params };
}

function checkFinite(data: Float32Array, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const x = data[i]!;
    if (!Number.isFinite(x)) throw new CodecError(`int8 codecs need finite values, element ${i} is ${x}; use raw or fp16 for this tensor`);
  }
}

/** Splits a row-major shape at `axis` into outer x channels x inner (axis null: 1 x 1 x all). */
export function channelLayout(shape: readonly number[], axis: number | null): { outer: number; channels: number; inner: number } {
  const prod = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
  if (axis === null) return { outer: 1, channels: 1, inner: prod(shape) };
  return { outer: prod(shape.slice(0, axis)), channels: shape[axis] ?? 0, inner: prod(shape.slice(axis + 1)) };
}
