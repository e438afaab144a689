/**
 * $inference_request (KServe v2 / Open Inference Protocol REST), with Triton's binary tensor data
 * extension: encode on the client (edge device), decode on the server (tail).
 */
import { assembleBody, type HeaderMap, inferBody } from "./inferBody.js";
import { parseJsonLossless } from "./losslessJson.js";
import { OipError, malformed, tooLarge } from "./oipError.js";
import type { OipParameters, OipTensor } from "./oipTensor.js";
import { isPlainObject, outgoingParameters, parameters, withoutKey } from "./parameters.js";
import { NeedLosslessJson, describeValue } from "./tensorData.js";
import { type DecodeLimits, checkLimits, checkUniqueNames, decodeTensorList, encodeTensor, quote } from "./tensorList.js";

/** $request_output parameter: return this output as binary data. */
export const BINARY_DATA = "binary_data";
/** $inference_request parameter: return all outputs as binary data unless an output says otherwise. */
export const BINARY_DATA_OUTPUT = "binary_data_output";

export interface RequestedOutput {
  name: string;
  /** the output's "binary_data" parameter; undefined when not given */
  binary?: boolean;
  /** other parameters of the $request_output */
  parameters?: OipParameters;
}

export interface InferRequest {
  id?: string;
  inputs: OipTensor[];
  outputs?: Array<{ name: string; binary?: boolean; parameters?: OipParameters }>;
  parameters?: OipParameters;
}

export interface DecodedRequest {
  id?: string;
  inputs: OipTensor[];
  /** the requested outputs; undefined when the request names none (= all outputs) */
  outputs?: RequestedOutput[];
  /** request parameters as sent, binary_data_output included */
  parameters?: OipParameters;
  /** the request's "binary_data_output" parameter, false when absent */
  binaryDataOutput: boolean;
}

export interface EncodedBody {
  /** one buffer, or chunks to write in order (writev) without concatenating */
  body: Uint8Array | Uint8Array[];
  headers: Record<string, string>;
}

/**
 * Encodes a request. `binary: true` sends every input as binary data after the JSON header
 * (application/octet-stream, Inference-Header-Content-Length); the tensors' bytes are not copied.
 * `binary: false` sends JSON "data" arrays (FP16, NaN/Infinity and non-UTF-8 BYTES cannot be).
 * An output's `binary` becomes its "binary_data" parameter; request-wide binary outputs are asked
 * for with `parameters: { binary_data_output: true }`.
 */
export function encodeInferRequest(req: InferRequest, opts: { binary: boolean }): EncodedBody {
  if (!isPlainObject(req) || !Array.isArray(req.inputs)) throw new OipError(500, "request must have an inputs array");
  if (req.id !== undefined && typeof req.id !== "string") throw new OipError(500, "request id must be a string");
  checkUniqueNames(req.inputs, "input");
  const hint = "encode the request with { binary: true }";
  const sections: Uint8Array[] = [];
  let text = "{";
  if (req.id !== undefined) text += `"id":${JSON.stringify(req.id)},`;
  const params = outgoingParameters(req.parameters, "request");
  if (params !== undefined) text += `"parameters":${JSON.stringify(params)},`;
  text += `"inputs":[${req.inputs.map((t) => encodeTensor(t, "input", opts.binary, hint, sections)).join(",")}]`;
  if (req.outputs !== undefined) {
    if (!Array.isArray(req.outputs)) throw new OipError(500, "request outputs must be an array");
    checkUniqueNames(req.outputs, "output");
    const outs = req.outputs.map((o) => {
      if (typeof o?.name !== "string" || o.name.length === 0) throw new OipError(500, "requested output name must be a non-empty string");
      let p = outgoingParameters(o.parameters, `output ${quote(o.name)}`, [BINARY_DATA]);
      if (o.binary !== undefined) p = { ...(p ?? {}), [BINARY_DATA]: o.binary === true };
      return p === undefined ? `{"name":${JSON.stringify(o.name)}}` : `{"name":${JSON.stringify(o.name)},"parameters":${JSON.stringify(p)}}`;
    });
    text += `,"outputs":[${outs.join(",")}]`;
  }
  text += "}";
  return assembleBody(text, opts.binary ? sections : null);
}

function buildRequest(json: Record<string, unknown>, binary: Uint8Array | null, limits: DecodeLimits, lossless: boolean): DecodedRequest {
  const { id } = json;
  if (id !== undefined && typeof id !== "string") throw malformed(`request "id" must be a string, got ${describeValue(id)}`);
  const params = parameters(json.parameters, "request");
  const bdo = params?.[BINARY_DATA_OUTPUT];
  if (bdo !== undefined && typeof bdo !== "boolean") throw malformed(`request parameter "${BINARY_DATA_OUTPUT}" must be true or false, got ${describeValue(bdo)}`);
  if (json.inputs === undefined) throw malformed(`request has no "inputs"`);
  const inputs = decodeTensorList(json.inputs, "input", binary, limits, lossless);
  const out: DecodedRequest = { inputs, binaryDataOutput: bdo === true };
  if (id !== undefined) out.id = id;
  if (params !== undefined) out.parameters = params;
  if (json.outputs !== undefined) {
    const list = json.outputs;
    if (!Array.isArray(list)) throw malformed(`request "outputs" must be an array, got ${describeValue(list)}`);
    if (list.length > limits.maxTensors) throw tooLarge(`${list.length} requested outputs exceed the limit of ${limits.maxTensors}`);
    const seen = new Set<string>();
    out.outputs = list.map((o: unknown, k: number): RequestedOutput => {
      if (!isPlainObject(o)) throw malformed(`requested output ${k} must be a JSON object, got ${describeValue(o)}`);
      const { name } = o;
      if (typeof name !== "string" || name.length === 0) throw malformed(`requested output ${k}: "name" must be a non-empty string, got ${describeValue(name)}`);
      const label = `requested output ${quote(name)}`;
      if (seen.has(name)) throw malformed(`${label} appears more than once`);
      seen.add(name);
      const p = parameters(o.parameters, label);
      const bd = p?.[BINARY_DATA];
      if (bd !== undefined && typeof bd !== "boolean") throw malformed(`${label}: "${BINARY_DATA}" must be true or false, got ${describeValue(bd)}`);
      const r: RequestedOutput = { name };
      if (bd !== undefined) r.binary = bd;
      const rest = withoutKey(p, BINARY_DATA);
      if (rest !== undefined) r.parameters = rest;
      return r;
    });
  }
  return out;
}

/**
 * Decodes and validates a request body: JSON (flat or nested "data") or JSON header + binary
 * sections located by Inference-Header-Content-Length. Binary data comes back as views into
 * `body` wherever the element alignment allows, so `body` must not be reused while the request
 * is alive. Throws OipError (400 malformed, 413 over `limits`) and nothing else.
 */
export function decodeInferRequest(body: Uint8Array, headers: HeaderMap, limits: DecodeLimits): DecodedRequest {
  checkLimits(limits);
  try {
    const split = inferBody(body, headers, "request");
    try {
      return buildRequest(split.json, split.binary, limits, false);
    } catch (e) {
      if (!(e instanceof NeedLosslessJson)) throw e;
      return buildRequest(parseJsonLossless(split.text) as Record<string, unknown>, split.binary, limits, true);
    }
  } catch (e) {
    if (e instanceof OipError) throw e;
    if (e instanceof RangeError) throw new OipError(413, `request too large to decode: ${e.message}`, { cause: e });
    throw new OipError(400, `could not decode request: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}
