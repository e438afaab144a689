import type { z } from "zod";
import { analyzeModel, type ModelAnalysis } from "../model/cutPoints.js";
import { loadModel } from "../model/onnxModel.js";
import { resolveModel, type ResolvedModel } from "../model/resolveModel.js";
import { parseInputShapes, type ModelOptions } from "./modelOptions.js";

const progress = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

/** Resolve MODEL, load it, and find its cut points. */
export async function openModel(spec: string, o: z.infer<typeof ModelOptions>): Promise<{ resolved: ResolvedModel; analysis: ModelAnalysis }> {
  const resolved = await resolveModel(spec, { inputSize: o.inputSize, onProgress: progress });
  const model = loadModel(resolved.path);
  const inputShapes = { ...(resolved.inputShapes ?? {}), ...parseInputShapes(o.inputShape) };
  const analysis = await analyzeModel(model, { inputShapes, maxTensors: o.maxTensors });
  return { resolved, analysis };
}
