export { type ClsAccuracy, type ClsAccuracyOptions, type ClsRunner, clsAccuracy, clsAccuracyOf, wilsonInterval } from "./clsAccuracy.js";
export { type ClsEvalSet, clsEvalSet, clsResizedWidth, preprocessCls, resizeLinearU8 } from "./clsEvalSet.js";
export { clsInputToRgba, encodePng } from "./png.js";
export { CLS_C, CLS_H, CLS_W } from "./preprocessCls.js";
export { type ClsSample, clsSamples, DEFAULT_COUNT, DEFAULT_SEED, rotate180, type TextLineImage } from "./renderLine.js";
