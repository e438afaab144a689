/** Accuracy of a text-direction classifier on a labelled set, with onnxruntime-node on the CPU. */
import * as ort from "onnxruntime-node";
import { createSession } from "../../runtime/sessionFactory.js";
import type { ClsEvalSet } from "./clsEvalSet.js";

export interface ClsAccuracy {
  accuracy: number;
  n: number;
  correct: number;
  /** Wilson score interval, 95 % */
  ci95: [number, number];
  /** argmax class of each sample */
  predictions: Uint8Array;
}

export interface ClsAccuracyOptions {
  /** samples per run (default 32) */
  batchSize?: number | undefined;
  /** onnxruntime intra-op threads (default: onnxruntime's choice) */
  intraOpNumThreads?: number | undefined;
}

const Z95 = 1.959963984540054;

/** Wilson score interval for `correct` successes out of `n` (z = 1.96 by default). */
export function wilsonInterval(correct: number, n: number, z = Z95): [number, number] {
  if (n <= 0) return [0, 1];
  const p = correct / n, z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  // exact at the ends (p = 0 gives lower 0, p = 1 gives upper 1), where rounding would land a hair off
  return [correct <= 0 ? 0 : Math.max(0, centre - half), correct >= n ? 1 : Math.min(1, centre + half)];
}

/** Runs one batch [b, 3, 48, 192] and returns the class scores [b, classes]. */
export type ClsRunner = (x: ort.Tensor) => Promise<ort.Tensor>;

/**
 * Runs the model at `modelPath` on every sample of `set` in batches, takes the argmax of its first
 * output ([batch, classes]) and compares it with the labels.
 */
export async function clsAccuracy(modelPath: string, set: ClsEvalSet, opts: ClsAccuracyOptions = {}): Promise<ClsAccuracy> {
  const session = await createSession(modelPath, { target: { kind: "cpu", threads: opts.intraOpNumThreads ?? 0 }, label: modelPath });
  try {
    const inputName = session.inputNames[0], outputName = session.outputNames[0];
    if (inputName === undefined || outputName === undefined) throw new Error(`${modelPath} has no input or no output`);
    return await clsAccuracyOf(async (x) => {
      const out = (await session.run({ [inputName]: x }))[outputName];
      if (out === undefined) throw new Error(`${modelPath} produced no ${outputName}`);
      return out;
    }, set, opts);
  } finally {
    await session.release();
  }
}

/** Accuracy of any runner (a whole model, or a head then a tail) on `set`. */
export async function clsAccuracyOf(runner: ClsRunner, set: ClsEvalSet, opts: ClsAccuracyOptions = {}): Promise<ClsAccuracy> {
  const batchSize = opts.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  const [n, c, h, w] = set.shape;
  if (n !== set.n || set.labels.length !== n || set.inputs.length !== n * c * h * w) throw new RangeError("evaluation set arrays do not match its shape");
  const per = c * h * w;
  const predictions = new Uint8Array(n);
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    const b = Math.min(batchSize, n - start);
    const out = await runner(new ort.Tensor("float32", set.inputs.slice(start * per, (start + b) * per), [b, c, h, w]));
    const probs = out.data as Float32Array;
    const classes = probs.length / b;
    if (!Number.isInteger(classes) || classes < 2) throw new Error(`output has shape [${out.dims.join(", ")}], expected [${b}, classes]`);
    for (let i = 0; i < b; i++) {
      let best = 0;
      for (let k = 1; k < classes; k++) if ((probs[i * classes + k] as number) > (probs[i * classes + best] as number)) best = k;
      predictions[start + i] = best;
      if (best === set.labels[start + i]) correct++;
    }
  }
  return { accuracy: n === 0 ? 0 : correct / n, n, correct, ci95: wilsonInterval(correct, n), predictions };
}
