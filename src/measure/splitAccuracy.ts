/**
 * Accuracy of one (model, cut, codec): head, then the cut tensors through the codec and back,
 * then tail, all in this process on the CPU (accuracy does not depend on frequency or target).
 * Two kinds of evaluation set:
 * - `paddle-cls`: the labelled text-direction set (real labels) for paddle:cls;
 * - `agreement`: top-1 agreement with the unsplit fp32 model on seeded random inputs, for any
 *   model without labels (1.0 means the split and codec change no decision).
 */
import * as ort from "onnxruntime-node";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { clsEvalSet, clsAccuracyOf } from "../model/evalset/index.js";
import { serializeModel } from "../model/onnxModel.js";
import { splitModel } from "../model/splitModel.js";
import { seededFloats } from "../model/verifySplit.js";
import { decodeTensor, encodeTensor, type CodecSpec } from "../transport/codecs/codecs.js";
import { wilson95 } from "./measurement.js";

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

const SESSION: ort.InferenceSession.SessionOptions = { executionProviders: ["cpu"], extra: { session: { disable_prepacking: "1" } } };

/** A tensor through the codec and back (what the tail server sees). */
function throughCodec(t: ort.Tensor, codec: CodecSpec): ort.Tensor {
  if (t.type !== "float32") return t;
  const e = encodeTensor(t.data as Float32Array, [...t.dims], codec);
  return new ort.Tensor("float32", decodeTensor(e.bytes, e.datatype, e.shape, e.parameters), t.dims);
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
  const { head, tail } = splitModel(a, cut);
  const sessions: ort.InferenceSession[] = [];
  try {
    const headS = head === null ? null : await ort.InferenceSession.create(serializeModel(head), SESSION);
    if (headS !== null) sessions.push(headS);
    const tailS = tail === null ? null : await ort.InferenceSession.create(serializeModel(tail), SESSION);
    if (tailS !== null) sessions.push(tailS);
    const outName = a.graph.outputs[0] as string;
    const runSplit = async (feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> => {
      let values: Record<string, ort.Tensor> = { ...feeds };
      if (headS !== null) values = { ...values, ...(await headS.run(Object.fromEntries(headS.inputNames.map((n) => [n, values[n] as ort.Tensor])))) };
      if (tailS === null) return values[outName] as ort.Tensor;
      const tailFeeds = Object.fromEntries(tailS.inputNames.map((n) => [n, throughCodec(values[n] as ort.Tensor, codec)]));
      return (await tailS.run(tailFeeds))[outName] as ort.Tensor;
    };
    if (opts.evalSet === "paddle-cls") {
      const input = a.graph.inputs[0] as string;
      const set = clsEvalSet({ count: opts.n ?? 400 });
      const r = await clsAccuracyOf((x) => runSplit({ [input]: x }), set);
      return { value: r.accuracy, n: r.n, ci95: r.ci95, evalSet: opts.evalSet };
    }
    const n = opts.n ?? 32;
    const seed = opts.seed ?? 1;
    const ref = await referenceTop1(a, n, seed);
    let agree = 0;
    for (let i = 0; i < n; i++) {
      const got = await runSplit(agreementFeeds(a, seed, i));
      if (ref[i] === top1(got, 1)[0]) agree++;
    }
    return { value: agree / n, n, ci95: wilson95(agree / n, n), evalSet: "agreement" };
  } finally {
    for (const s of sessions) await s.release();
  }
}

/** Input `i` of the agreement set (seeded, so the reference and every split see the same inputs). */
function agreementFeeds(a: ModelAnalysis, seed: number, i: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  a.graph.inputs.forEach((name, j) => {
    const dims = a.inputShapes[name] as number[];
    feeds[name] = new ort.Tensor("float32", seededFloats(dims.reduce((x, y) => x * y, 1), seed * 100_003 + i * 31 + j), dims);
  });
  return feeds;
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
      const full = await ort.InferenceSession.create(a.model.bytes, SESSION);
      try {
        const outName = a.graph.outputs[0] as string;
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push(top1((await full.run(agreementFeeds(a, seed, i)))[outName] as ort.Tensor, 1)[0] as number);
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
