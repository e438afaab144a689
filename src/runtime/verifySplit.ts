/**
 * Split verification: head then tail must compute what the unsplit model computes, on seeded
 * inputs, at every cut (or the given ones). Sessions are `exact` (optimisation off, so nothing
 * is fused across the cut; one thread; no prepacking) and the cut tensors are handed over
 * untouched: any difference is the split's, not the codec's or the optimiser's.
 */
import type * as ort from "onnxruntime-node";
import { BadModelError, SplitwattError } from "../errors.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { ortMessage } from "../model/ortMessage.js";
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
  /** batch to check at (default: the batch the analysis measured at, `a.batch`) */
  batch?: number | undefined;
  seed?: number | undefined;
  /** onnxruntime graph optimisation level, the same for the full model and both parts (default "disabled": no fusion across the cut) */
  optimization?: "disabled" | "basic" | "extended" | "all" | undefined;
  /** tolerance relative to max(1, refMaxAbs) (default 1e-5) */
  rtol?: number | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
}

/** A tensor element as a number (int64 elements are bigints, bool are 0/1; strings are not numbers). */
const asNumber = (v: unknown): number => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : typeof v === "boolean" ? Number(v) : Number.NaN);

/** |got - want|: exact for bigints; 0 or infinity for strings; NaN against NaN is agreement, against a number a difference. */
function elementDiff(got: unknown, want: unknown): number {
  if (typeof got === "bigint" && typeof want === "bigint") return Math.abs(Number(got - want));
  if (typeof got === "string" || typeof want === "string") return got === want ? 0 : Number.POSITIVE_INFINITY;
  const d = Math.abs(asNumber(got) - asNumber(want));
  return Number.isNaN(d) ? (Object.is(asNumber(got), asNumber(want)) ? 0 : Number.POSITIVE_INFINITY) : d;
}

/** Run an onnxruntime step; its failure is a BadModelError saying which step, with onnxruntime's whole message on one line. */
async function ortStep<T>(a: ModelAnalysis, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof SplitwattError && !(err instanceof BadModelError)) throw err;
    const cause = err instanceof BadModelError && err.cause !== undefined ? err.cause : err;
    throw new BadModelError(`${what}: ${ortMessage(cause)}`, { path: a.model.path, cause });
  }
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
    const want = r.data as ArrayLike<unknown>;
    const have = g.data as ArrayLike<unknown>;
    for (let i = 0; i < want.length; i++) {
      maxAbsDiff = Math.max(maxAbsDiff, elementDiff(have[i], want[i]));
      const scale = Math.abs(asNumber(want[i]));
      if (Number.isFinite(scale)) refMaxAbs = Math.max(refMaxAbs, scale);
    }
  }
  return { maxAbsDiff, refMaxAbs, ok: maxAbsDiff <= rtol * Math.max(1, refMaxAbs) };
}

/**
 * Check that head then tail computes what the unsplit model computes, on seeded inputs
 * (runtime/syntheticInputs.ts) and the analysis's given values, at the analysis's batch, for
 * every cut (or the given ones).
 */
export async function verifySplit(a: ModelAnalysis, opts: VerifyOptions = {}): Promise<SplitCheck[]> {
  return verifyParts(a, (index) => splitModel(a, index), opts);
}

/**
 * verifySplit with the parts of each cut made by `partsOf` instead of splitModel: the same seeded
 * inputs (and given values), batch, sessions and tolerance, so a head or tail from elsewhere (read
 * back from disk, or a test's deliberately wrong one) is checked exactly as splitModel's are.
 */
export async function verifyParts(a: ModelAnalysis, partsOf: (index: number) => Pick<SplitParts, "head" | "tail">, opts: VerifyOptions = {}): Promise<SplitCheck[]> {
  const feeds = modelInputs(a, { seed: opts.seed ?? 1, batch: opts.batch ?? a.batch });
  const given = Object.entries(feeds)
    .map(([k, v]) => `${k}=${v.dims.join(",")}`)
    .join(" ");
  const inputs = Object.keys(a.inputValues).length === 0 ? "the seeded random inputs" : `the given values of ${Object.keys(a.inputValues).join(", ")} and seeded random inputs`;
  const ref = await ortStep(a, `onnxruntime cannot run ${a.model.path} on ${inputs} (${given}) the check uses`, async () => {
    const full = await createSession(a.model.bytes, { purpose: "exact", optimization: opts.optimization, label: a.model.path });
    try {
      return await full.run(feeds);
    } finally {
      await full.release();
    }
  });
  const indices = opts.indices ?? a.cuts.map((c) => c.index);
  const rtol = opts.rtol ?? 1e-5;
  const out: SplitCheck[] = [];
  for (const index of indices) {
    const outputs = await ortStep(a, `head then tail of cut ${index} does not run in onnxruntime where the full model does`, async () => {
      const x = await SplitExecutor.open(a, { cut: index, codec: null, tail: { kind: "local" }, purpose: "exact", optimization: opts.optimization, parts: partsOf(index) });
      try {
        return (await x.run(feeds)).outputs;
      } finally {
        await x.release();
      }
    });
    out.push({ index, ...compareOutputs(ref, outputs, a.graph.outputs, rtol) });
    opts.onProgress?.(out.length, indices.length);
  }
  return out;
}
