import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { saveModel } from "../model/onnxModel.js";
import { splitModel } from "../model/splitModel.js";
import type { TensorShape } from "../model/tensorShapes.js";
import { UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";

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
}

function tensorBlock(s: TensorShape, batched: boolean): string {
  const type = TRITON_TYPES[s.dtype];
  if (type === undefined) throw new UsageError(`tensor ${s.name} has type ${s.dtype}, which Triton's config cannot express`);
  // batched: Triton adds the leading batch dim; otherwise every dim that follows the batch is variable (-1), wherever it is
  const dims = batched ? s.shape.slice(1) : s.shape.map((d, i) => (s.batchDims[i] === true ? -1 : d));
  return `  {\n    name: ${JSON.stringify(s.name)}\n    data_type: ${type}\n    dims: [ ${dims.join(", ")} ]\n  }`;
}

/**
 * A Triton model repository with one model per tail (`<name>.tail.<cut>/config.pbtxt` and
 * `1/model.onnx`), for Triton or KServe's Triton runtime; the edge daemon needs only the URL.
 */
export function exportTriton(a: ModelAnalysis, outDir: string, opts: TritonExportOptions): string[] {
  const written: string[] = [];
  for (const index of opts.cuts) {
    const { cut, tail } = splitModel(a, index);
    if (tail === null) throw new UsageError(`cut ${index} runs everything on the device: it has no tail (tails exist for cuts 0-${a.cuts.length - 2})`);
    const inputs = cut.tensors.map((t) => a.shapes.get(t.name) as TensorShape);
    const outputs = a.graph.outputs.map((o) => a.shapes.get(o) as TensorShape);
    // Triton batches along a leading dimension every input and output must share.
    const batched = opts.maxBatch > 0 && [...inputs, ...outputs].every((s) => s.batchDims[0] === true && s.batchDims.slice(1).every((b) => !b));
    const name = `${opts.name}.tail.${cut.index}`;
    const dir = join(outDir, name);
    outputDir(join(dir, "1"), "--out");
    saveModel(tail, join(dir, "1", "model.onnx"));
    const config = [
      `name: ${JSON.stringify(name)}`,
      'platform: "onnxruntime_onnx"',
      `max_batch_size: ${batched ? opts.maxBatch : 0}`,
      `input [\n${inputs.map((s) => tensorBlock(s, batched)).join(",\n")}\n]`,
      `output [\n${outputs.map((s) => tensorBlock(s, batched)).join(",\n")}\n]`,
      `instance_group [\n  {\n    kind: ${opts.kind}\n    count: 1\n  }\n]`,
      `parameters {\n  key: "splitwatt_cut"\n  value: { string_value: ${JSON.stringify(JSON.stringify({ index: cut.index, bytes: cut.bytes, headMacs: cut.headMacs, model: a.model.sha256 }))} }\n}`,
      "",
    ].join("\n");
    const tmp = join(dir, `.config.pbtxt.${process.pid}`);
    writeFileSync(tmp, config);
    renameSync(tmp, join(dir, "config.pbtxt"));
    written.push(name);
  }
  return written;
}
