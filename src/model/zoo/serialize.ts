/**
 * Streaming ONNX serialisation for zoo models. @bufbuild/protobuf's toBinary would need the
 * weights in memory and then copy them (at least) once more into its growing output buffer;
 * VGG16 at 224 is 553 MB of weights. Instead the model is written as a sequence of chunks:
 *
 *   ModelProto-without-graph | tag(graph) len | GraphProto-without-initializers |
 *   for each initializer: tag(initializer) len | TensorProto-without-raw_data | tag(raw_data) len | data...
 *
 * Protobuf fields may appear in any order and repeated fields concatenate, so this is the same
 * message toBinary would produce up to field order. Weight data is drawn from its seeded stream
 * in 4 MB pieces straight into a reused scratch buffer, so writing a model to a file holds one
 * piece of weights at a time, and building it in memory holds exactly one copy (the result).
 */
import { endianness } from "node:os";
import { create, toBinary } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, OperatorSetIdProtoSchema, StringStringEntryProtoSchema, TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import { elementCount, type GraphBuilder } from "./graphBuilder.js";
import { WeightStream } from "./weights.js";

export const IR_VERSION = 8;
export const OPSET = 17;
/** floats per generated piece (4 MB) */
const PIECE = 1 << 20;

export interface ModelMeta {
  producerName: string;
  producerVersion: string;
  docString: string;
  metadata: Record<string, string>;
}

export interface LazyModel {
  /** exact size of the serialised model in bytes */
  byteLength: number;
  /** the model's first bytes: everything but the initializers (metadata, nodes, value_info) */
  prefix: Uint8Array;
  /** number of float weights (all initializers) */
  weightCount: number;
  /**
   * The model's bytes in order. Yielded arrays may be views of a reused scratch buffer: consume
   * (copy or write) each one before asking for the next.
   */
  chunks(): Generator<Uint8Array, void, undefined>;
  /**
   * The same model with every initializer's raw_data left out (names, dims and types kept):
   * the whole graph with its value_info, for reading structure without generating weights.
   * Not loadable by onnxruntime.
   */
  skeleton(): Uint8Array;
}

function varintLength(n: number): number {
  let len = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Field tag (wire type 2, length-delimited) followed by the varint length. */
function lenPrefix(field: number, length: number): Uint8Array {
  const out = new Uint8Array(varintLength(field * 8 + 2) + varintLength(length));
  let pos = 0;
  for (let v of [field * 8 + 2, length]) {
    while (v >= 128) {
      out[pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    out[pos++] = v;
  }
  return out;
}

// field numbers in onnx.proto
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_RAW_DATA = 9;

export function lazyModel(b: GraphBuilder, meta: ModelMeta, weightKey: (tensorName: string) => string, seed: number): LazyModel {
  const head = toBinary(
    ModelProtoSchema,
    create(ModelProtoSchema, {
      irVersion: BigInt(IR_VERSION),
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: BigInt(OPSET) })],
      producerName: meta.producerName,
      producerVersion: meta.producerVersion,
      docString: meta.docString,
      metadataProps: Object.entries(meta.metadata).map(([key, value]) => create(StringStringEntryProtoSchema, { key, value })),
    }),
  );
  const graph = toBinary(GraphProtoSchema, b.graphWithoutInitializers());
  const tensors = b.initializers.map((spec) => {
    const header = toBinary(TensorProtoSchema, create(TensorProtoSchema, { name: spec.name, dims: spec.dims.map((d) => BigInt(d)), dataType: TensorProto_DataType.FLOAT }));
    const count = elementCount(spec.dims);
    const dataPrefix = lenPrefix(TENSOR_RAW_DATA, count * 4);
    const tensorLength = header.length + dataPrefix.length + count * 4;
    const prefix = lenPrefix(GRAPH_INITIALIZER, tensorLength);
    return { spec, header, count, dataPrefix, prefix, total: prefix.length + tensorLength };
  });
  const graphLength = graph.length + tensors.reduce((s, t) => s + t.total, 0);
  const graphPrefix = lenPrefix(MODEL_GRAPH, graphLength);
  const byteLength = head.length + graphPrefix.length + graphLength;
  const weightCount = tensors.reduce((s, t) => s + t.count, 0);
  const bigEndian = endianness() === "BE";

  function* chunks(): Generator<Uint8Array, void, undefined> {
    yield prefix;
    const streams = tensors.map((t) => new WeightStream(weightKey(t.spec.name), seed, t.spec.init));
    // a piece is a whole number of rows (centred filters are generated row by row)
    const pieceOf = (t: (typeof tensors)[number], s: WeightStream): number => Math.min(t.count, Math.max(s.row, Math.floor(PIECE / s.row) * s.row));
    const scratch = new Float32Array(Math.max(1, ...tensors.map((t, i) => pieceOf(t, streams[i] as WeightStream))));
    for (const [ti, t] of tensors.entries()) {
      yield t.prefix;
      yield t.header;
      yield t.dataPrefix;
      const stream = streams[ti] as WeightStream;
      const piece = pieceOf(t, stream);
      for (let done = 0; done < t.count; done += piece) {
        const view = scratch.subarray(0, Math.min(piece, t.count - done));
        stream.fill(view);
        const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
        if (bigEndian) {
          for (let i = 0; i < bytes.length; i += 4) {
            const b0 = bytes[i] as number;
            const b1 = bytes[i + 1] as number;
            bytes[i] = bytes[i + 3] as number;
            bytes[i + 1] = bytes[i + 2] as number;
            bytes[i + 2] = b1;
            bytes[i + 3] = b0;
          }
        }
        yield bytes;
      }
    }
  }
  function skeleton(): Uint8Array {
    const parts: Uint8Array[] = [graph];
    for (const t of tensors) parts.push(lenPrefix(GRAPH_INITIALIZER, t.header.length), t.header);
    const gLen = parts.reduce((n, p) => n + p.length, 0);
    parts.unshift(head, lenPrefix(MODEL_GRAPH, gLen));
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let pos = 0;
    for (const p of parts) {
      out.set(p, pos);
      pos += p.length;
    }
    return out;
  }
  const prefix = new Uint8Array(head.length + graphPrefix.length + graph.length);
  prefix.set(head, 0);
  prefix.set(graphPrefix, head.length);
  prefix.set(graph, head.length + graphPrefix.length);
  return { byteLength, weightCount, prefix, chunks, skeleton };
}
