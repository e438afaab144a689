/**
 * A request's scheduling parameters, from Open Inference Protocol `parameters` (infer) or the
 * query string (image requests): `deadline_ms` (required unless the daemon has a default),
 * optional `min_accuracy` and `policy`. Anything wrong is a 400 saying what to send instead.
 */
import { HttpError } from "../../transport/http/httpError.js";

export interface RequestParams {
  deadlineMs: number;
  minAccuracy: number | undefined;
  /** the policy's name as given (checked by whoever builds it) */
  policy: string;
}

export interface ParamDefaults {
  deadlineMs: number | undefined;
  policy: string;
}

/** How a parameter is sent, for the error messages: in OIP `parameters` or in the query string. */
export type ParamStyle = "parameters" | "query";

const example = (style: ParamStyle, key: string, value: string): string => (style === "parameters" ? `"parameters": {"${key}": ${value}}` : `?${key}=${value}`);

function numberOf(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string" && v.trim() !== "") return Number(v);
  return Number.NaN;
}

const shown = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 40 ? `${s.slice(0, 40)}...` : s;
};

/** Read the three parameters with `get` (undefined: not sent). */
export function requestParams(get: (key: string) => unknown, defaults: ParamDefaults, style: ParamStyle): RequestParams {
  const rawDeadline = get("deadline_ms");
  let deadlineMs: number;
  if (rawDeadline === undefined) {
    if (defaults.deadlineMs === undefined) throw new HttpError(400, `the request has no deadline: send deadline_ms, a positive number of ms, e.g. ${example(style, "deadline_ms", "100")}`);
    deadlineMs = defaults.deadlineMs;
  } else {
    deadlineMs = numberOf(rawDeadline);
    if (!Number.isFinite(deadlineMs) || deadlineMs <= 0) throw new HttpError(400, `deadline_ms must be a positive number of ms, got ${shown(rawDeadline)}: send e.g. ${example(style, "deadline_ms", "100")}`);
  }
  const rawAcc = get("min_accuracy");
  let minAccuracy: number | undefined;
  if (rawAcc !== undefined) {
    minAccuracy = numberOf(rawAcc);
    if (!Number.isFinite(minAccuracy) || minAccuracy < 0 || minAccuracy > 1) throw new HttpError(400, `min_accuracy must be a fraction in [0, 1], got ${shown(rawAcc)}: send e.g. ${example(style, "min_accuracy", "0.9")}`);
  }
  const rawPolicy = get("policy");
  if (rawPolicy !== undefined && (typeof rawPolicy !== "string" || rawPolicy.length === 0)) throw new HttpError(400, `policy must be a policy's name, got ${shown(rawPolicy)}: send e.g. ${example(style, "policy", style === "parameters" ? '"dynasplit"' : "dynasplit")}`);
  return { deadlineMs, minAccuracy, policy: (rawPolicy as string | undefined) ?? defaults.policy };
}
