/**
 * The session factory: the only place in splitwatt that creates an onnxruntime session.
 *
 * Options come from one execution target (executionTarget.ts) and one purpose:
 * - `inference`: the target's providers and threads, onnxruntime's default optimisation (heads,
 *   tails, the tail server, the daemon);
 * - `exact`: optimisation off (nothing fused across a cut), one thread, no weight prepacking:
 *   split verification, where head then tail must equal the whole model bit for bit;
 * - `evaluate`: the target's options without prepacking (accuracy runs: many short-lived
 *   sessions, where prepacking costs ~20x the load time and buys nothing);
 * - `probe`: optimisation off, one thread (the shape probe runs the model once);
 * - `profile`: the target's options, optimisation off so every node keeps its name, profiling
 *   on (per-node timings).
 *
 * onnxruntime's own log goes to stderr in colour; splitwatt sets it to errors only unless
 * SPLITWATT_LOG asks for more (`warning`, `info`, `debug`/`verbose`), so a user never sees
 * warnings such as "Removing initializer ..." about a model they did not write.
 */
import * as ort from "onnxruntime-node";
import { env, type OrtLogLevel } from "../env.js";
import { BadModelError } from "../errors.js";
import { executionTargetName, targetSessionOptions, type ExecutionTarget } from "./executionTarget.js";
import { ortMessage } from "../model/ortMessage.js";

export type SessionPurpose = "inference" | "exact" | "evaluate" | "probe" | "profile";

export interface SessionRequest {
  /** where it runs (default cpu) */
  target?: ExecutionTarget | undefined;
  /** what the session is for (default inference) */
  purpose?: SessionPurpose | undefined;
  /** overrides the purpose's graph optimisation level (verification at other levels) */
  optimization?: "disabled" | "basic" | "extended" | "all" | undefined;
  /** `profile` only: where onnxruntime writes its trace */
  profileFilePrefix?: string | undefined;
  /** names the model in errors, e.g. "the head of paddle:cls at cut 27" */
  label?: string | undefined;
}

const SEVERITY: Record<OrtLogLevel, 0 | 1 | 2 | 3> = { verbose: 0, info: 1, warning: 2, error: 3 };

let envLevelSet = false;

/** onnxruntime's process-wide log level is fixed when its environment starts: set it before the first session. */
function logSeverity(): 0 | 1 | 2 | 3 {
  const level = env().ortLogLevel;
  if (!envLevelSet) {
    ort.env.logLevel = level;
    envLevelSet = true;
  }
  return SEVERITY[level];
}

/**
 * Verification and the shape probe turn every onnxruntime failure into a one-line error of
 * their own (with onnxruntime's message): its log lines would only repeat it, so they are off
 * (fatal only) unless SPLITWATT_LOG asks for more than errors.
 */
function quietUnlessAsked(): 3 | 4 | 2 | 1 | 0 {
  const s = logSeverity();
  return s === 3 ? 4 : s;
}

/** The full session options of a request (exported for tests and for the record). */
export function sessionOptions(req: SessionRequest = {}): ort.InferenceSession.SessionOptions {
  const target = req.target ?? { kind: "cpu", threads: 0 };
  const base: ort.InferenceSession.SessionOptions = { ...targetSessionOptions(target), logSeverityLevel: logSeverity() };
  const noPrepack = { extra: { session: { disable_prepacking: "1" } } };
  let o: ort.InferenceSession.SessionOptions;
  switch (req.purpose ?? "inference") {
    case "inference":
      o = base;
      break;
    case "exact":
      o = { ...base, graphOptimizationLevel: "disabled", intraOpNumThreads: 1, ...noPrepack, logSeverityLevel: quietUnlessAsked() };
      break;
    case "evaluate":
      o = { ...base, ...noPrepack };
      break;
    case "probe":
      o = { ...base, graphOptimizationLevel: "disabled", intraOpNumThreads: 1, logSeverityLevel: quietUnlessAsked() };
      break;
    case "profile":
      o = { ...base, graphOptimizationLevel: "disabled", enableProfiling: true, ...(req.profileFilePrefix === undefined ? {} : { profileFilePrefix: req.profileFilePrefix }) };
      break;
  }
  return req.optimization === undefined ? o : { ...o, graphOptimizationLevel: req.optimization };
}

/**
 * Create a session for a model (serialized bytes or a file path). A model onnxruntime cannot
 * load is a BadModelError whose one-line message keeps onnxruntime's reason.
 */
export async function createSession(model: Uint8Array | string, req: SessionRequest = {}): Promise<ort.InferenceSession> {
  const options = sessionOptions(req);
  try {
    return typeof model === "string" ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  } catch (err) {
    const what = req.label ?? (typeof model === "string" ? model : "the model");
    const target = executionTargetName(req.target ?? { kind: "cpu", threads: 0 });
    throw new BadModelError(`onnxruntime cannot load ${what} on ${target}: ${ortMessage(err)}`, { cause: err, ...(typeof model === "string" ? { path: model } : {}) });
  }
}
