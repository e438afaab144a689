/**
 * A Triton model repository with one model per tail (`<name>.tail.<cut>/config.pbtxt` and
 * `1/model.onnx`), for Triton or KServe's Triton runtime; the edge side needs only the URL.
 *
 * - `codec`: the tail takes the codec's tensors natively (src/model/tailDecodeGraph.ts), so a
 *   stock server serves codec'd cut tensors; the client sends them as plain tensors
 *   (`serverKind: "triton"`, src/transport/tritonCodec.ts).
 * - Batching: where every input and output has a leading batch dimension, `max_batch_size` is
 *   set and a `dynamic_batching` block with `max_queue_delay_microseconds`.
 * - Size: `planTriton` computes the exact bytes every file will have (from the split parts'
 *   chunks: no weight is copied for it) before anything is written, so a caller can refuse a
 *   repository over a limit.
 * config.pbtxt is protobuf text format of Triton's ModelConfig (model_config.proto).
 */
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ModelProto } from "onnx-buf";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { modelChunks } from "../model/modelChunks.js";
import { saveModel } from "../model/onnxModel.js";
import { splitModel } from "../model/splitModel.js";
import { tailDecodeGraph } from "../model/tailDecodeGraph.js";
import type { TensorShape } from "../model/tensorShapes.js";
import { UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { codecName, type CodecSpec } from "./codecs/codecs.js";
import { checkTritonCodec, scaleInputName, zeroPointInputName } from "./tritonCodec.js";

const TRITON_TYPES: Record<string, string> = {
  float32: "TYPE_FP32",
  float16: "TYPE_FP16",
  float64: "TYPE_FP64",
  int8: "TYPE_INT8",
  uint8: "TYPE_UINT8",
  int16: "TYPE_INT16",
  uint16: "TYPE_UINT16",
  int32: "TYPE_INT32",
  uint32: "TYPE_UINT32",
  int64: "TYPE_INT64",
  uint64: "TYPE_UINT64",
  bool: "TYPE_BOOL",
};

export interface TritonExportOptions {
  /** model name prefix (tails are `<name>.tail.<cut>`) */
  name: string;
  /** cut indices to export (tails exist for 0..L-1) */
  cuts: number[];
  /** Triton max_batch_size (0 = no batching dimension) */
  maxBatch: number;
  /** instance kind */
  kind: "KIND_CPU" | "KIND_GPU";
  /** the codec the tails take (default raw: FP32 as it is) */
  codec?: CodecSpec | undefined;
  /** dynamic_batching's max_queue_delay_microseconds, in ms (default 0) */
  maxQueueDelayMs?: number | undefined;
}

/** One tensor as config.pbtxt lists it. */
interface ConfigTensor {
  name: string;
  dtype: string;
  /** full dims, batch included (-1 where symbolic) */
  dims: number[];
}

export interface PlannedTail {
  name: string;
  cut: number;
  model: ModelProto;
  config: string;
  /** bytes of model.onnx and config.pbtxt */
  bytes: number;
  batched: boolean;
}

export interface TritonPlan {
  tails: PlannedTail[];
  totalBytes: number;
}

function tensorBlock(t: ConfigTensor, batched: boolean): string {
  const type = TRITON_TYPES[t.dtype];
  if (type === undefined) throw new UsageError(`tensor ${t.name} has type ${t.dtype}, which Triton's config cannot express: export another cut`);
  const dims = batched ? t.dims.slice(1) : t.dims;
  return `  {\n    name: ${JSON.stringify(t.name)}\n    data_type: ${type}\n    dims: [ ${dims.join(", ")} ]\n  }`;
}

const dimsOf = (s: TensorShape): number[] => s.shape.map((d, i) => (s.batchDims[i] === true ? -1 : d));

/** Every tail of `opts.cuts`, in memory (weights shared with the analysis, not copied), with its exact size on disk. */
export function planTriton(a: ModelAnalysis, opts: TritonExportOptions): TritonPlan {
  const codec = opts.codec ?? { codec: "raw", compression: "none" };
  checkTritonCodec(codec);
  const tails: PlannedTail[] = [];
  for (const index of opts.cuts) {
    const { cut, tail } = splitModel(a, index);
    if (tail === null) throw new UsageError(`cut ${index} runs everything on the device: it has no tail (tails exist for cuts 0-${a.cuts.length - 2})`);
    const inputs = cut.tensors.map((t) => a.shapes.get(t.name) as TensorShape);
    const outputs = a.graph.outputs.map((o) => a.shapes.get(o) as TensorShape);
    // Triton batches along a leading dimension every input and output must share.
    const batched = opts.maxBatch > 0 && [...inputs, ...outputs].every((s) => s.batchDims[0] === true && s.batchDims.slice(1).every((b) => !b));
    const coded = inputs.filter((s) => s.dtype === "float32");
    const model = tailDecodeGraph(
      tail,
      coded.map((s) => ({ name: s.name, dims: s.shape.map((d, i) => (s.batchDims[i] === true ? "N" : d)) })),
      codec.codec,
      codec.channelAxis ?? 1,
    );
    const configInputs: ConfigTensor[] = inputs.flatMap((s): ConfigTensor[] => {
      const dims = dimsOf(s);
      if (s.dtype !== "float32" || codec.codec === "raw") return [{ name: s.name, dtype: s.dtype, dims }];
      if (codec.codec === "fp16") return [{ name: s.name, dtype: "float16", dims }];
      const rank = s.shape.length;
      const axis = (codec.channelAxis ?? 1) < 0 ? (codec.channelAxis ?? 1) + rank : (codec.channelAxis ?? 1);
      const k = codec.codec === "int8" ? 1 : (s.shape[axis] as number);
      const paramDims = s.batchDims[0] === true ? [-1, k] : [k];
      return [
        { name: s.name, dtype: "int8", dims },
        { name: scaleInputName(s.name), dtype: "float32", dims: paramDims },
        { name: zeroPointInputName(s.name), dtype: "int8", dims: paramDims },
      ];
    });
    const name = `${opts.name}.tail.${cut.index}`;
    const delayUs = Math.round((opts.maxQueueDelayMs ?? 0) * 1000);
    const config = [
      `name: ${JSON.stringify(name)}`,
      'platform: "onnxruntime_onnx"',
      `max_batch_size: ${batched ? opts.maxBatch : 0}`,
      `input [\n${configInputs.map((t) => tensorBlock(t, batched)).join(",\n")}\n]`,
      `output [\n${outputs.map((s) => tensorBlock({ name: s.name, dtype: s.dtype, dims: dimsOf(s) }, batched)).join(",\n")}\n]`,
      `instance_group [\n  {\n    kind: ${opts.kind}\n    count: 1\n  }\n]`,
      ...(batched ? [`dynamic_batching {\n  max_queue_delay_microseconds: ${delayUs}\n}`] : []),
      `parameters {\n  key: "splitwatt_cut"\n  value: { string_value: ${JSON.stringify(JSON.stringify({ index: cut.index, bytes: cut.bytes, headMacs: cut.headMacs, model: a.model.sha256, codec: codecName(codec) }))} }\n}`,
      "",
    ].join("\n");
    const bytes = modelChunks(model).reduce((n, c) => n + c.length, 0) + Buffer.byteLength(config);
    tails.push({ name, cut: cut.index, model, config, bytes, batched });
  }
  return { tails, totalBytes: tails.reduce((n, t) => n + t.bytes, 0) };
}

/** Write a plan's tails under `outDir` (each config.pbtxt atomically). Returns the model names. */
export function writeTriton(plan: TritonPlan, outDir: string): string[] {
  for (const t of plan.tails) {
    const dir = join(outDir, t.name);
    outputDir(join(dir, "1"), "--out");
    saveModel(t.model, join(dir, "1", "model.onnx"));
    const tmp = join(dir, `.config.pbtxt.${process.pid}`);
    writeFileSync(tmp, t.config);
    renameSync(tmp, join(dir, "config.pbtxt"));
  }
  return plan.tails.map((t) => t.name);
}

/** Plan and write in one step (no size limit). */
export function exportTriton(a: ModelAnalysis, outDir: string, opts: TritonExportOptions): string[] {
  return writeTriton(planTriton(a, opts), outDir);
}
