import { deflateSync } from "node:zlib";
import fc from "fast-check";
import { mulberry32 } from "../../src/mulberry32.js";
import { describe, expect, it } from "vitest";
import { SplitwattError, UsageError } from "../../src/errors.js";
import {
  CODEC_NAMES,
  COMPRESSIONS,
  CodecError,
  type CodecSpec,
  codecName,
  decodeTensor,
  type EncodedTensor,
  encodeTensor,
  parseCodec,
} from "../../src/transport/codecs/codecs.js";
import { float16BitsToFloat32Bits, fromFloat16 } from "../../src/transport/codecs/fromFloat16.js";
import { affineInt8 } from "../../src/transport/codecs/quantizeInt8.js";
import { float32BitsToFloat16Bits, toFloat16 } from "../../src/transport/codecs/toFloat16.js";
import { zstd, zstdFrameContentSize } from "../../src/transport/codecs/zstd.js";

// ---------------------------------------------------------------------------------------------
// helpers

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number): number => {
  f32[0] = x;
  return u32[0]!;
};
const floatOf = (bits: number): number => {
  u32[0] = bits >>> 0;
  return f32[0]!;
};
/** float32 -> binary16 bits through the scalar converter */
const half = (x: number): number => float32BitsToFloat16Bits(bitsOf(x));
/** binary16 bits -> its value */
const halfValue = (h: number): number => floatOf(float16BitsToFloat32Bits(h));
const isHalfNaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;


/** A ReLU output: per-channel gain and bias on smooth-ish noise, clamped at 0 (about half zeros). */
function reluTensor(shape: number[], seed: number): Float32Array {
  const r = mulberry32(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const channels = shape[1] ?? 1;
  const inner = n / ((shape[0] ?? 1) * channels);
  const out = new Float32Array(n);
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = Math.floor(i / inner) % channels;
    const gain = 0.5 + (c % 7) * 0.4;
    prev = 0.6 * prev + 0.8 * (r() + r() + r() - 1.5);
    const v = gain * prev + ((c % 3) - 1) * 0.05;
    out[i] = v > 0 ? v : 0;
  }
  return out;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error, none was thrown");
}

function expectCodecError(fn: () => unknown, message?: RegExp): CodecError {
  const e = catchError(fn);
  expect(e).toBeInstanceOf(CodecError);
  const ce = e as CodecError;
  expect(ce).toBeInstanceOf(SplitwattError);
  expect(ce.code).toBe("E_CODEC");
  expect(ce.exitCode).toBe(2);
  expect(ce.message).not.toMatch(/\n/);
  if (message) expect(ce.message).toMatch(message);
  return ce;
}

const ALL_SPECS: CodecSpec[] = CODEC_NAMES.flatMap((codec) => COMPRESSIONS.map((compression) => ({ codec, compression })));
const decode = (e: EncodedTensor) => decodeTensor(e.bytes, e.datatype, e.shape, e.parameters);

// ---------------------------------------------------------------------------------------------
// fp16

describe("float32 <-> float16", () => {
  // Reference bit patterns: IEEE 754-2008 binary16 (1 sign, 5 exponent bits biased 15, 10 mantissa
  // bits), the standard examples also tabulated in Wikipedia "Half-precision floating-point format".
  const REFERENCE: Array<[string, number, number]> = [
    ["1.0", 1, 0x3c00],
    ["-2.0", -2, 0xc000],
    ["0.5", 0.5, 0x3800],
    ["largest below 1: 1 - 2^-11", 1 - 2 ** -11, 0x3bff],
    ["smallest above 1: 1 + 2^-10", 1 + 2 ** -10, 0x3c01],
    ["max finite 65504", 65504, 0x7bff],
    ["min normal 2^-14 = 6.1035e-5", 2 ** -14, 0x0400],
    ["max subnormal 1023 * 2^-24 = 6.0976e-5", 1023 * 2 ** -24, 0x03ff],
    ["min subnormal 2^-24 = 5.96e-8", 2 ** -24, 0x0001],
    ["+0", 0, 0x0000],
    ["-0", -0, 0x8000],
    ["+Inf", Infinity, 0x7c00],
    ["-Inf", -Infinity, 0xfc00],
    ["1/3 -> 0.333251953125", 1 / 3, 0x3555],
    ["pi -> 3.140625", Math.PI, 0x4248],
  ];

  it.each(REFERENCE)("%s encodes to the reference bit pattern", (_name, value, bits) => {
    expect(half(value)).toBe(bits);
    const exact = bits !== 0x3555 && bits !== 0x4248;
    if (exact) expect(Object.is(halfValue(bits), value)).toBe(true); // and decodes back to the same value (-0 included)
  });

  it("1/3 and pi decode to the nearest halves", () => {
    expect(halfValue(0x3555)).toBe(0.333251953125);
    expect(halfValue(0x4248)).toBe(3.140625);
  });

  it("NaN stays NaN (quiet, sign kept)", () => {
    expect(half(NaN)).toBe(0x7e00);
    expect(isHalfNaN(float32BitsToFloat16Bits(0xffc00000))).toBe(true);
    expect(float32BitsToFloat16Bits(0xffc00000) & 0x8000).toBe(0x8000);
    // a signalling NaN whose payload sits below the 13 dropped bits must not become Inf
    expect(isHalfNaN(float32BitsToFloat16Bits(0x7f800001))).toBe(true);
    expect(Number.isNaN(halfValue(0x7e00))).toBe(true);
    expect(Number.isNaN(halfValue(0xfc01))).toBe(true);
  });

  it("rounds to nearest, ties to even", () => {
    expect(half(1 + 2 ** -11)).toBe(0x3c00); // tie between 0x3c00 (even) and 0x3c01
    expect(half(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between 0x3c01 and 0x3c02 (even)
    expect(half(Math.fround(1 + 2 ** -11 + 2 ** -23))).toBe(0x3c01); // just past the tie
    expect(half(65519)).toBe(0x7bff);
    expect(half(65520)).toBe(0x7c00); // tie between 65504 (odd) and 65536 (even: Inf)
    expect(half(Math.fround(65519.998))).toBe(0x7bff);
    expect(half(1e6)).toBe(0x7c00);
    expect(half(-1e6)).toBe(0xfc00);
    expect(half(2 ** -25)).toBe(0x0000); // tie between 0 (even) and the min subnormal
    expect(half(floatOf(bitsOf(2 ** -25) + 1))).toBe(0x0001);
    expect(half(3 * 2 ** -25)).toBe(0x0002); // tie between 0x0001 and 0x0002
    expect(half(1023.5 * 2 ** -24)).toBe(0x0400); // tie across the subnormal/normal boundary
    expect(half(1e-10)).toBe(0x0000);
    expect(half(-1e-10)).toBe(0x8000);
    expect(half(2 ** -149)).toBe(0x0000); // the smallest float32 subnormal
  });

  it("every tie between two adjacent finite halves goes to the even one; either side of it to the nearer", () => {
    for (let a = 0; a < 0x7bff; a++) {
      for (const sign of [0, 0x8000]) {
        const lo = halfValue(a | sign);
        const hi = halfValue((a + 1) | sign);
        const mid = (lo + hi) / 2; // 12 significant bits: exact in float32
        expect(Math.fround(mid)).toBe(mid);
        const even = (a & 1) === 0 ? a : a + 1;
        const b = bitsOf(mid);
        if (half(mid) !== (even | sign)) expect.fail(`tie ${mid} -> ${half(mid).toString(16)}, expected ${(even | sign).toString(16)}`);
        // one float32 ulp towards lo / towards hi (|bits| grows with |value| for either sign)
        if (half(floatOf(b - 1)) !== (a | sign)) expect.fail(`below tie ${mid}`);
        if (half(floatOf(b + 1)) !== ((a + 1) | sign)) expect.fail(`above tie ${mid}`);
      }
    }
  });

  it("fp16(fp32(h)) === h for all 65536 bit patterns (NaNs: stay NaN with their sign; quiet NaNs keep their payload)", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const asFloat = fromFloat16(all);
    const back = toFloat16(asFloat);
    for (let h = 0; h < 65536; h++) {
      const b = back[h]!;
      if (isHalfNaN(h)) {
        expect(isHalfNaN(b)).toBe(true);
        expect(b & 0x8000).toBe(h & 0x8000);
        if ((h & 0x200) !== 0 && b !== h) expect.fail(`quiet NaN ${h.toString(16)} -> ${b.toString(16)}`);
      } else if (b !== h) {
        expect.fail(`0x${h.toString(16)} -> ${asFloat[h]} -> 0x${b.toString(16)}`);
      }
    }
  });

  it("decodes every bit pattern to the value the format defines", () => {
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const exp = (h >>> 10) & 0x1f;
      const mant = h & 0x3ff;
      const v = halfValue(h);
      if (exp === 0x1f) {
        if (mant === 0) expect(v).toBe(sign * Infinity);
        else expect(Number.isNaN(v)).toBe(true);
      } else {
        const want = sign * (exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15));
        if (!Object.is(v, want)) expect.fail(`0x${h.toString(16)} -> ${v}, expected ${want}`);
      }
    }
  });

  // independent oracle: nearest of the sorted finite halves, ties to the even bit pattern
  const positiveHalves = Float64Array.from({ length: 0x7c00 }, (_, h) => halfValue(h));
  function referenceHalf(x: number): number {
    const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
    const a = Math.abs(x);
    if (a >= 65520) return sign | 0x7c00;
    let lo = 0;
    let hi = 0x7bff;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (positiveHalves[mid]! <= a) lo = mid;
      else hi = mid - 1;
    }
    if (lo === 0x7bff) return sign | lo;
    const dLo = a - positiveHalves[lo]!;
    const dHi = positiveHalves[lo + 1]! - a;
    return sign | (dLo < dHi ? lo : dHi < dLo ? lo + 1 : (lo & 1) === 0 ? lo : lo + 1);
  }

  it("property: agrees with a nearest-value oracle on random float32 values and bit patterns", () => {
    const check = (x: number) => {
      const got = half(x);
      if (Number.isNaN(x)) return isHalfNaN(got);
      return got === referenceHalf(x);
    };
    fc.assert(fc.property(fc.float(), check), { numRuns: 20_000 });
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), (b) => check(floatOf(b))), { numRuns: 20_000 });
    fc.assert(fc.property(fc.float({ min: -70000, max: 70000, noNaN: true }), check), { numRuns: 20_000 });
    fc.assert(fc.property(fc.float({ min: Math.fround(-1e-4), max: Math.fround(1e-4), noNaN: true }), check), { numRuns: 20_000 });
  });

  it("the array converter matches the scalar one, for subarray views too", () => {
    const r = mulberry32(7);
    const buf = new Float32Array(1001);
    for (let i = 0; i < buf.length; i++) buf[i] = (r() - 0.5) * 2 ** Math.floor(r() * 60 - 30);
    const view = buf.subarray(1);
    const h = toFloat16(view);
    for (let i = 0; i < view.length; i++) expect(h[i]).toBe(half(view[i]!));
  });
});

// ---------------------------------------------------------------------------------------------
// names

describe("codec names", () => {
  it("parseCodec and codecName are inverses over all 12 names", () => {
    for (const spec of ALL_SPECS) {
      const name = codecName(spec);
      expect(parseCodec(name)).toEqual(spec);
    }
    expect(ALL_SPECS.map(codecName)).toContain("int8-channel+deflate");
    expect(parseCodec("int8+zstd")).toEqual({ codec: "int8", compression: "zstd" });
    expect(parseCodec("fp16")).toEqual({ codec: "fp16", compression: "none" });
    expect(codecName(parseCodec("raw+none"))).toBe("raw");
  });

  it.each(["int4", "int8+brotli", "int8+zstd+zstd", "", "+zstd", "INT8", "zstd"])("parseCodec(%j) is a UsageError listing the valid names", (text) => {
    const e = catchError(() => parseCodec(text));
    expect(e).toBeInstanceOf(UsageError);
    expect((e as UsageError).exitCode).toBe(2);
    expect((e as UsageError).message).toMatch(/raw, fp16, int8, int8-channel.*\+deflate or \+zstd/);
  });
});

// ---------------------------------------------------------------------------------------------
// round trips

/** max |a - b| with the per-element tolerance check `ok` */
function checkClose(a: Float32Array, b: Float32Array, ok: (x: number, y: number, i: number) => boolean): void {
  expect(b.length).toBe(a.length);
  for (let i = 0; i < a.length; i++) if (!ok(a[i]!, b[i]!, i)) expect.fail(`element ${i}: ${a[i]} decoded as ${b[i]}`);
}

const FP16_REL = 2 ** -11;
/** int8 bound: half a step, plus the float32 rounding of the dequantized value (relative, or 2^-149 for float32 subnormals) */
const int8Ok = (scale: number) => (x: number, y: number) =>
  Math.abs(x - y) <= (scale / 2) * (1 + 1e-9) + Math.max(Math.abs(x), Math.abs(y)) * 2 ** -23 + 2 ** -149;

function checkRoundTrip(data: Float32Array, shape: number[], spec: CodecSpec): void {
  const enc = encodeTensor(data, shape, spec);
  expect(enc.shape).toEqual(shape);
  expect(enc.parameters.sw_codec).toBe(spec.codec);
  expect(enc.parameters.sw_compression).toBe(spec.compression);
  const dec = decode(enc);
  expect(dec.length).toBe(data.length);
  switch (spec.codec) {
    case "raw":
      expect(enc.datatype).toBe("FP32");
      expect(new Uint32Array(dec.buffer, dec.byteOffset, dec.length)).toEqual(new Uint32Array(data.buffer, data.byteOffset, data.length));
      break;
    case "fp16":
      expect(enc.datatype).toBe("FP16");
      checkClose(data, dec, (x, y) => {
        const a = Math.abs(x);
        if (a >= 2 ** -14 && a <= 65504) return Math.abs(x - y) <= a * FP16_REL;
        if (a < 2 ** -14) return Math.abs(x - y) <= 2 ** -25;
        return y === Math.sign(x) * Infinity || Math.abs(x - y) <= a * FP16_REL;
      });
      break;
    case "int8": {
      expect(enc.datatype).toBe("INT8");
      const scale = enc.parameters.sw_scale as number;
      expect(scale).toBeGreaterThan(0);
      checkClose(data, dec, int8Ok(scale));
      // zero is exact
      data.forEach((x, i) => x === 0 && expect(dec[i]).toBe(0));
      break;
    }
    case "int8-channel": {
      expect(enc.datatype).toBe("INT8");
      const axis = enc.parameters.sw_axis as number;
      const scales = JSON.parse(enc.parameters.sw_scales as string) as number[];
      expect(scales.length).toBe(shape[axis]);
      const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
      const channels = shape[axis]!;
      checkClose(data, dec, (x, y, i) => int8Ok(scales[Math.floor(i / inner) % channels]!)(x, y) && (x !== 0 || y === 0));
      break;
    }
  }
}

describe("round trips", () => {
  const shape = [1, 8, 6, 6];
  const data = reluTensor(shape, 1);
  data[3] = -0.75; // a negative value too (not pure ReLU), to exercise the zero point

  it.each(ALL_SPECS.map((s) => [codecName(s), s] as const))("%s", (_name, spec) => {
    checkRoundTrip(data, shape, spec);
    if (spec.compression !== "none") {
      const bytesPerElement = { raw: 4, fp16: 2, int8: 1, "int8-channel": 1 }[spec.codec];
      expect(encodeTensor(data, shape, spec).parameters.sw_uncompressed_bytes).toBe(data.length * bytesPerElement);
    }
  });

  it("raw keeps NaN payloads, infinities and -0 bit-exactly; fp16 keeps Inf and NaN", () => {
    const special = new Float32Array(6);
    new Uint32Array(special.buffer).set([0x7fc00123, 0xff800001, 0x80000000, 0x7f800000, 0xff800000, 0x00000001]);
    for (const compression of COMPRESSIONS) checkRoundTrip(special, [2, 3], { codec: "raw", compression });
    const h = decode(encodeTensor(new Float32Array([Infinity, -Infinity, NaN, -0, 1e5]), [5], { codec: "fp16", compression: "zstd" }));
    expect(Array.from(h.slice(0, 2))).toEqual([Infinity, -Infinity]);
    expect(Number.isNaN(h[2])).toBe(true);
    expect(Object.is(h[3], -0)).toBe(true);
    expect(h[4]).toBe(Infinity); // beyond 65504: IEEE overflow
  });

  it("int8 codecs refuse non-finite input with a CodecError", () => {
    expectCodecError(() => encodeTensor(new Float32Array([1, NaN]), [2], { codec: "int8", compression: "none" }), /finite.*element 1/);
    expectCodecError(() => encodeTensor(new Float32Array([1, 2, Infinity, 0]), [1, 2, 2], { codec: "int8-channel", compression: "none" }), /finite/);
  });

  it("int8: zero is representable, constant and all-zero tensors are exact", () => {
    expect(affineInt8(0, 0)).toEqual({ scale: 1, zeroPoint: 0 });
    const p = affineInt8(-1, 3);
    expect(p.scale).toBe(4 / 255);
    expect(p.zeroPoint).toBe(Math.round(-128 + 255 / 4)); // q of 0.0: dequantizes to exactly 0
    expect(affineInt8(2, 3).zeroPoint).toBe(-128); // the range is widened to include 0
    expect(affineInt8(-3, -2).zeroPoint).toBe(127);
    for (const v of [0, 5, -5]) {
      const t = new Float32Array(10).fill(v);
      const d = decode(encodeTensor(t, [10], { codec: "int8", compression: "none" }));
      d.forEach((y) => expect(Math.abs(y - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -22));
    }
  });

  it("int8-channel along axis 0, the last axis, and a negative axis; the default axis is 1", () => {
    const s = [3, 4, 5];
    const t = reluTensor(s, 3).map((x, i) => x * (1 + (i % 4) * 10) - (i % 3));
    for (const channelAxis of [0, 2, -1, -3]) checkRoundTrip(t, s, { codec: "int8-channel", compression: "none", channelAxis });
    expect(encodeTensor(t, s, { codec: "int8-channel", compression: "none" }).parameters.sw_axis).toBe(1);
    expect(encodeTensor(t, s, { codec: "int8-channel", compression: "none", channelAxis: -1 }).parameters.sw_axis).toBe(2);
    expectCodecError(() => encodeTensor(t, s, { codec: "int8-channel", compression: "none", channelAxis: 3 }), /axis 3/);
    expectCodecError(() => encodeTensor(new Float32Array(4), [4], { codec: "int8-channel", compression: "none" }), /axis 1.*rank-1/);
  });

  it("per-channel scales follow each channel's own range (tighter than per-tensor)", () => {
    const s = [1, 2, 4];
    const t = new Float32Array([0, 0.1, 0.2, 0.3, 0, 100, 200, 300]);
    const enc = encodeTensor(t, s, { codec: "int8-channel", compression: "none" });
    const scales = JSON.parse(enc.parameters.sw_scales as string) as number[];
    expect(scales[0]).toBe(Math.fround(0.3) / 255);
    expect(scales[1]).toBe(300 / 255);
    const dec = decode(enc);
    expect(Math.abs(dec[1]! - 0.1)).toBeLessThanOrEqual(0.3 / 255 / 2 + 1e-9);
  });

  it("empty tensors and scalars", () => {
    for (const spec of ALL_SPECS) {
      if (spec.codec !== "int8-channel") {
        checkRoundTrip(new Float32Array(0), [0], spec);
        checkRoundTrip(new Float32Array([2.5]), [], spec);
      }
      checkRoundTrip(new Float32Array(0), [2, 0, 3], spec);
    }
  });

  it("input is not mutated, output does not alias it, subarray inputs and unaligned payloads work", () => {
    const backing = new Float32Array(1 + 2 * 3 * 4);
    backing.set(reluTensor([2, 3, 4], 9), 1);
    const view = backing.subarray(1);
    const copy = backing.slice();
    for (const spec of ALL_SPECS) {
      const enc = encodeTensor(view, [2, 3, 4], spec);
      expect(backing).toEqual(copy);
      expect(enc.bytes.buffer).not.toBe(backing.buffer);
      const unaligned = new Uint8Array(enc.bytes.length + 1);
      unaligned.set(enc.bytes, 1);
      const a = decode(enc);
      const b = decodeTensor(unaligned.subarray(1), enc.datatype, enc.shape, enc.parameters);
      expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
    }
  });

  it("parameters survive JSON (the OIP request body) and numeric strings", () => {
    for (const spec of ALL_SPECS) {
      const t = reluTensor([1, 3, 4, 4], 5);
      const enc = encodeTensor(t, [1, 3, 4, 4], spec);
      const params = JSON.parse(JSON.stringify(enc.parameters)) as Record<string, unknown>;
      expect(decodeTensor(enc.bytes, enc.datatype, enc.shape, params)).toEqual(decode(enc));
      const stringly = Object.fromEntries(Object.entries(enc.parameters).map(([k, v]) => [k, String(v)]));
      expect(decodeTensor(enc.bytes, enc.datatype, enc.shape, stringly)).toEqual(decode(enc));
    }
  });

  it("a plain OIP FP32 tensor without sw_ parameters decodes as raw", () => {
    const t = new Float32Array([1, 2, 3]);
    expect(decodeTensor(new Uint8Array(t.buffer), "FP32", [3], {})).toEqual(t);
  });

  const shapeArb = fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 });
  const tensorArb = (min: number, max: number) =>
    shapeArb.chain((shape) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return fc.tuple(fc.constant(shape), fc.float32Array({ minLength: n, maxLength: n, min: Math.fround(min), max: Math.fround(max), noNaN: true }));
    });
  const specArb = fc.constantFrom(...ALL_SPECS);

  it("property: every codec x compression on random shapes and values (fp16 range)", () => {
    fc.assert(
      fc.property(tensorArb(-65504, 65504), specArb, fc.integer({ min: -4, max: 3 }), ([shape, data], spec, axis) => {
        const channelAxis = ((axis % shape.length) + shape.length) % shape.length;
        checkRoundTrip(data, shape, { ...spec, channelAxis });
      }),
      { numRuns: 400 },
    );
  });

  it("property: raw and int8 codecs on the whole finite float32 range", () => {
    const specs = ALL_SPECS.filter((s) => s.codec !== "fp16");
    fc.assert(
      fc.property(tensorArb(-3.4e38, 3.4e38), fc.constantFrom(...specs), ([shape, data], spec) => {
        checkRoundTrip(data, shape, { ...spec, channelAxis: shape.length - 1 });
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// bad input

describe("bad input is a one-line CodecError, never a crash", () => {
  const shape = [1, 4, 8, 8];
  const data = reluTensor(shape, 2);
  const enc = (codec: CodecSpec["codec"], compression: CodecSpec["compression"] = "none") => encodeTensor(data, shape, { codec, compression });

  it("truncated or padded payloads", () => {
    for (const spec of ALL_SPECS) {
      const e = encodeTensor(data, shape, spec);
      expectCodecError(() => decodeTensor(e.bytes.subarray(0, e.bytes.length - 1), e.datatype, e.shape, e.parameters));
      expectCodecError(() => decodeTensor(e.bytes.subarray(0, Math.floor(e.bytes.length / 2)), e.datatype, e.shape, e.parameters));
      expectCodecError(() => decodeTensor(new Uint8Array(0), e.datatype, e.shape, e.parameters));
      const padded = new Uint8Array(e.bytes.length + 3);
      padded.set(e.bytes);
      expectCodecError(() => decodeTensor(padded, e.datatype, e.shape, e.parameters));
    }
  });

  it("wrong or invalid shapes", () => {
    const e = enc("raw");
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, [1, 4, 8, 7], e.parameters), /payload is 1024 bytes.*needs 896/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, [1, -4, 8, 8], e.parameters), /not a non-negative integer/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, [1, 4.5, 8, 8], e.parameters), /not a non-negative integer/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, ["1", 4, 8, 8] as unknown as number[], e.parameters), /not a non-negative integer/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, "1,4,8,8" as unknown as number[], e.parameters), /shape must be an array/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, [2 ** 20, 2 ** 20, 2 ** 20], e.parameters), /more than/);
    const c = enc("int8-channel", "zstd");
    expectCodecError(() => decodeTensor(c.bytes, c.datatype, [4, 8, 8], c.parameters), /sw_scales has 4 entries, the channel axis has 8/);
    expectCodecError(() => decodeTensor(c.bytes, c.datatype, [1, 4, 8, 9], c.parameters), /sw_uncompressed_bytes is 256 but shape \[1,4,8,9\] as INT8 needs 288/);
    expectCodecError(() => encodeTensor(data, [1, 4, 8], { codec: "raw", compression: "none" }), /256 elements but shape \[1,4,8\] implies 32/);
  });

  it("missing, NaN, negative, zero, infinite scales; bad zero points", () => {
    const e = enc("int8");
    const { sw_scale: _s, ...noScale } = e.parameters;
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, noScale), /missing parameter sw_scale/);
    for (const bad of [NaN, "NaN", -0.1, 0, Infinity, "abc", "", true, null, [1]]) {
      expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_scale: bad }), /sw_scale/);
    }
    const { sw_zero_point: _z, ...noZero } = e.parameters;
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, noZero), /missing parameter sw_zero_point/);
    for (const bad of [128, -129, 1.5, NaN, "x"]) {
      expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_zero_point: bad }), /sw_zero_point/);
    }
  });

  it("per-channel parameters: missing, wrong length, not JSON, bad entries, bad axis", () => {
    const e = enc("int8-channel");
    const p = e.parameters;
    const without = (k: string) => Object.fromEntries(Object.entries(p).filter(([key]) => key !== k));
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, without("sw_scales")), /missing parameter sw_scales/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, without("sw_zero_points")), /missing parameter sw_zero_points/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, without("sw_axis")), /missing parameter sw_axis/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: "[0.1,0.2,0.3]" }), /3 entries.*has 4/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: "[0.1,0.2,0.3," }), /not a JSON array/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: '{"a":1}' }), /must be a JSON array/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: "[0.1,-0.2,0.3,0.4]" }), /sw_scales\[1\] must be a finite number > 0/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: "[0.1,null,0.3,0.4]" }), /sw_scales\[1\]/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_zero_points: "[0,0,300,0]" }), /sw_zero_points\[2\]/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_scales: `[${"1,".repeat(100_000)}1]` }), /too long/);
    for (const bad of [4, -1, 1.5, "one"]) expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...p, sw_axis: bad }), /sw_axis/);
  });

  it("unknown codec or compression, wrong datatype, inconsistent sw_uncompressed_bytes", () => {
    const e = enc("int8", "deflate");
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_codec: "int4" }), /unknown sw_codec "int4".*raw, fp16, int8, int8-channel/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_codec: 8 }), /unknown sw_codec 8/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_compression: "brotli" }), /unknown sw_compression "brotli".*none, deflate, zstd/);
    expectCodecError(() => decodeTensor(e.bytes, "FP32", e.shape, e.parameters), /datatype "FP32" does not match sw_codec int8/);
    expectCodecError(() => decodeTensor(e.bytes, "UINT8", e.shape, e.parameters), /datatype/);
    const { sw_uncompressed_bytes: _u, ...noSize } = e.parameters;
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, noSize), /missing parameter sw_uncompressed_bytes/);
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_uncompressed_bytes: 1 << 30 }), /sw_uncompressed_bytes is 1073741824/);
    // compressed bytes under the wrong compression
    expectCodecError(() => decodeTensor(e.bytes, e.datatype, e.shape, { ...e.parameters, sw_compression: "zstd" }), /zstd/);
    const z = enc("int8", "zstd");
    expectCodecError(() => decodeTensor(z.bytes, z.datatype, z.shape, { ...z.parameters, sw_compression: "deflate" }), /deflate payload is corrupt/);
    expectCodecError(() => decodeTensor(z.bytes, z.datatype, z.shape, { ...z.parameters, sw_compression: "none" }), /payload is \d+ bytes/);
    expectCodecError(() => encodeTensor(data, shape, { codec: "int4" as "int8", compression: "none" }), /unknown codec "int4"/);
    expectCodecError(() => encodeTensor(data, shape, { codec: "int8", compression: "lz4" as "zstd" }), /unknown compression "lz4"/);
    expectCodecError(() => decodeTensor("abc" as unknown as Uint8Array, "FP32", [3], {}), /bytes/);
    expectCodecError(() => decodeTensor(new Uint8Array(4), "FP32", [1], null as unknown as Record<string, unknown>), /parameters/);
  });

  it("a deflate bomb: a small payload that inflates far past the shape's size stops at that size", () => {
    const shapeB = [1, 4, 32, 32]; // 16 KiB as FP32
    const bomb = deflateSync(new Uint8Array(16 << 20), { level: 9 }); // 16 MiB of zeros in ~16 KB: under the compressed-size limit
    expect(bomb.length).toBeLessThan(16384);
    const params = { sw_codec: "raw", sw_compression: "deflate", sw_uncompressed_bytes: 16384 };
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    expectCodecError(() => decodeTensor(bomb, "FP32", shapeB, params), /inflates to more than the 16384 bytes/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(8 << 20);
    // a larger bomb is refused on its compressed size alone
    const big = deflateSync(new Uint8Array(64 << 20), { level: 9 });
    expectCodecError(() => decodeTensor(big, "FP32", shapeB, params), /more than the \d+ a 16384-byte tensor can compress to/);
    // trailing garbage after a valid stream
    const ok = encodeTensor(new Float32Array(4096), shapeB, { codec: "raw", compression: "deflate" });
    const trailing = new Uint8Array(ok.bytes.length + 2);
    trailing.set(ok.bytes);
    expectCodecError(() => decodeTensor(trailing, ok.datatype, ok.shape, ok.parameters), /trailing bytes|corrupt/);
  });

  it("a zstd bomb: the frame's declared size must be the shape's size before anything is decoded", () => {
    const shapeB = [1, 4, 32, 32];
    const params = { sw_codec: "raw", sw_compression: "zstd", sw_uncompressed_bytes: 16384 };
    const bomb = zstd.compress(new Uint8Array(8 << 20));
    expect(bomb.length).toBeLessThan(1024);
    expect(zstdFrameContentSize(bomb)).toBe(8 << 20);
    expectCodecError(() => decodeTensor(bomb, "FP32", shapeB, params), /declares 8388608 decompressed bytes, the tensor needs 16384/);
    // a frame of the right size followed by a second (bomb) frame
    const first = zstd.compress(new Uint8Array(16384));
    const two = new Uint8Array(first.length + bomb.length);
    two.set(first);
    two.set(bomb, first.length);
    expectCodecError(() => decodeTensor(two, "FP32", shapeB, params), /zstd payload is corrupt/);
    // no declared size / not a zstd frame / reserved bit
    expectCodecError(() => decodeTensor(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58, 0, 0]), "FP32", shapeB, params), /does not declare/);
    expectCodecError(() => decodeTensor(new Uint8Array(64), "FP32", shapeB, params), /bad magic/);
    const reserved = first.slice();
    reserved[4] = reserved[4]! | 0x08;
    expectCodecError(() => decodeTensor(reserved, "FP32", shapeB, params), /reserved/);
  });

  it("property: random bytes, shapes and parameters give a Float32Array of the right length or a CodecError", () => {
    const valueArb = fc.oneof(fc.constantFrom(...CODEC_NAMES, ...COMPRESSIONS, "int4", "[1,2]", "[0.5,0.5,0.5,0.5]", "[0,0,0,0]"), fc.integer({ min: -300, max: 300 }), fc.double(), fc.boolean(), fc.string());
    const paramsArb = fc.record(
      {
        sw_codec: fc.constantFrom(...CODEC_NAMES, "int4"),
        sw_compression: fc.constantFrom(...COMPRESSIONS, "lz4"),
        sw_scale: valueArb,
        sw_zero_point: valueArb,
        sw_scales: valueArb,
        sw_zero_points: valueArb,
        sw_axis: valueArb,
        sw_uncompressed_bytes: valueArb,
      },
      { requiredKeys: ["sw_codec"] },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom("FP32", "FP16", "INT8", "BYTES"),
        fc.array(fc.integer({ min: -1, max: 9 }), { maxLength: 4 }),
        paramsArb,
        (bytes, datatype, shapeR, params) => {
          try {
            const out = decodeTensor(bytes, datatype, shapeR, params);
            expect(out).toBeInstanceOf(Float32Array);
            expect(out.length).toBe(shapeR.reduce((a, b) => a * b, 1));
          } catch (e) {
            if (!(e instanceof CodecError)) throw e;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("property: corrupting one byte of a compressed payload never crashes", () => {
    const specs = ALL_SPECS.filter((s) => s.compression !== "none");
    const encoded = specs.map((s) => encodeTensor(data, shape, s));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: encoded.length - 1 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (k, at, x) => {
        const e = encoded[k]!;
        const b = e.bytes.slice();
        const i = at % b.length;
        b[i] = b[i]! ^ x;
        try {
          expect(decodeTensor(b, e.datatype, e.shape, e.parameters).length).toBe(data.length);
        } catch (err) {
          if (!(err instanceof CodecError)) throw err;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// compression

describe("compression", () => {
  it("a ReLU-like tensor with ~50% zeros compresses with deflate and zstd under every codec", () => {
    const shape = [1, 16, 28, 28];
    const t = reluTensor(shape, 11);
    const zeros = t.filter((x) => x === 0).length / t.length;
    expect(zeros).toBeGreaterThan(0.4);
    expect(zeros).toBeLessThan(0.6);
    for (const codec of CODEC_NAMES) {
      const plain = encodeTensor(t, shape, { codec, compression: "none" }).bytes.length;
      for (const compression of ["deflate", "zstd"] as const) {
        const enc = encodeTensor(t, shape, { codec, compression });
        expect(enc.parameters.sw_uncompressed_bytes).toBe(plain);
        const ratio = plain / enc.bytes.length;
        // zeros are half the elements: anything below 1.3 means the compressor is not doing its job
        if (ratio < 1.3) expect.fail(`${codec}+${compression}: ratio ${ratio.toFixed(2)}`);
      }
    }
    // and the fp32 -> wire ratio orders as expected
    const wire = (s: string) => encodeTensor(t, shape, parseCodec(s)).bytes.length;
    expect(wire("int8+zstd")).toBeLessThan(wire("fp16+zstd"));
    expect(wire("fp16+zstd")).toBeLessThan(wire("raw+zstd"));
  });

  it("incompressible data stays within the compressed-size limit the decoder enforces", () => {
    const r = mulberry32(3);
    const t = new Float32Array(4096);
    new Uint32Array(t.buffer).forEach((_, i, a) => {
      a[i] = (r() * 2 ** 32) >>> 0;
    });
    for (const compression of ["deflate", "zstd"] as const) {
      const e = encodeTensor(t, [4096], { codec: "raw", compression });
      expect(new Uint32Array(decode(e).buffer)).toEqual(new Uint32Array(t.buffer));
    }
  });
});
