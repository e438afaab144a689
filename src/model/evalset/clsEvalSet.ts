/**
 * A labelled evaluation set for PaddleOCR's text-direction classifier
 * (ch_ppocr_mobile_v2.0_cls_infer.onnx: class 0 = upright "0", class 1 = turned 180 degrees "180"):
 * synthetic English text lines rendered with Roboto, generated deterministically from a seed.
 */
import { CLS_C, CLS_H, CLS_W, preprocessCls } from "./preprocessCls.js";
import { clsSamples } from "./renderLine.js";

export { clsResizedWidth, preprocessCls, resizeLinearU8 } from "./preprocessCls.js";

export interface ClsEvalSet {
  /** n * 3 * 48 * 192 floats, NCHW, preprocessed as PaddleOCR does */
  inputs: Float32Array;
  /** 0 = upright, 1 = rotated by 180 degrees */
  labels: Uint8Array;
  n: number;
  shape: [number, number, number, number];
}

/** `count` (default 400) samples, half upright and half rotated, from `seed` (default 1). */
export function clsEvalSet(opts?: { count?: number; seed?: number }): ClsEvalSet {
  const samples = clsSamples(opts);
  const n = samples.length;
  const per = CLS_C * CLS_H * CLS_W;
  const inputs = new Float32Array(n * per);
  const labels = new Uint8Array(n);
  samples.forEach((s, i) => {
    inputs.set(preprocessCls(s.rgba, s.width, s.height), i * per);
    labels[i] = s.label;
  });
  return { inputs, labels, n, shape: [n, CLS_C, CLS_H, CLS_W] };
}
