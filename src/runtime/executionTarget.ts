/**
 * Where an onnxruntime session runs: the one execution-target type for both sides.
 *
 * - `cpu`: onnxruntime's own thread choice; `cpu:N`: N intra-op threads (1-256).
 * - `cuda`, `tensorrt`: server side only, and only where onnxruntime-node's CUDA build is
 *   installed (detected, never assumed: see the README's "CUDA on a GPU server").
 *
 * The device side offers what the board can run a head on; the server side what a tail
 * server can run tails on. Names are canonical (`cpu:0` is `cpu`), so configs and store keys
 * match however the user spelled them.
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";

export type ExecutionTarget = { kind: "cpu"; threads: number } | { kind: "cuda" } | { kind: "tensorrt" };

/** Which side a target is for: the edge device (heads) or the tail server. */
export type TargetSide = "device" | "server";

const SIDE_KINDS: Record<TargetSide, readonly ExecutionTarget["kind"][]> = {
  device: ["cpu"],
  server: ["cpu", "cuda", "tensorrt"],
};

/** onnxruntime-node's bundled execution providers (what this install can run). */
function bundledBackends(): string[] {
  return ort
    .listSupportedBackends()
    .filter((b) => b.bundled)
    .map((b) => b.name);
}

/** Parse `cpu`, `cpu:N`, `cuda`, `tensorrt` for a side; anything else is a one-line UsageError saying what the side offers. */
export function parseExecutionTarget(text: string, side: TargetSide): ExecutionTarget {
  const offered = SIDE_KINDS[side];
  const m = /^cpu(?::(\d+))?$/.exec(text);
  if (m !== null) {
    const threads = m[1] === undefined ? 0 : Number(m[1]);
    if (threads > 256) throw new UsageError(`${side} target ${text}: at most 256 threads (cpu:1 ... cpu:256, or cpu for onnxruntime's choice)`);
    return { kind: "cpu", threads };
  }
  if ((text === "cuda" || text === "tensorrt") && offered.includes(text)) return { kind: text };
  const names = offered.map((k) => (k === "cpu" ? "cpu, cpu:N" : k)).join(", ");
  const extra = side === "device" ? `; this onnxruntime-node bundles ${bundledBackends().join(", ") || "cpu"}, and accelerator heads are not supported yet` : "";
  throw new UsageError(`${side} target "${text}" is not available here: use ${names}${extra}`);
}

/** The canonical name: `cpu`, `cpu:N`, `cuda`, `tensorrt`. */
export function executionTargetName(t: ExecutionTarget): string {
  if (t.kind === "cpu") return t.threads === 0 ? "cpu" : `cpu:${t.threads}`;
  return t.kind;
}

/** The canonical spelling of a target given as text (parses it for `side`). */
export function canonicalTargetName(text: string, side: TargetSide): string {
  return executionTargetName(parseExecutionTarget(text, side));
}

/**
 * Refuse a target whose execution provider this onnxruntime-node does not have (CUDA and
 * TensorRT need the CUDA build, which `.npmrc` skips by default).
 */
export function checkTargetInstalled(t: ExecutionTarget): void {
  if (t.kind === "cpu") return;
  if (!bundledBackends().includes(t.kind)) {
    throw new UsageError(
      `the ${t.kind} execution provider is not installed in this onnxruntime-node (it was installed with onnxruntime-node-install=skip): see the README's "CUDA on a GPU server", or use --target cpu`,
    );
  }
}

/** The session options a target implies (execution providers, threads). */
export function targetSessionOptions(t: ExecutionTarget): ort.InferenceSession.SessionOptions {
  if (t.kind === "cpu") return { executionProviders: ["cpu"], ...(t.threads > 0 ? { intraOpNumThreads: t.threads } : {}) };
  return { executionProviders: [t.kind] };
}
