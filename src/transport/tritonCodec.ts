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
 * The scale and zero point travel once per row (the same value repeated over the rows of one
 * request), because Triton's dynamic batcher concatenates requests along the batch dimension:
 * each row then keeps its own request's scale. Compression (+deflate, +zstd) has no plain form.
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
  const e = encodeTensor(t.data as Float32Array, t.shape, spec);
  const b = e.bytes;
  const rows = batched ? (t.shape[0] ?? 1) : 1;
  switch (spec.codec) {
    case "raw":
      return [{ name: t.name, datatype: "FP32", shape: e.shape, data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) }];
    case "fp16":
      return [{ name: t.name, datatype: "FP16", shape: e.shape, data: new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) }];
    case "int8":
    case "int8-channel": {
      const perChannel = spec.codec === "int8-channel";
      const scales = perChannel ? (JSON.parse(String(e.parameters.sw_scales)) as number[]) : [Number(e.parameters.sw_scale)];
      const zeros = perChannel ? (JSON.parse(String(e.parameters.sw_zero_points)) as number[]) : [Number(e.parameters.sw_zero_point)];
      if (perChannel && batched && e.parameters.sw_axis === 0) {
        throw new UsageError(`int8-channel along axis 0 of ${t.name} is the batch axis: give the channel axis (1 for NCHW) for a stock server`);
      }
      const k = scales.length;
      const scale = new Float32Array(rows * k);
      const zero = new Int8Array(rows * k);
      for (let r = 0; r < rows; r++) {
        scale.set(scales, r * k);
        zero.set(zeros, r * k);
      }
      const shape = batched ? [rows, k] : [k];
      return [
        { name: t.name, datatype: "INT8", shape: e.shape, data: new Int8Array(b.buffer, b.byteOffset, b.byteLength) },
        { name: scaleInputName(t.name), datatype: "FP32", shape, data: scale },
        { name: zeroPointInputName(t.name), datatype: "INT8", shape: [...shape], data: zero },
      ];
    }
  }
}
