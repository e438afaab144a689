/**
 * The input specs of an analysed model (names, types, concrete shapes at batch 1 and which
 * dimensions follow the batch), for syntheticInputs, and the model's inputs built from them: the
 * values given with the analysis (`inputValues`: --input-values, --input-file) on every path that
 * runs the model (verification, accuracy by agreement, node profiling, the profiler), seeded
 * synthetic values elsewhere.
 */
import type { ModelAnalysis } from "../model/cutPoints.js";
import { syntheticInputs, type InputSpec, type SyntheticOptions } from "./syntheticInputs.js";
import type * as ort from "onnxruntime-node";

export function modelInputSpecs(a: ModelAnalysis): InputSpec[] {
  return a.graph.inputs.map((name) => {
    const s = a.shapes.get(name);
    const shape = a.inputShapes[name] ?? s?.shape ?? [];
    return { name, dtype: s?.dtype ?? "float32", shape, batchDims: s?.batchDims ?? shape.map((_, i) => i === 0) };
  });
}

/** Seeded inputs of the whole model, one item unless `opts.batch` (see syntheticInputs for the rule), with the analysis's given values. */
export function modelInputs(a: ModelAnalysis, opts: SyntheticOptions = {}): Record<string, ort.Tensor> {
  return syntheticInputs(modelInputSpecs(a), { ...opts, values: { ...a.inputValues, ...opts.values } });
}
