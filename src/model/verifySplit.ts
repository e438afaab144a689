import * as ort from "onnxruntime-node";
import { mulberry32 } from "../mulberry32.js";
import type { ModelAnalysis } from "./cutPoints.js";
import { splitRunner } from "./splitRunner.js";

export interface SplitCheck {
  index: number;
  /** largest |head->tail - full| over every output element */
  maxAbsDiff: number;
  /** largest |full| (the scale the tolerance is relative to) */
  refMaxAbs: number;
  ok: boolean;
}

export interface VerifyOptions {
  /** cut indices to check (default: all) */
  indices?: number[] | undefined;
  batch?: number | undefined;
  seed?: number | undefined;
  /** onnxruntime graph optimisation level, the same for the full model and both parts (default "disabled": no fusion across the cut) */
  optimization?: "disabled" | "basic" | "extended" | "all" | undefined;
  /** tolerance relative to max(1, refMaxAbs) (default 1e-5) */
  rtol?: number | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** Seeded uniform floats in [-1, 1) (mulberry32). */
export function seededFloats(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() * 2 - 1;
  return out;
}

/**
 * Check that head then tail computes what the unsplit model computes, on seeded random
 * inputs, for every cut (or the given ones).
 */
export async function verifySplit(a: ModelAnalysis, opts: VerifyOptions = {}): Promise<SplitCheck[]> {
  // Prepacking weights costs ~20x the session's load time and is the same for all three sessions.
  const options: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: opts.optimization ?? "disabled",
    intraOpNumThreads: 1,
    extra: { session: { disable_prepacking: "1" } },
  };
  const batch = opts.batch ?? 1;
  const shapes = a.inputShapes;
  const feeds: Record<string, ort.Tensor> = {};
  a.graph.inputs.forEach((name, i) => {
    const dims = (shapes[name] as number[]).map((d, j) => (j === 0 ? batch : d));
    feeds[name] = new ort.Tensor("float32", seededFloats(dims.reduce((x, y) => x * y, 1), (opts.seed ?? 1) + i), dims);
  });
  const full = await ort.InferenceSession.create(a.model.bytes, options);
  const ref = await full.run(feeds);
  await full.release();
  const indices = opts.indices ?? a.cuts.map((c) => c.index);
  const rtol = opts.rtol ?? 1e-5;
  const out: SplitCheck[] = [];
  for (const index of indices) {
    const runner = await splitRunner(a, index, options);
    const values = await runner.run(feeds);
    await runner.release();
    let maxAbsDiff = 0;
    let refMaxAbs = 0;
    for (const name of a.graph.outputs) {
      const want = ref[name]?.data as Float32Array;
      const got = values[name]?.data as Float32Array | undefined;
      if (got === undefined || got.length !== want.length) {
        maxAbsDiff = Number.POSITIVE_INFINITY;
        continue;
      }
      for (let i = 0; i < want.length; i++) {
        maxAbsDiff = Math.max(maxAbsDiff, Math.abs((got[i] as number) - (want[i] as number)));
        refMaxAbs = Math.max(refMaxAbs, Math.abs(want[i] as number));
      }
    }
    out.push({ index, maxAbsDiff, refMaxAbs, ok: maxAbsDiff <= rtol * Math.max(1, refMaxAbs) });
    opts.onProgress?.(out.length, indices.length);
  }
  return out;
}
