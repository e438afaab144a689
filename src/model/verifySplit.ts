import * as ort from "onnxruntime-node";
import { BadModelError, SplitwattError } from "../errors.js";
import { mulberry32 } from "../mulberry32.js";
import type { ModelAnalysis } from "./cutPoints.js";
import { ortMessage } from "./ortMessage.js";
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

/** A tensor element as a number (int64 elements are bigints; strings are not numbers). */
const asNumber = (v: unknown): number => (typeof v === "number" ? v : typeof v === "bigint" ? Number(v) : typeof v === "boolean" ? Number(v) : Number.NaN);

/** |got - want|; 0 or infinity for elements that are not numbers (strings). */
function elementDiff(got: unknown, want: unknown): number {
  if (typeof got === "bigint" && typeof want === "bigint") return Math.abs(Number(got - want));
  if (typeof got === "string" || typeof want === "string") return got === want ? 0 : Number.POSITIVE_INFINITY;
  const d = Math.abs(asNumber(got) - asNumber(want));
  return Number.isNaN(d) ? (Object.is(asNumber(got), asNumber(want)) ? 0 : Number.POSITIVE_INFINITY) : d;
}

/** Run an onnxruntime step; its failure is a BadModelError saying which step, with onnxruntime's whole message. */
async function ortStep<T>(a: ModelAnalysis, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof SplitwattError) throw err;
    throw new BadModelError(`${what}: ${ortMessage(err)}`, { path: a.model.path, cause: err });
  }
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
    // failures come back as errors with onnxruntime's message; its own log lines would only repeat them
    logSeverityLevel: 4,
  };
  const batch = opts.batch ?? 1;
  const shapes = a.inputShapes;
  const feeds: Record<string, ort.Tensor> = {};
  a.graph.inputs.forEach((name, i) => {
    const dims = (shapes[name] as number[]).map((d, j) => (j === 0 ? batch : d));
    feeds[name] = new ort.Tensor("float32", seededFloats(dims.reduce((x, y) => x * y, 1), (opts.seed ?? 1) + i), dims);
  });
  const given = Object.entries(feeds).map(([k, v]) => `${k}=${v.dims.join(",")}`).join(" ");
  const ref = await ortStep(a, `onnxruntime cannot run ${a.model.path} on the seeded random inputs (${given}) the check uses`, async () => {
    const full = await ort.InferenceSession.create(a.model.bytes, options);
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
    const values = await ortStep(a, `head then tail of cut ${index} does not run in onnxruntime where the full model does`, async () => {
      const runner = await splitRunner(a, index, options);
      try {
        return await runner.run(feeds);
      } finally {
        await runner.release();
      }
    });
    let maxAbsDiff = 0;
    let refMaxAbs = 0;
    for (const name of a.graph.outputs) {
      const want = ref[name]?.data as ArrayLike<unknown>;
      const got = values[name]?.data as ArrayLike<unknown> | undefined;
      if (got === undefined || got.length !== want.length) {
        maxAbsDiff = Number.POSITIVE_INFINITY;
        continue;
      }
      for (let i = 0; i < want.length; i++) {
        maxAbsDiff = Math.max(maxAbsDiff, elementDiff(got[i], want[i]));
        const scale = Math.abs(asNumber(want[i]));
        if (Number.isFinite(scale)) refMaxAbs = Math.max(refMaxAbs, scale);
      }
    }
    out.push({ index, maxAbsDiff, refMaxAbs, ok: maxAbsDiff <= rtol * Math.max(1, refMaxAbs) });
    opts.onProgress?.(out.length, indices.length);
  }
  return out;
}
