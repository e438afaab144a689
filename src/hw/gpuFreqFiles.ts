/**
 * The sysfs attributes of the two GPU frequency interfaces splitwatt drives, and their units:
 * - devfreq (`/sys/class/devfreq/<dev>/`, Documentation/ABI/testing/sysfs-class-devfreq):
 *   frequencies in Hz; `governor` + `available_governors`; `min_freq` / `max_freq` are the
 *   limits in force; the userspace governor adds `userspace/set_freq` while it is active.
 * - Intel i915 (`/sys/class/drm/cardN/`, drivers/gpu/drm/i915/gt/intel_gt_sysfs_pm.c):
 *   frequencies in MHz; `gt_min_freq_mhz` / `gt_max_freq_mhz` are the soft limits in force,
 *   `gt_RPn_freq_mhz` .. `gt_RP0_freq_mhz` the hardware range; no governor.
 */
export type GpuFreqKind = "devfreq" | "i915";

export interface GpuFreqFiles {
  min: string;
  max: string;
  cur: string;
  /** kHz per file unit: 0.001 for Hz, 1000 for MHz */
  kHzPerUnit: number;
  governor: string | null;
  governors: string | null;
  /** the userspace governor's request file, relative to the device directory */
  setFreq: string | null;
}

const FILES: Record<GpuFreqKind, GpuFreqFiles> = {
  devfreq: {
    min: "min_freq",
    max: "max_freq",
    cur: "cur_freq",
    kHzPerUnit: 0.001,
    governor: "governor",
    governors: "available_governors",
    setFreq: "userspace/set_freq",
  },
  i915: { min: "gt_min_freq_mhz", max: "gt_max_freq_mhz", cur: "gt_cur_freq_mhz", kHzPerUnit: 1000, governor: null, governors: null, setFreq: null },
};

export function gpuFreqFiles(kind: GpuFreqKind): GpuFreqFiles {
  return FILES[kind];
}
