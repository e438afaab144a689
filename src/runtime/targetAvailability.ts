/**
 * Which execution targets this machine can run, asked for real: `cpu` always, `cpu:N` within the
 * cores, `webgpu` only when the WebGPU probe (webgpu.ts: a real session in a child process,
 * cached per process) got an adapter, `cuda`/`tensorrt` only where onnxruntime-node's CUDA build
 * is installed. A target that is not available is refused in one line with the probe's reason
 * and the fix (exit 2).
 */
import { availableParallelism } from "node:os";
import { UnsupportedError } from "../errors.js";
import { checkTargetInstalled, executionTargetName, type ExecutionTarget, type TargetSide } from "./executionTarget.js";
import { webgpuProbe } from "./webgpu.js";

/** Why `t` cannot run here, or null when it can (WebGPU: the probe's reason, which ends with the fix). */
export async function targetUnavailableReason(t: ExecutionTarget): Promise<string | null> {
  if (t.kind === "cpu") return null;
  if (t.kind === "webgpu") {
    const p = await webgpuProbe();
    return p.available ? null : p.reason;
  }
  try {
    checkTargetInstalled(t);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Refuse (UnsupportedError, exit 2, one line) a target this machine cannot run. */
export async function ensureTargetAvailable(t: ExecutionTarget, side: TargetSide): Promise<void> {
  const reason = await targetUnavailableReason(t);
  if (reason !== null) throw new UnsupportedError(`${side} target ${executionTargetName(t)} is not available here: ${reason}`);
}

/**
 * Thread counts offered besides onnxruntime's own choice: the powers of two below the core
 * count (1 on 2 cores; 1, 2 on 4; 1, 2, 4 on 8), so a smaller, lower-power head is searched
 * without multiplying the space by every count.
 */
export function cpuThreadChoices(cores: number): number[] {
  const out: number[] = [];
  for (let n = 1; n < cores; n *= 2) out.push(n);
  return out;
}

/**
 * The targets a search offers by default on this machine: `cpu`, `cpu:N` (cpuThreadChoices) and
 * `webgpu` when the probe gets an adapter. The same list serves the device and a local tail
 * server (both run here).
 */
export async function offeredTargets(cores = availableParallelism()): Promise<string[]> {
  const out = ["cpu", ...cpuThreadChoices(cores).map((n) => `cpu:${n}`)];
  if ((await webgpuProbe()).available) out.push("webgpu");
  return out;
}
