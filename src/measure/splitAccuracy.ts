/**
 * Accuracy of one (model, cut, codec): head, then the cut tensors through the codec and back,
 * then tail, all in this process on the CPU (accuracy does not depend on frequency or target).
 * Two kinds of evaluation set:
 * - `paddle-cls`: the labelled text-direction set (real labels) for paddle:cls;
 * - `agreement`: top-1 agreement with the unsplit fp32 model on seeded random inputs, for any
 *   model without labels (1.0 means the split and codec change no decision).
 */
import type * as ort from "onnxruntime-node";
import { wilson95 } from "../contracts/measurement.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { clsAccuracyOf, clsEvalSet } from "../model/evalset/index.js";
import { modelInputs } from "../runtime/modelInputs.js";
import { createSession } from "../runtime/sessionFactory.js";
import { SplitExecutor } from "../runtime/splitExecutor.js";
import type { CodecSpec } from "../transport/codecs/codecs.js";

export type EvalSetKind = "paddle-cls" | "agreement";

export interface SplitAccuracy {
  value: number;
  n: number;
  ci95: [number, number];
  evalSet: EvalSetKind;
}

export interface SplitAccuracyOptions {
  evalSet: EvalSetKind;
  /** samples (default 400 for paddle-cls, 32 for agreement) */
  n?: number | undefined;
  /** seed of the agreement inputs (default 1) */
  seed?: number | undefined;
}

function argmax(data: Float32Array, offset: number, classes: number): number {
  let best = 0;
  for (let k = 1; k < classes; k++) if ((data[offset + k] as number) > (data[offset + best] as number)) best = k;
  return best;
}

/** The first output's argmax per sample, for `batch` samples. */
function top1(out: ort.Tensor, batch: number): number[] {
  const data = out.data as Float32Array;
  const classes = data.length / batch;
  return Array.from({ length: batch }, (_, i) => argmax(data, i * classes, classes));
}

export async function splitAccuracy(a: ModelAnalysis, cut: number, codec: CodecSpec, opts: SplitAccuracyOptions): Promise<SplitAccuracy> {
  // the tail sees what the codec's round trip gives back, as a server would
  const x = await SplitExecutor.open(a, { cut, codec, tail: { kind: "local" }, purpose: "evaluate" });
  try {
    const outName = a.graph.outputs[0] as string;
    const runSplit = async (feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> => (await x.run(feeds)).outputs[outName] as ort.Tensor;
    if (opts.evalSet === "paddle-cls") {
      const input = a.graph.inputs[0] as string;
      const set = clsEvalSet({ count: opts.n ?? 400 });
      const r = await clsAccuracyOf((t) => runSplit({ [input]: t }), set);
      return { value: r.accuracy, n: r.n, ci95: r.ci95, evalSet: opts.evalSet };
    }
    const n = opts.n ?? 32;
    const seed = opts.seed ?? 1;
    const ref = await referenceTop1(a, n, seed);
    let agree = 0;
    for (let i = 0; i < n; i++) {
      const got = await runSplit(modelInputs(a, { seed, sample: i }));
      if (ref[i] === top1(got, 1)[0]) agree++;
    }
    return { value: agree / n, n, ci95: wilson95(agree / n, n), evalSet: "agreement" };
  } finally {
    await x.release();
  }
}

/** The unsplit model's top-1 on the agreement set, computed once per model, set size and seed (every cut and codec compares with it). */
const references = new WeakMap<ModelAnalysis, Map<string, Promise<number[]>>>();

function referenceTop1(a: ModelAnalysis, n: number, seed: number): Promise<number[]> {
  let byKey = references.get(a);
  if (byKey === undefined) references.set(a, (byKey = new Map()));
  const key = `${n}|${seed}`;
  let p = byKey.get(key);
  if (p === undefined) {
    p = (async () => {
      const full = await createSession(a.model.bytes, { purpose: "evaluate", label: a.model.path });
      try {
        const outName = a.graph.outputs[0] as string;
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push(top1((await full.run(modelInputs(a, { seed, sample: i })))[outName] as ort.Tensor, 1)[0] as number);
        return out;
      } finally {
        await full.release();
      }
    })();
    byKey.set(key, p);
    p.catch(() => byKey.delete(key));
  }
  return p;
}
