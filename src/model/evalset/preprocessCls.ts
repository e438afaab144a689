/**
 * PaddleOCR's text-direction classifier preprocessing (TextClassifier.resize_norm_img in
 * tools/infer/predict_cls.py, cls_image_shape "3,48,192"): the image as OpenCV reads it (HWC, BGR,
 * uint8) is resized with cv2.resize(INTER_LINEAR) to height 48 and width ceil(48 * w / h) capped
 * at 192, scaled to [0, 1], normalised (x - 0.5) / 0.5, transposed to CHW and zero-padded on the
 * right to width 192 (zero in normalised units, i.e. mid-grey).
 */

export const CLS_C = 3;
export const CLS_H = 48;
export const CLS_W = 192;

/** Width the image is resized to before padding: ceil(48 * w / h), at most 192 (PaddleOCR's rule). */
export function clsResizedWidth(width: number, height: number): number {
  const ratio = width / height; // ratio = w / float(h)
  const w = Math.ceil(CLS_H * ratio);
  return w > CLS_W ? CLS_W : w;
}

/** OpenCV cvRound: round half to even. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

const COEF_SCALE = 1 << 11; // INTER_RESIZE_COEF_SCALE

/**
 * Source index and fixed-point weights of cv::resize INTER_LINEAR along one axis:
 * f = (float)((d + 0.5) * scale - 0.5), s = floor(f), weights cvRound((1 - frac) * 2048) and
 * cvRound(frac * 2048). Along x OpenCV clamps s (and zeroes frac) at both borders; along y it keeps
 * the weights and clamps the two row indices instead (`clampWeights` false).
 */
function linearTaps(src: number, dst: number, clampWeights: boolean): { i0: Int32Array; i1: Int32Array; w0: Int32Array; w1: Int32Array } {
  const scale = 1 / (dst / src); // OpenCV: inv_scale = dsize / ssize; scale = 1 / inv_scale
  const i0 = new Int32Array(dst), i1 = new Int32Array(dst), w0 = new Int32Array(dst), w1 = new Int32Array(dst);
  const clampIdx = (v: number): number => (v < 0 ? 0 : v >= src ? src - 1 : v);
  for (let d = 0; d < dst; d++) {
    let f = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(f);
    f = Math.fround(f - s);
    if (clampWeights) {
      if (s < 0) {
        f = 0;
        s = 0;
      }
      if (s >= src - 1) {
        f = 0;
        s = src - 1;
      }
    }
    i0[d] = clampIdx(s);
    i1[d] = clampIdx(s + 1);
    w0[d] = roundHalfEven(Math.fround(1 - f) * COEF_SCALE);
    w1[d] = roundHalfEven(f * COEF_SCALE);
  }
  return { i0, i1, w0, w1 };
}

/**
 * cv::resize(img, (dw, dh), interpolation=INTER_LINEAR) of an 8-bit image with `cn` interleaved
 * channels, in OpenCV's fixed-point arithmetic (HResizeLinear<uchar, int, short> then
 * VResizeLinear<uchar, int, short>: ((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >> 4)) >> 16) + 2) >> 2).
 * Same size: a copy, as OpenCV does.
 */
export function resizeLinearU8(src: Uint8Array, sw: number, sh: number, cn: number, dw: number, dh: number): Uint8Array {
  if (sw === dw && sh === dh) return src.slice(0, sw * sh * cn);
  const xt = linearTaps(sw, dw, true), yt = linearTaps(sh, dh, false);
  // horizontal pass on every source row, in units of 1/2048
  const rows = new Int32Array(sh * dw * cn);
  for (let y = 0; y < sh; y++) {
    const sRow = y * sw * cn, dRow = y * dw * cn;
    for (let x = 0; x < dw; x++) {
      const s0 = sRow + (xt.i0[x] as number) * cn, s1 = sRow + (xt.i1[x] as number) * cn;
      const a0 = xt.w0[x] as number, a1 = xt.w1[x] as number;
      for (let c = 0; c < cn; c++) rows[dRow + x * cn + c] = (src[s0 + c] as number) * a0 + (src[s1 + c] as number) * a1;
    }
  }
  const out = new Uint8Array(dw * dh * cn);
  for (let y = 0; y < dh; y++) {
    const r0 = (yt.i0[y] as number) * dw * cn, r1 = (yt.i1[y] as number) * dw * cn;
    const b0 = yt.w0[y] as number, b1 = yt.w1[y] as number;
    const o = y * dw * cn;
    for (let i = 0; i < dw * cn; i++) {
      const v = (((b0 * ((rows[r0 + i] as number) >> 4)) >> 16) + ((b1 * ((rows[r1 + i] as number) >> 4)) >> 16) + 2) >> 2;
      out[o + i] = v; // uchar(...) in OpenCV: the value is already within 0..255 for weights summing to 2048
    }
  }
  return out;
}

/**
 * One RGBA image (row-major, 4 bytes a pixel, alpha ignored as cv2.imread ignores it) preprocessed
 * exactly as PaddleOCR's classifier expects: Float32Array of 3 * 48 * 192 in CHW, channels in
 * OpenCV's BGR order.
 */
export function preprocessCls(rgba: Uint8Array, width: number, height: number): Float32Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) throw new RangeError(`bad image size ${width}x${height}`);
  if (rgba.length < width * height * 4) throw new RangeError(`RGBA buffer holds ${rgba.length} bytes, ${width}x${height} needs ${width * height * 4}`);
  const bgr = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    bgr[3 * p] = rgba[4 * p + 2] as number;
    bgr[3 * p + 1] = rgba[4 * p + 1] as number;
    bgr[3 * p + 2] = rgba[4 * p] as number;
  }
  const rw = clsResizedWidth(width, height);
  const resized = resizeLinearU8(bgr, width, height, 3, rw, CLS_H);
  const out = new Float32Array(CLS_C * CLS_H * CLS_W); // padding stays 0
  for (let y = 0; y < CLS_H; y++) {
    for (let x = 0; x < rw; x++) {
      for (let c = 0; c < CLS_C; c++) {
        // astype(float32) / 255, then -= 0.5, /= 0.5, each step in float32 as numpy does
        const v = Math.fround(Math.fround((resized[(y * rw + x) * 3 + c] as number) / 255) - 0.5);
        out[c * CLS_H * CLS_W + y * CLS_W + x] = Math.fround(v / 0.5);
      }
    }
  }
  return out;
}
