import type { DecodedRequest } from "./inferRequest.js";

/**
 * Which outputs the response must carry as binary data, per Triton's binary tensor data
 * extension: an output's "binary_data" parameter wins; otherwise the request's
 * "binary_data_output" parameter (default false) applies. `outputNames` are the outputs the
 * response will hold (the requested ones, or all of the model's when none were requested).
 */
export function binaryOutputs(req: Pick<DecodedRequest, "outputs" | "binaryDataOutput">, outputNames: readonly string[]): Set<string> | "all" | "none" {
  const explicit = new Map<string, boolean>();
  for (const o of req.outputs ?? []) if (o.binary !== undefined) explicit.set(o.name, o.binary);
  if (explicit.size === 0) return req.binaryDataOutput ? "all" : "none";
  const out = new Set<string>();
  for (const name of outputNames) if (explicit.get(name) ?? req.binaryDataOutput) out.add(name);
  return out;
}
