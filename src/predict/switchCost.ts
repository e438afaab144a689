/**
 * What moving from one configuration to another costs the daemon beyond the new configuration's
 * steady request, from what was measured (a pareto-file entry's `switchCost`). Pure.
 *
 *   accelerator  the head's target changes (cpu -> webgpu, webgpu -> cpu:2, ...): the new
 *                configuration's measured acceleratorMs (its head's session creation plus the
 *                first run's excess over the steady state: shader compilation on WebGPU;
 *                src/runtime/warmUp.ts acceleratorSwitchCostMs)
 *   gpuFreq      the GPU clock changes: the new configuration's measured gpuFreqMs (the time
 *                the clock took to set and verify; src/hw/gpufreq.ts gpuFreqSwitchCostMs)
 *
 * Nothing changes, nothing is counted (0); at split 0 no head runs, so a device target change
 * costs nothing either. A change whose cost was not measured (an entry from a file written before
 * switch costs were recorded) is null, and so is the total: the caller decides, it is not
 * silently 0. The first request (`from` null)
 * counts as a change of everything. The daemon calls this when its policy compares a candidate
 * with the configuration it runs now, and measures the real cost again when it switches
 * (SplitExecutor.warmUpHead, Gpufreq.setFrequency), since caches make later switches cheaper.
 */
import type { Config, SwitchCost } from "../contracts/measurement.js";

export interface SwitchCostMs {
  /** 0: same target; null: changed, cost not measured */
  acceleratorMs: number | null;
  /** 0: same GPU clock (or none); null: changed, cost not measured */
  gpuFreqMs: number | null;
  /** the sum; null when a part is */
  totalMs: number | null;
}

export function switchCostMs(from: Config | null, to: { config: Config; switchCost?: SwitchCost | undefined }): SwitchCostMs {
  const changed = (dim: string): boolean => to.config[dim] !== undefined && (from === null || from[dim] !== to.config[dim]);
  // a head that does not run (split 0) costs no switch: there is nothing to load
  const headRuns = to.config.split !== 0;
  const acceleratorMs = headRuns && changed("deviceTarget") ? (to.switchCost?.acceleratorMs ?? null) : 0;
  const gpuFreqMs = changed("gpuFreqMHz") ? (to.switchCost?.gpuFreqMs ?? null) : 0;
  return { acceleratorMs, gpuFreqMs, totalMs: acceleratorMs === null || gpuFreqMs === null ? null : acceleratorMs + gpuFreqMs };
}
