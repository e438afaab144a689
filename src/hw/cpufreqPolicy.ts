import type { TimeInState } from "./parse.js";

/** One cpufreq policy (a group of CPUs sharing a clock), as the kernel shows it. */
export interface CpufreqPolicy {
  /** "policy0" (or "cpu0" on kernels without policy directories) */
  id: string;
  /** real path of the policy directory */
  path: string;
  /** related_cpus: every CPU of the policy, online or not */
  cpus: number[];
  /** affected_cpus: the online ones */
  onlineCpus: number[];
  driver: string;
  governor: string;
  governors: string[];
  /** scaling_available_frequencies ascending, or null when the driver offers no table (intel_pstate, amd-pstate, cppc) */
  availableKHz: number[] | null;
  /** hardware limits (cpuinfo_min_freq / cpuinfo_max_freq) */
  minKHz: number;
  maxKHz: number;
  /** limits in force (scaling_min_freq / scaling_max_freq) */
  scalingMinKHz: number;
  scalingMaxKHz: number;
  /** scaling_cur_freq, or null when not readable */
  curKHz: number | null;
  /** scaling_setspeed exists (the userspace governor can be used) */
  setspeed: boolean;
  timeInState: TimeInState[] | null;
}

export type SetFrequencyMethod = "userspace-setspeed" | "minmax-pin";

export interface SetFrequencyResult {
  policy: string;
  requestedKHz: number;
  appliedKHz: number;
  method: SetFrequencyMethod;
  /** scaling_cur_freq right after the change (null when unreadable or not read) */
  curKHz: number | null;
}
