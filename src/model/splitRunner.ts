import * as ort from "onnxruntime-node";
import type { ModelAnalysis } from "./cutPoints.js";
import { serializeModel } from "./onnxModel.js";
import { splitModel } from "./splitModel.js";

export interface SplitRunner {
  /** feed the model's inputs, get its outputs: head on the way, tail after */
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** Sessions for the head and tail of cut `index`, chained in this process. */
export async function splitRunner(a: ModelAnalysis, index: number, options: ort.InferenceSession.SessionOptions = {}): Promise<SplitRunner> {
  const { head, tail } = splitModel(a, index);
  const sessions: ort.InferenceSession[] = [];
  for (const p of [head, tail]) if (p !== null) sessions.push(await ort.InferenceSession.create(serializeModel(p), options));
  return {
    async run(feeds) {
      let values: Record<string, ort.Tensor> = { ...feeds };
      for (const s of sessions) values = { ...values, ...(await s.run(Object.fromEntries(s.inputNames.map((n) => [n, values[n] as ort.Tensor])))) };
      return Object.fromEntries(a.graph.outputs.map((o) => [o, values[o] as ort.Tensor]));
    },
    async release() {
      for (const s of sessions) await s.release();
    },
  };
}
