import { describeValue } from "./tensorData.js";
import type { OipParameters } from "./oipTensor.js";
import { OipError, malformed } from "./oipError.js";

/**
 * out[k] = v, as an own data property even for "__proto__" (which plain assignment would take as
 * the prototype); other keys are assigned, so the object keeps V8's fast properties.
 */
function put(out: OipParameters, k: string, v: string | number | boolean): void {
  if (k === "__proto__") Object.defineProperty(out, k, { value: v, writable: true, enumerable: true, configurable: true });
  else out[k] = v;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * A received $parameters object: string -> string | number | boolean. Absent -> undefined.
 * Integers that the lossless parse kept as bigint become numbers (parameters are not tensor data).
 */
export function parameters(v: unknown, label: string): OipParameters | undefined {
  if (v === undefined) return undefined;
  if (!isPlainObject(v)) throw malformed(`${label}: "parameters" must be a JSON object, got ${describeValue(v)}`);
  const out: OipParameters = {};
  for (const [k, x] of Object.entries(v)) {
    let val: string | number | boolean;
    if (typeof x === "string" || typeof x === "boolean") val = x;
    else if (typeof x === "number") val = x;
    else if (typeof x === "bigint") val = Number(x);
    else throw malformed(`${label}: parameter ${describeValue(k)} must be a string, number or boolean, got ${describeValue(x)}`);
    put(out, k, val);
  }
  return out;
}

/** Checks parameters about to be sent; returns a copy without the keys in `drop`. */
export function outgoingParameters(p: OipParameters | undefined, label: string, drop: readonly string[] = []): OipParameters | undefined {
  if (p === undefined) return undefined;
  const out: OipParameters = {};
  let any = false;
  for (const [k, x] of Object.entries(p)) {
    if (drop.includes(k)) continue;
    const ok = typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && Number.isFinite(x));
    if (!ok) throw new OipError(500, `${label}: parameter ${describeValue(k)} must be a string, finite number or boolean, got ${describeValue(x)}`);
    put(out, k, x);
    any = true;
  }
  return any ? out : undefined;
}

/** Without the given key; undefined when nothing is left. */
export function withoutKey(p: OipParameters | undefined, key: string): OipParameters | undefined {
  if (p === undefined || !Object.prototype.hasOwnProperty.call(p, key)) return p;
  const out: OipParameters = {};
  let any = false;
  for (const [k, x] of Object.entries(p)) {
    if (k === key) continue;
    put(out, k, x);
    any = true;
  }
  return any ? out : undefined;
}
