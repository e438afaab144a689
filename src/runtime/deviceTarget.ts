/**
 * Where the head runs on the device: `cpu` (onnxruntime's thread choice) or `cpu:N` (N intra-op
 * threads). Accelerators the device does not offer are refused with what it does offer.
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";

export interface DeviceTarget {
  kind: "cpu";
  /** intra-op threads; 0 = onnxruntime's default */
  threads: number;
}

/** Parse `cpu` / `cpu:N`; anything else is a one-line UsageError listing what this machine offers. */
export function deviceTarget(text: string): DeviceTarget {
  const m = /^cpu(?::(\d+))?$/.exec(text);
  if (m !== null) {
    const threads = m[1] === undefined ? 0 : Number(m[1]);
    if (threads > 256) throw new UsageError(`device target ${text}: at most 256 threads`);
    return { kind: "cpu", threads };
  }
  const offered = ort
    .listSupportedBackends()
    .filter((b) => b.bundled)
    .map((b) => b.name);
  throw new UsageError(
    `device target "${text}" is not available here: use cpu or cpu:N (this onnxruntime-node offers ${offered.join(", ") || "cpu"}; accelerator heads are not supported yet)`,
  );
}

/** The name a target has in configs: `cpu` or `cpu:N`. */
export function deviceTargetName(t: DeviceTarget): string {
  return t.threads === 0 ? "cpu" : `cpu:${t.threads}`;
}

/** onnxruntime session options for a target. */
export function deviceSessionOptions(t: DeviceTarget): ort.InferenceSession.SessionOptions {
  return { executionProviders: ["cpu"], ...(t.threads > 0 ? { intraOpNumThreads: t.threads } : {}) };
}
