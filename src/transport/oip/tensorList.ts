/**
 * The "inputs" of a request / "outputs" of a response: decoding with full validation, and
 * encoding to JSON text plus binary sections.
 */
import { DATATYPES, DATATYPE_NAMES, isDatatype, matchesDatatype } from "./datatypes.js";
import { OipError, malformed, tooLarge } from "./oipError.js";
import type { OipTensor } from "./oipTensor.js";
import { isPlainObject, outgoingParameters, parameters, withoutKey } from "./parameters.js";
import { binaryToTensorData, describeValue, jsonToTensorData, tensorDataToBinary, tensorDataToJson } from "./tensorData.js";

export interface DecodeLimits {
  /** largest tensor accepted, in bytes of its binary form (BYTES: 4-byte prefixes included) */
  maxTensorBytes: number;
  /** most tensors accepted in one body (inputs, outputs, requested outputs each) */
  maxTensors: number;
}

export const BINARY_DATA_SIZE = "binary_data_size";

export function checkLimits(limits: DecodeLimits): void {
  const ok = (n: unknown): boolean => typeof n === "number" && n >= 0 && (Number.isSafeInteger(n) || n === Infinity);
  if (!isPlainObject(limits) || !ok(limits.maxTensorBytes) || !ok(limits.maxTensors)) {
    throw new TypeError("limits must be { maxTensorBytes, maxTensors } with non-negative integers");
  }
}

export function quote(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 61)}...` : name);
}

export function fmtShape(shape: readonly unknown[]): string {
  const parts = shape.slice(0, 8).map((d) => describeValue(d));
  return `[${parts.join(", ")}${shape.length > 8 ? ", ..." : ""}]`;
}

/** Element count of a received shape: non-negative integers, product within 2^53 (413 if not). */
function receivedElementCount(shape: unknown, label: string): { dims: number[]; count: number } {
  if (!Array.isArray(shape)) throw malformed(`${label}: "shape" must be an array of non-negative integers, got ${describeValue(shape)}`);
  const dims: number[] = new Array<number>(shape.length);
  let huge = false;
  for (let k = 0; k < shape.length; k++) {
    const d: unknown = shape[k];
    if (typeof d === "bigint") {
      if (d < 0n) throw malformed(`${label}: shape ${fmtShape(shape)} has a negative dimension`);
      huge = true;
      dims[k] = Number(d);
      continue;
    }
    if (typeof d !== "number" || !Number.isInteger(d)) throw malformed(`${label}: shape ${fmtShape(shape)} has a dimension that is not an integer`);
    if (d < 0) throw malformed(`${label}: shape ${fmtShape(shape)} has a negative dimension`);
    if (!Number.isSafeInteger(d)) huge = true;
    dims[k] = d + 0; // -0 -> 0
  }
  if (huge) throw tooLarge(`${label}: shape ${fmtShape(shape)} has a dimension above 2^53-1`);
  if (dims.includes(0)) return { dims, count: 0 };
  let count = 1;
  for (const d of dims) {
    count *= d;
    if (count > Number.MAX_SAFE_INTEGER) throw tooLarge(`${label}: shape ${fmtShape(shape)} has more than 2^53-1 elements`);
  }
  return { dims, count };
}

/**
 * Decodes a tensor list. `binary` is the region after the JSON header (null when there is no
 * Inference-Header-Content-Length); sections are taken in list order and must fill it exactly.
 */
export function decodeTensorList(
  list: unknown,
  role: "input" | "output",
  binary: Uint8Array | null,
  limits: DecodeLimits,
  lossless: boolean,
): OipTensor[] {
  const field = `${role}s`;
  if (!Array.isArray(list)) throw malformed(`"${field}" must be an array, got ${describeValue(list)}`);
  if (list.length > limits.maxTensors) throw tooLarge(`${list.length} ${field} exceed the limit of ${limits.maxTensors}`);
  const names = new Set<string>();
  const out: OipTensor[] = [];
  let offset = 0;
  for (let k = 0; k < list.length; k++) {
    const entry: unknown = list[k];
    let label = `${role} ${k}`;
    if (!isPlainObject(entry)) throw malformed(`${label} must be a JSON object, got ${describeValue(entry)}`);
    const name = entry.name;
    if (typeof name !== "string" || name.length === 0) throw malformed(`${label}: "name" must be a non-empty string, got ${describeValue(name)}`);
    label = `${role} ${quote(name)}`;
    if (names.has(name)) throw malformed(`${label} appears more than once`);
    names.add(name);
    const datatype = entry.datatype;
    if (!isDatatype(datatype)) {
      throw malformed(`${label}: unknown datatype ${describeValue(datatype)}; expected one of ${DATATYPE_NAMES.join(", ")}`);
    }
    const { dims, count } = receivedElementCount(entry.shape, label);
    const info = DATATYPES[datatype];
    const minBytes = count * (info.size === 0 ? 4 : info.size);
    if (minBytes > limits.maxTensorBytes) {
      throw tooLarge(`${label}: shape ${fmtShape(dims)} of ${datatype} needs at least ${minBytes} bytes, above the ${limits.maxTensorBytes}-byte tensor limit`);
    }
    const params = parameters(entry.parameters, label);
    const bds: unknown = params === undefined ? undefined : Object.prototype.hasOwnProperty.call(params, BINARY_DATA_SIZE) ? params[BINARY_DATA_SIZE] : undefined;
    let data: OipTensor["data"];
    if (bds !== undefined) {
      if (entry.data !== undefined) throw malformed(`${label} has both "data" and "${BINARY_DATA_SIZE}"`);
      if (binary === null) throw malformed(`${label} has "${BINARY_DATA_SIZE}" but the Inference-Header-Content-Length header is missing`);
      if (typeof bds !== "number" || !Number.isInteger(bds) || bds < 0) {
        throw malformed(`${label}: "${BINARY_DATA_SIZE}" must be a non-negative integer, got ${describeValue(bds)}`);
      }
      if (bds > limits.maxTensorBytes) throw tooLarge(`${label}: ${BINARY_DATA_SIZE} ${bds} is above the ${limits.maxTensorBytes}-byte tensor limit`);
      if (bds > binary.length - offset) {
        throw malformed(`${label}: ${BINARY_DATA_SIZE} ${bds} runs past the end of the body (${binary.length - offset} binary bytes left)`);
      }
      data = binaryToTensorData(datatype, count, binary.subarray(offset, offset + bds), label);
      offset += bds;
    } else {
      if (entry.data === undefined) throw malformed(`${label} has neither "data" nor "${BINARY_DATA_SIZE}"`);
      data = jsonToTensorData(datatype, count, entry.data, { label, lossless, maxTensorBytes: limits.maxTensorBytes });
    }
    const tensor: OipTensor = { name, datatype, shape: dims, data };
    const rest = withoutKey(params, BINARY_DATA_SIZE);
    if (rest !== undefined) tensor.parameters = rest;
    out.push(tensor);
  }
  if (binary !== null && offset !== binary.length) {
    throw malformed(`${binary.length - offset} bytes after the binary tensor data are not claimed by any ${role}'s ${BINARY_DATA_SIZE}`);
  }
  return out;
}

/** Checks a tensor about to be sent (a local bug if it fails: status 500). Returns its element count. */
function checkOutgoing(t: OipTensor, label: string): number {
  if (!isPlainObject(t)) throw new OipError(500, `${label} must be an object`);
  if (typeof t.name !== "string" || t.name.length === 0) throw new OipError(500, `${label}: name must be a non-empty string`);
  if (!isDatatype(t.datatype)) throw new OipError(500, `${label}: unknown datatype ${describeValue(t.datatype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new OipError(500, `${label}: shape must be non-negative integers, got ${describeValue(t.shape)}`);
  }
  let count = 1;
  for (const d of t.shape) count *= d;
  const ctor = DATATYPES[t.datatype].ctor;
  if (!matchesDatatype(t.datatype, t.data)) {
    throw new OipError(500, `${label}: ${t.datatype} data must be ${ctor === null ? "an array of Uint8Array" : ctor.name}`);
  }
  if (t.data.length !== count) throw new OipError(500, `${label}: shape ${fmtShape(t.shape)} holds ${count} elements but data has ${t.data.length}`);
  return count;
}

/**
 * JSON text of one $request_input / $response_output. With `binary`, the data goes to `sections`
 * and the object carries binary_data_size; otherwise it is written as the JSON "data" array.
 */
export function encodeTensor(t: OipTensor, role: "input" | "output", binary: boolean, hint: string, sections: Uint8Array[]): string {
  const label = `${role} ${typeof t?.name === "string" ? quote(t.name) : "?"}`;
  checkOutgoing(t, label);
  const params = outgoingParameters(t.parameters, label, [BINARY_DATA_SIZE]);
  let text = `{"name":${JSON.stringify(t.name)},"shape":[${t.shape.join(",")}],"datatype":"${t.datatype}"`;
  if (binary) {
    const section = tensorDataToBinary(t.datatype, t.data, label);
    const p = { ...(params ?? {}), [BINARY_DATA_SIZE]: section.length };
    text += `,"parameters":${JSON.stringify(p)}}`;
    sections.push(section);
    return text;
  }
  if (params !== undefined) text += `,"parameters":${JSON.stringify(params)}`;
  return `${text},"data":${tensorDataToJson(t.datatype, t.data, label, hint)}}`;
}

export function checkUniqueNames(ts: readonly { name: string }[], role: string): void {
  const seen = new Set<string>();
  for (const t of ts) {
    if (seen.has(t.name)) throw new OipError(500, `${role} ${quote(t.name)} appears more than once`);
    seen.add(t.name);
  }
}

