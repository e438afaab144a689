/**
 * Cut tensors for a stock Open Inference Protocol server (Triton, KServe) serving the tails
 * `splitwatt export-triton --codec C` wrote: plain tensors, no `sw_*` parameters, decoded by
 * nodes the exporter prepended to the tail's graph (src/model/tailDecodeGraph.ts).
 *
 *   raw           NAME  FP32, the cut tensor as it is
 *   fp16          NAME  FP16 (the graph casts it to float)
 *   int8          NAME  INT8, NAME_scale FP32 and NAME_zero_point INT8 of shape [rows, 1]
 *                 (a tensor without a batch dimension: [1]); real = (q - zero_point) x scale
 *   int8-channel  NAME  INT8, NAME_scale / NAME_zero_point of shape [rows, C] (or [C]), one per
 *                 channel along the codec's axis (not the batch axis)
 *
 * Each row is quantized on its own and its scale and zero point travel with it (a row of
 * NAME_scale per row of NAME): Triton's dynamic batcher concatenates requests along the batch
 * dimension, so every row keeps its own parameters, and a row decodes exactly as it would have
 * alone. Compression (+deflate, +zstd) has no plain form.
 */
import { UsageError } from "../errors.js";
import { codecName, encodeTensor, type CodecSpec } from "./codecs/codecs.js";
import type { OipTensor } from "./oip/index.js";

export const SERVER_KINDS = ["splitwatt", "triton"] as const;
/** splitwatt: `splitwatt serve` (codecs as parameters, load signal); triton: a stock OIP server (Triton, KServe) */
export type ServerKind = (typeof SERVER_KINDS)[number];

/** The codecs an exported tail can decode in its graph. */
export const TRITON_CODECS = ["raw", "fp16", "int8", "int8-channel"] as const;

export const scaleInputName = (tensor: string): string => `${tensor}_scale`;
export const zeroPointInputName = (tensor: string): string => `${tensor}_zero_point`;

/** A codec a stock server's exported tail can take; UsageError otherwise. */
export function checkTritonCodec(spec: CodecSpec): void {
  if (spec.compression !== "none") {
    throw new UsageError(`codec ${codecName(spec)}: a stock server (Triton, KServe) cannot decompress; use ${TRITON_CODECS.join(", ")} without +deflate/+zstd`);
  }
}

/**
 * The plain tensors that carry FP32 tensor `t` with `spec` to an exported tail. `batched`: the
 * tensor's first dimension is the batch (scale and zero point then get one row per row of `t`).
 */
export function tritonTensors(t: OipTensor, spec: CodecSpec, batched: boolean): OipTensor[] {
  checkTritonCodec(spec);
  const data = t.data as Float32Array;
  switch (spec.codec) {
    case "raw":
      return [{ name: t.name, datatype: "FP32", shape: [...t.shape], data: new Float32Array(data) }];
    case "fp16": {
      const b = encodeTensor(data, t.shape, spec).bytes;
      return [{ name: t.name, datatype: "FP16", shape: [...t.shape], data: new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) }];
    }
    case "int8":
    case "int8-channel": {
      // each row quantized on its own, so its scale and zero point are what it would get alone
      const rows = batched ? (t.shape[0] ?? 1) : 1;
      const rowShape = batched ? [1, ...t.shape.slice(1)] : [...t.shape];
      const per = rows === 0 ? 0 : data.length / rows;
      const q = new Int8Array(data.length);
      const scales: number[] = [];
      const zeros: number[] = [];
      for (let r = 0; r < rows; r++) {
        const e = encodeTensor(data.subarray(r * per, (r + 1) * per), rowShape, spec);
        q.set(new Int8Array(e.bytes.buffer, e.bytes.byteOffset, e.bytes.byteLength), r * per);
        if (spec.codec === "int8") {
          scales.push(Number(e.parameters.sw_scale));
          zeros.push(Number(e.parameters.sw_zero_point));
        } else {
          if (batched && e.parameters.sw_axis === 0) throw new UsageError(`int8-channel along axis 0 of ${t.name} is the batch axis: give the channel axis (1 for NCHW) for a stock server`);
          scales.push(...(JSON.parse(String(e.parameters.sw_scales)) as number[]));
          zeros.push(...(JSON.parse(String(e.parameters.sw_zero_points)) as number[]));
        }
      }
      const k = rows === 0 ? 0 : scales.length / rows;
      const shape = batched ? [rows, k] : [k];
      return [
        { name: t.name, datatype: "INT8", shape: [...t.shape], data: q },
        { name: scaleInputName(t.name), datatype: "FP32", shape, data: Float32Array.from(scales) },
        { name: zeroPointInputName(t.name), datatype: "INT8", shape: [...shape], data: Int8Array.from(zeros) },
      ];
    }
  }
}
