/**
 * Split verification: head then tail must compute what the unsplit model computes, on seeded
 * inputs, at every cut (or the given ones). Sessions are `exact` (optimisation off, so nothing
 * is fused across the cut; one thread; no prepacking) and the cut tensors are handed over
 * untouched: any difference is the split's, not the codec's or the optimiser's.
 */
import type * as ort from "onnxruntime-node";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { splitModel, type SplitParts } from "../model/splitModel.js";
import { modelInputs } from "./modelInputs.js";
import { createSession } from "./sessionFactory.js";
import { SplitExecutor } from "./splitExecutor.js";

export { seededFloats } from "./syntheticInputs.js";

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

/**
 * Compare outputs with the reference: the largest absolute difference over every element of
 * every named output (infinite when an output is missing or has another size or type), and
 * whether it is within `rtol` x max(1, largest |reference|).
 */
export function compareOutputs(
  ref: Record<string, ort.Tensor>,
  got: Record<string, ort.Tensor>,
  names: readonly string[],
  rtol: number,
): { maxAbsDiff: number; refMaxAbs: number; ok: boolean } {
  let maxAbsDiff = 0;
  let refMaxAbs = 0;
  for (const name of names) {
    const r = ref[name];
    const g = got[name];
    if (r === undefined || g === undefined || r.type !== g.type || g.data.length !== r.data.length) {
      maxAbsDiff = Number.POSITIVE_INFINITY;
      continue;
    }
    const want = r.data as ArrayLike<number | bigint>;
    const have = g.data as ArrayLike<number | bigint>;
    for (let i = 0; i < want.length; i++) {
      const w = Number(want[i]);
      const d = Math.abs(Number(have[i]) - w);
      // NaN where the reference is a number (or the other way) is a difference
      maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? (Number.isNaN(w) && Number.isNaN(Number(have[i])) ? 0 : Number.POSITIVE_INFINITY) : d);
      if (Number.isFinite(w)) refMaxAbs = Math.max(refMaxAbs, Math.abs(w));
    }
  }
  return { maxAbsDiff, refMaxAbs, ok: maxAbsDiff <= rtol * Math.max(1, refMaxAbs) };
}

/**
 * Check that head then tail computes what the unsplit model computes, on seeded inputs
 * (runtime/syntheticInputs.ts), for every cut (or the given ones).
 */
export async function verifySplit(a: ModelAnalysis, opts: VerifyOptions = {}): Promise<SplitCheck[]> {
  return verifyParts(a, (index) => splitModel(a, index), opts);
}

/**
 * verifySplit with the parts of each cut made by `partsOf` instead of splitModel: the same seeded
 * inputs, sessions and tolerance, so a head or tail from elsewhere (read back from disk, or a
 * test's deliberately wrong one) is checked exactly as splitModel's are.
 */
export async function verifyParts(a: ModelAnalysis, partsOf: (index: number) => Pick<SplitParts, "head" | "tail">, opts: VerifyOptions = {}): Promise<SplitCheck[]> {
  const feeds = modelInputs(a, { seed: opts.seed ?? 1, batch: opts.batch ?? 1 });
  const full = await createSession(a.model.bytes, { purpose: "exact", optimization: opts.optimization, label: a.model.path });
  let ref: Record<string, ort.Tensor>;
  try {
    ref = await full.run(feeds);
  } finally {
    await full.release();
  }
  const indices = opts.indices ?? a.cuts.map((c) => c.index);
  const rtol = opts.rtol ?? 1e-5;
  const out: SplitCheck[] = [];
  for (const index of indices) {
    const x = await SplitExecutor.open(a, { cut: index, codec: null, tail: { kind: "local" }, purpose: "exact", optimization: opts.optimization, parts: partsOf(index) });
    try {
      const r = await x.run(feeds);
      out.push({ index, ...compareOutputs(ref, r.outputs, a.graph.outputs, rtol) });
    } finally {
      await x.release();
    }
    opts.onProgress?.(out.length, indices.length);
  }
  return out;
}
