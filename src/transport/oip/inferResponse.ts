/**
 * $inference_response (KServe v2 / Open Inference Protocol REST), with Triton's binary tensor
 * data extension: encode on the server (tail), decode on the client (edge device).
 */
import { assembleBody, type HeaderMap, inferBody } from "./inferBody.js";
import type { EncodedBody } from "./inferRequest.js";
import { parseJsonLossless } from "./losslessJson.js";
import { OipError, malformed } from "./oipError.js";
import type { OipParameters, OipTensor } from "./oipTensor.js";
import { isPlainObject, outgoingParameters, parameters } from "./parameters.js";
import { NeedLosslessJson, describeValue } from "./tensorData.js";
import { type DecodeLimits, checkLimits, checkUniqueNames, decodeTensorList, encodeTensor } from "./tensorList.js";

export interface InferResponse {
  model_name: string;
  model_version?: string;
  id?: string;
  outputs: OipTensor[];
  parameters?: OipParameters;
}

export interface DecodedResponse {
  /** required by the spec, but absent from its own binary-extension examples: optional here */
  model_name?: string;
  model_version?: string;
  id?: string;
  outputs: OipTensor[];
  parameters?: OipParameters;
}

/**
 * Encodes a response. Outputs named in `binaryOutputs` (or all / none) go as binary sections
 * after the JSON header (not copied); the rest as JSON "data". Without any binary output the
 * body is plain application/json. See binaryOutputs() for deriving the set from a request.
 */
export function encodeInferResponse(res: InferResponse, opts: { binaryOutputs: Set<string> | "all" | "none" }): EncodedBody {
  if (!isPlainObject(res) || !Array.isArray(res.outputs)) throw new OipError(500, "response must have an outputs array");
  if (typeof res.model_name !== "string") throw new OipError(500, "response model_name must be a string");
  if (res.model_version !== undefined && typeof res.model_version !== "string") throw new OipError(500, "response model_version must be a string");
  if (res.id !== undefined && typeof res.id !== "string") throw new OipError(500, "response id must be a string");
  checkUniqueNames(res.outputs, "output");
  const which = opts.binaryOutputs;
  const isBinary = (name: string): boolean => (which === "all" ? true : which === "none" ? false : which.has(name));
  const hint = 'request it as binary data ("binary_data": true on the output, or "binary_data_output": true)';
  const sections: Uint8Array[] = [];
  let text = `{"model_name":${JSON.stringify(res.model_name)}`;
  if (res.model_version !== undefined) text += `,"model_version":${JSON.stringify(res.model_version)}`;
  if (res.id !== undefined) text += `,"id":${JSON.stringify(res.id)}`;
  const params = outgoingParameters(res.parameters, "response");
  if (params !== undefined) text += `,"parameters":${JSON.stringify(params)}`;
  let anyBinary = false;
  const outs = res.outputs.map((t) => {
    const b = isBinary(t.name);
    anyBinary ||= b;
    return encodeTensor(t, "output", b, hint, sections);
  });
  text += `,"outputs":[${outs.join(",")}]}`;
  return assembleBody(text, anyBinary ? sections : null);
}

function buildResponse(json: Record<string, unknown>, binary: Uint8Array | null, limits: DecodeLimits, lossless: boolean): DecodedResponse {
  const out: DecodedResponse = { outputs: [] };
  for (const key of ["model_name", "model_version", "id"] as const) {
    const v = json[key];
    if (v === undefined) continue;
    if (typeof v !== "string") throw malformed(`response "${key}" must be a string, got ${describeValue(v)}`);
    out[key] = v;
  }
  const params = parameters(json.parameters, "response");
  if (params !== undefined) out.parameters = params;
  if (json.outputs === undefined) throw malformed(`response has no "outputs"`);
  out.outputs = decodeTensorList(json.outputs, "output", binary, limits, lossless);
  return out;
}

/**
 * Decodes and validates a response body (the client side), with the same rules and limits as
 * decodeInferRequest. Binary output data may be views into `body`.
 */
export function decodeInferResponse(body: Uint8Array, headers: HeaderMap, limits: DecodeLimits): DecodedResponse {
  checkLimits(limits);
  try {
    const split = inferBody(body, headers, "response");
    try {
      return buildResponse(split.json, split.binary, limits, false);
    } catch (e) {
      if (!(e instanceof NeedLosslessJson)) throw e;
      return buildResponse(parseJsonLossless(split.text) as Record<string, unknown>, split.binary, limits, true);
    }
  } catch (e) {
    if (e instanceof OipError) throw e;
    if (e instanceof RangeError) throw new OipError(413, `response too large to decode: ${e.message}`, { cause: e });
    throw new OipError(400, `could not decode response: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
