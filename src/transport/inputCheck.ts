/**
 * Request inputs against a model's inputs, before anything is decoded (the tail server and the
 * daemon check every request with it): names, types, rank and fixed dimensions, and the size a
 * codec input decodes to. Then the decode into onnxruntime feeds.
 */
import * as ort from "onnxruntime-node";
import { decodeTensor } from "./codecs/codecs.js";
import { HttpError } from "./http/httpError.js";
import { datatypeToOrt, type DecodedRequest, type OipTensor, type TypedArray } from "./oip/index.js";
import type { ModelMeta } from "./tailModels.js";

/** A request input checked against the model, not decoded yet. */
export interface CheckedInput {
  tensor: OipTensor;
  /** sent with a splitwatt codec (sw_codec / sw_compression): decoded to float32 */
  coded: boolean;
  /** the tensor's shape (for a coded one: sw_shape, the shape it decodes to) */
  shape: number[];
  ortType: string;
}

/**
 * Every input of `decoded` against the model's inputs: name, type, rank and fixed dimensions, and
 * for a coded input the size it decodes to (at most `maxDecodedBytes`, the body limit: a
 * compressed request may not cost more memory than an uncompressed one could). Nothing is
 * decompressed or dequantised here: a request's cost follows what the model accepts, never what
 * its parameters claim.
 */
export function checkInputs(name: string, meta: ModelMeta, decoded: DecodedRequest, maxDecodedBytes: number): CheckedInput[] {
  const out: CheckedInput[] = [];
  for (const t of decoded.inputs) {
    const want = meta.inputs.find((i) => i.name === t.name);
    if (want === undefined) throw new HttpError(400, `model "${name}" has no input "${t.name}"; it takes ${meta.inputs.map((i) => i.name).join(", ")}`);
    const coded = (t.parameters?.sw_codec ?? "raw") !== "raw" || (t.parameters?.sw_compression ?? "none") !== "none";
    const shape = coded ? payloadShape(t) : t.shape;
    const ortType = coded ? "float32" : datatypeToOrt(t.datatype);
    if (ortType !== want.dtype) throw new HttpError(400, `input "${t.name}" of "${name}" is ${want.dtype}, got ${coded ? "a float32 codec" : t.datatype}`);
    if (shape.length !== want.shape.length || shape.some((d, i) => want.shape[i] !== -1 && want.shape[i] !== d)) {
      throw new HttpError(400, `input "${t.name}" of "${name}" has shape [${want.shape.join(",")}] (-1 = any), got [${shape.join(",")}]`);
    }
    if (coded) {
      const bytes = shape.reduce((n, d) => n * d, 4);
      if (bytes > maxDecodedBytes) {
        throw new HttpError(413, `input "${t.name}" would decode to ${bytes} bytes (shape [${shape.join(",")}] as float32), over this server's limit of ${maxDecodedBytes} bytes`);
      }
    }
    out.push({ tensor: t, coded, shape, ortType: ortType as string });
  }
  for (const i of meta.inputs) if (!out.some((c) => c.tensor.name === i.name)) throw new HttpError(400, `input "${i.name}" of "${name}" is missing`);
  return out;
}

/** Checked inputs -> onnxruntime feeds, decoding splitwatt codecs (bounded by the checked shape). */
export function decodeInputs(inputs: CheckedInput[]): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const { tensor: t, coded, shape, ortType } of inputs) {
    const view = t.data as TypedArray;
    const data = coded ? decodeTensor(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), String(t.parameters?.sw_datatype ?? t.datatype), shape, t.parameters ?? {}) : view;
    feeds[t.name] = new ort.Tensor(ortType as "float32", data as Float32Array, shape);
  }
  return feeds;
}

/** The shape of a compressed payload, from its sw_shape parameter (the wire shape is [bytes]). */
function payloadShape(t: OipTensor): number[] {
  const raw = t.parameters?.sw_shape;
  if (raw === undefined) return t.shape;
  let shape: unknown;
  try {
    shape = JSON.parse(String(raw));
  } catch {
    shape = null;
  }
  if (!Array.isArray(shape) || shape.length > 16 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new HttpError(400, `input "${t.name}": sw_shape must be a JSON array of non-negative integers, got ${String(raw).slice(0, 60)}`);
  }
  return shape as number[];
}
