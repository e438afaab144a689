import { join } from "node:path";
import { gpuFreqFiles, type GpuFreqKind } from "./gpuFreqFiles.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import type { Roots } from "./roots.js";

/** What a GPU frequency domain looked like before splitwatt touched it (values in the files' own unit). */
export interface SavedGpu {
  /** "devfreq:<dev>" or "i915:cardN" */
  id: string;
  kind: GpuFreqKind;
  /** real path of the device directory */
  path: string;
  /** devfreq governor, null for i915 */
  governor: string | null;
  /** limits in force: devfreq min_freq/max_freq (Hz), i915 gt_min/gt_max_freq_mhz (MHz) */
  limitMin: number;
  limitMax: number;
  /** devfreq userspace governor: the frequency to request again (Hz), else null */
  setFreq: number | null;
}

/**
 * Put saved GPU frequency domains back, synchronously (usable from 'exit' and signal hooks):
 * the governor first (leaving userspace drops its request), then the limits in the order that
 * keeps min <= max at every step, then the userspace request when the original governor was
 * userspace. Returns the ids restored; throws one error listing every domain that failed (the
 * others are restored regardless).
 */
export function restoreGpus(roots: Roots, gpus: Iterable<SavedGpu>): string[] {
  const { io } = roots;
  const done: string[] = [];
  const errors: string[] = [];
  for (const g of gpus) {
    const files = gpuFreqFiles(g.kind);
    try {
      if (files.governor !== null && g.governor !== null && io.readSync(join(g.path, files.governor)).trim() !== g.governor) {
        io.writeSync(join(g.path, files.governor), g.governor);
      }
      const num = (f: string): number => Number(io.readSync(join(g.path, f)).trim());
      const current = { minKHz: num(files.min), maxKHz: num(files.max) };
      for (const [f, v] of minMaxWritePlan(current, { minKHz: g.limitMin, maxKHz: g.limitMax })) {
        io.writeSync(join(g.path, f === "scaling_min_freq" ? files.min : files.max), String(v));
      }
      if (files.setFreq !== null && g.governor === "userspace" && g.setFreq !== null) io.writeSync(join(g.path, files.setFreq), String(g.setFreq));
      done.push(g.id);
    } catch (err) {
      errors.push(`${g.id}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) throw new Error(errors.join("; "));
  return done;
}
