import { createHash } from "node:crypto";
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProto_DataLocation, type ModelProto, type TensorProto } from "onnx-buf";
import { BadModelError, UsageError } from "../errors.js";
import { concatChunks, modelChunks } from "./modelChunks.js";

/** Highest IR version onnxruntime-node 1.30 loads. */
export const MAX_IR_VERSION = 11;
/** Highest default-domain opset onnxruntime-node 1.30 implements. */
export const MAX_OPSET = 23;
/** Lowest default-domain opset we accept (older graphs use semantics we do not model). */
export const MIN_OPSET = 7;

export interface OnnxModel {
  /** resolved path of the .onnx file */
  path: string;
  /** the file's bytes; initializer raw_data are views into it (never copied on load) */
  bytes: Uint8Array;
  proto: ModelProto;
  /** sha256 of the file, hex */
  sha256: string;
  /** default-domain opset */
  opset: number;
}

function opsetOf(proto: ModelProto): number {
  const def = proto.opsetImport.find((o) => o.domain === "" || o.domain === "ai.onnx");
  return def === undefined ? 0 : Number(def.version);
}

/** Every TensorProto of the graph: initializers and Constant nodes' `value` tensors. */
export function* weightTensors(proto: ModelProto): Generator<TensorProto> {
  const g = proto.graph;
  if (g === undefined) return;
  yield* g.initializer;
  for (const n of g.node) {
    if (n.opType !== "Constant") continue;
    for (const a of n.attribute) if (a.t !== undefined) yield a.t;
  }
}

/** Inline external data (location/offset/length) so the model is self-contained; refuse when a data file is missing. */
function inlineExternalData(proto: ModelProto, modelPath: string): void {
  for (const t of weightTensors(proto)) {
    if (t.dataLocation !== TensorProto_DataLocation.EXTERNAL) continue;
    const kv = new Map(t.externalData.map((e) => [e.key, e.value]));
    const location = kv.get("location");
    if (location === undefined) throw new BadModelError(`tensor ${t.name} in ${modelPath} is stored externally but names no location`, { path: modelPath });
    const file = resolve(dirname(modelPath), location);
    if (!existsSync(file)) {
      throw new BadModelError(`external data file ${file} of tensor ${t.name} is missing: put it next to ${modelPath} (as saved by onnx.save_model with save_as_external_data)`, {
        path: file,
      });
    }
    const offset = Number(kv.get("offset") ?? "0");
    const length = kv.has("length") ? Number(kv.get("length")) : statSync(file).size - offset;
    const data = new Uint8Array(length);
    const fd = openSync(file, "r");
    try {
      const n = readSync(fd, data, 0, length, offset);
      if (n !== length) throw new BadModelError(`external data file ${file} is shorter than tensor ${t.name} needs (${n} of ${length} bytes)`, { path: file });
    } finally {
      closeSync(fd);
    }
    t.rawData = data;
    t.dataLocation = TensorProto_DataLocation.DEFAULT;
    t.externalData = [];
  }
}

/** Decode and validate ONNX bytes (already read from `path`). */
export function parseModel(bytes: Uint8Array, path: string): OnnxModel {
  let proto: ModelProto;
  try {
    proto = fromBinary(ModelProtoSchema, bytes);
  } catch (err) {
    throw new BadModelError(`${path} is not a readable ONNX model (${(err as Error).message.split("\n")[0]}): is the file truncated or of another format?`, { path, cause: err });
  }
  const g = proto.graph;
  if (proto.irVersion <= 0n || g === undefined || g.node.length === 0) {
    throw new BadModelError(`${path} is not an ONNX model (no IR version or no graph): give a .onnx file`, { path });
  }
  if (proto.irVersion > BigInt(MAX_IR_VERSION)) {
    throw new BadModelError(`${path} has ONNX IR version ${proto.irVersion}; splitwatt handles IR <= ${MAX_IR_VERSION}: re-export it with an older exporter setting`, { path });
  }
  const opset = opsetOf(proto);
  if (opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new BadModelError(`${path} uses opset ${opset}; splitwatt handles opsets ${MIN_OPSET}-${MAX_OPSET}: convert it (onnx.version_converter)`, { path });
  }
  inlineExternalData(proto, path);
  return { path, bytes, proto, sha256: createHash("sha256").update(bytes).digest("hex"), opset };
}

/** Read and validate an .onnx file. */
export function loadModel(path: string): OnnxModel {
  const abs = resolve(path);
  if (!existsSync(abs)) throw new UsageError(`model file ${abs} does not exist: give a path to an .onnx file, a zoo name (splitwatt zoo list) or paddle:cls|rec|det`, { path: abs });
  if (statSync(abs).isDirectory()) throw new UsageError(`${abs} is a directory: give the .onnx file inside it`, { path: abs });
  const buf = readFileSync(abs);
  // a view, not a copy: weights stay views into this one buffer
  return parseModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), abs);
}

/** Serialize a model into one buffer (weights are copied once, into it). */
export function serializeModel(proto: ModelProto): Uint8Array {
  return concatChunks(modelChunks(proto));
}

/**
 * Write atomically (tmp + fsync + rename) so a crash never leaves half a model. Weights go
 * from their original arrays straight to the file: no in-memory copy of the whole model.
 */
export function saveModel(proto: ModelProto, path: string): number {
  const chunks = modelChunks(proto);
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, "w", 0o644);
  let bytes = 0;
  try {
    for (const c of chunks) {
      for (let at = 0; at < c.length; ) at += writeSync(fd, c, at, c.length - at);
      bytes += c.length;
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return bytes;
}
