/**
 * Where an onnxruntime session runs: the one execution-target type for both sides.
 *
 * - `cpu`: onnxruntime's own thread choice; `cpu:N`: N intra-op threads (1-256).
 * - `webgpu`: onnxruntime's WebGPU execution provider (Dawn over Vulkan; bundled in
 *   onnxruntime-node on Linux x64), on both sides. Parsing only checks the name: whether this
 *   machine has an adapter is the probe's answer (targetAvailability.ts, webgpu.ts). There is no
 *   `webgpu:low-power` / `webgpu:high-performance`: onnxruntime-node takes no power preference
 *   (its WebGPU provider refuses the option; onnxruntime's own default is high-performance).
 * - `cuda`, `tensorrt`: server side only, and only where onnxruntime-node's CUDA build is
 *   installed (detected, never assumed: see the README's "CUDA on a GPU server").
 *
 * The device side offers what the board can run a head on; the server side what a tail
 * server can run tails on. Names are canonical (`cpu:0` is `cpu`), so configs and store keys
 * match however the user spelled them.
 */
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";

export type ExecutionTarget = { kind: "cpu"; threads: number } | { kind: "webgpu" } | { kind: "cuda" } | { kind: "tensorrt" };

/** Which side a target is for: the edge device (heads) or the tail server. */
export type TargetSide = "device" | "server";

const SIDE_KINDS: Record<TargetSide, readonly ExecutionTarget["kind"][]> = {
  device: ["cpu", "webgpu"],
  server: ["cpu", "webgpu", "cuda", "tensorrt"],
};

/** onnxruntime-node's bundled execution providers (what this install can run). */
function bundledBackends(): string[] {
  return ort
    .listSupportedBackends()
    .filter((b) => b.bundled)
    .map((b) => b.name);
}

/** Parse `cpu`, `cpu:N`, `webgpu`, `cuda`, `tensorrt` for a side; anything else is a one-line UsageError saying what the side offers. */
export function parseExecutionTarget(text: string, side: TargetSide): ExecutionTarget {
  const offered = SIDE_KINDS[side];
  const m = /^cpu(?::(\d+))?$/.exec(text);
  if (m !== null) {
    const threads = m[1] === undefined ? 0 : Number(m[1]);
    if (threads > 256) throw new UsageError(`${side} target ${text}: at most 256 threads (cpu:1 ... cpu:256, or cpu for onnxruntime's choice)`);
    return { kind: "cpu", threads };
  }
  if (text === "webgpu") return { kind: "webgpu" };
  if (/^webgpu:/.test(text)) {
    throw new UsageError(
      `${side} target "${text}": onnxruntime-node takes no WebGPU power preference (its provider refuses the option; the adapter is onnxruntime's default, high-performance): use webgpu`,
    );
  }
  if ((text === "cuda" || text === "tensorrt") && offered.includes(text)) return { kind: text };
  const names = offered.map((k) => (k === "cpu" ? "cpu, cpu:N" : k)).join(", ");
  const extra = side === "device" ? `; this onnxruntime-node bundles ${bundledBackends().join(", ") || "cpu"}` : "";
  throw new UsageError(`${side} target "${text}" is not available here: use ${names}${extra}`);
}

/** The canonical name: `cpu`, `cpu:N`, `webgpu`, `cuda`, `tensorrt`. */
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
 * TensorRT need the CUDA build, which `.npmrc` skips by default). WebGPU is bundled on Linux x64;
 * whether an adapter is there is asked by targetAvailability.ts.
 */
export function checkTargetInstalled(t: ExecutionTarget): void {
  if (t.kind === "cpu" || t.kind === "webgpu") return;
  if (!bundledBackends().includes(t.kind)) {
    throw new UsageError(
      `the ${t.kind} execution provider is not installed in this onnxruntime-node (it was installed with onnxruntime-node-install=skip): see the README's "CUDA on a GPU server", or use --target cpu`,
    );
  }
}

/**
 * The session options a target implies (execution providers, threads). WebGPU: the provider with
 * onnxruntime's defaults (no options: the Node binding refuses unknown ones, powerPreference
 * included); nodes it has no kernel for fall back to the CPU provider, as onnxruntime does.
 */
export function targetSessionOptions(t: ExecutionTarget): ort.InferenceSession.SessionOptions {
  if (t.kind === "cpu") return { executionProviders: ["cpu"], ...(t.threads > 0 ? { intraOpNumThreads: t.threads } : {}) };
  if (t.kind === "webgpu") return { executionProviders: [{ name: "webgpu" }] };
  return { executionProviders: [t.kind] };
}

/** True for a target that runs on a GPU adapter (its sessions compile shaders on their first run). */
export function usesGpuAdapter(t: ExecutionTarget): boolean {
  return t.kind === "webgpu";
}
