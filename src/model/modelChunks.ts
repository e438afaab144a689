import { isFieldSet, toBinary } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, TensorProtoSchema, type ModelProto, type TensorProto } from "onnx-buf";

// Field numbers from onnx.proto: ModelProto.graph = 7, GraphProto.initializer = 5, TensorProto.raw_data = 9.
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

function varint(n: number, out: number[]): void {
  while (n >= 128) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
}

/** Tag of a length-delimited field followed by the length. */
function lengthHeader(field: number, length: number): Uint8Array {
  const out: number[] = [];
  varint((field << 3) | 2, out);
  varint(length, out);
  return Uint8Array.from(out);
}

/**
 * A model's serialized bytes as a list of chunks in which every initializer's raw_data is the
 * original array (a view into the loaded file), not a copy:
 *
 *   ModelProto without graph | graph header | GraphProto without initializers |
 *   per initializer: header | TensorProto without raw_data | raw_data header | raw_data
 *
 * A tensor whose values live in float_data, int64_data, ... (tf2onnx writes shape constants so)
 * has no raw_data and gets none: onnx.proto is proto2, where an empty raw_data that is present
 * means "0 bytes of data" and onnxruntime refuses the tensor.
 *
 * Protobuf fields may come in any order and repeated fields concatenate, so this is the message
 * toBinary would write, up to field order. Writing the chunks copies each weight exactly once.
 */
export function modelChunks(proto: ModelProto): Uint8Array[] {
  const g = proto.graph;
  if (g === undefined) return [toBinary(ModelProtoSchema, proto)];
  const rest = toBinary(ModelProtoSchema, { ...proto, graph: undefined });
  const graphRest = toBinary(GraphProtoSchema, { ...g, initializer: [] });
  const tail: Uint8Array[] = [];
  let graphLength = graphRest.length;
  for (const t of g.initializer) {
    const hasRaw = isFieldSet(t, TensorProtoSchema.field.rawData);
    const raw = hasRaw ? t.rawData : new Uint8Array(0);
    // without the key (not even an empty array): toBinary writes only what is there
    const { rawData: _raw, ...withoutRaw } = t;
    const tensorRest = toBinary(TensorProtoSchema, withoutRaw as TensorProto);
    const rawHeader = hasRaw ? lengthHeader(TENSOR_RAW_DATA, raw.length) : new Uint8Array(0);
    const tensorLength = tensorRest.length + rawHeader.length + raw.length;
    const header = lengthHeader(GRAPH_INITIALIZER, tensorLength);
    tail.push(header, tensorRest, rawHeader, raw);
    graphLength += header.length + tensorLength;
  }
  return [rest, lengthHeader(MODEL_GRAPH, graphLength), graphRest, ...tail].filter((c) => c.length > 0);
}

/** Concatenate chunks into one buffer (the one copy an in-memory model needs). */
export function concatChunks(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
