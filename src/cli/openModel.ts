import { join } from "node:path";
import type { z } from "zod";
import { UsageError } from "../errors.js";
import { analyzeModel, type ModelAnalysis } from "../model/cutPoints.js";
import { defaultStateDir } from "../hw/cpufreqGuard.js";
import { loadModel } from "../model/onnxModel.js";
import { resolveModel, type ResolvedModel } from "../model/resolveModel.js";
import { shapeCache, type ShapeCache } from "../model/shapeCache.js";
import { readInputFile } from "../runtime/inputFile.js";
import { parseInputShapes, parseInputValues, type ModelOptions } from "./modelOptions.js";

const progress = (msg: string): void => {
  process.stderr.write(`${msg}\n`);
};

/** The analysis cache under the state directory; its warnings go to stderr. */
export function cliShapeCache(): ShapeCache {
  return shapeCache({ dir: join(defaultStateDir(), "analysis"), onWarning: (m) => process.stderr.write(`splitwatt: warning: ${m}\n`) });
}

/**
 * The values of --input-file (in order) and --input-values, by input name: each input given once,
 * every name one of the model's inputs.
 */
export function givenInputValues(o: Pick<z.infer<typeof ModelOptions>, "inputValues" | "inputFile">, spec: string, inputNames: readonly string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const from: Record<string, string> = {};
  const add = (values: Record<string, number[]>, flag: string) => {
    for (const [name, v] of Object.entries(values)) {
      if (!inputNames.includes(name)) throw new UsageError(`${flag}: ${spec} has no input named "${name}"; its inputs are ${inputNames.join(", ")}`);
      if (from[name] !== undefined) throw new UsageError(`${flag}: input ${name} is given by ${from[name]} too: give each input once`);
      out[name] = v;
      from[name] = flag;
    }
  };
  for (const f of o.inputFile) add(readInputFile(f), `--input-file ${f}`);
  add(parseInputValues(o.inputValues), "--input-values");
  return out;
}

/** Resolve MODEL, load it, and find its cut points (shapes from the analysis cache when it has them). */
export async function openModel(
  spec: string,
  o: z.infer<typeof ModelOptions>,
  opts: { singleItem?: string | undefined } = {},
): Promise<{ resolved: ResolvedModel; analysis: ModelAnalysis }> {
  const resolved = await resolveModel(spec, { inputSize: o.inputSize, onProgress: progress });
  const model = loadModel(resolved.path);
  const given = parseInputShapes(o.inputShape);
  const g = model.proto.graph;
  const weights = new Set(g?.initializer.map((t) => t.name));
  const inputNames = (g?.input ?? []).map((i) => i.name).filter((n) => !weights.has(n));
  for (const name of Object.keys(given)) {
    if (!inputNames.includes(name)) throw new UsageError(`--input-shape ${name}=...: ${spec} has no input named "${name}"; its inputs are ${inputNames.join(", ")}`);
  }
  const inputValues = givenInputValues(o, spec, inputNames);
  const inputShapes = { ...(resolved.inputShapes ?? {}), ...given };
  const analysis = await analyzeModel(model, { inputShapes, inputValues, singleItem: opts.singleItem, maxTensors: o.maxTensors, shapeCache: cliShapeCache() });
  return { resolved, analysis };
}
