import { join } from "node:path";
import type { Capability } from "./capabilities.js";
import { gpuFreqFiles } from "./gpuFreqFiles.js";
import type { GpuFreqDevice } from "./gpufreq.js";
import type { Roots } from "./roots.js";

const GPUFREQ_WRITE_FIX =
  'run as root, or let a group write the files with a udev rule, e.g. SUBSYSTEM=="devfreq", ACTION=="add", RUN+="/bin/sh -c \'chgrp splitwatt /sys%p/governor /sys%p/min_freq /sys%p/max_freq && chmod g+w /sys%p/governor /sys%p/min_freq /sys%p/max_freq\'" (i915: SUBSYSTEM=="drm" and gt_min_freq_mhz, gt_max_freq_mhz)';

/** `gpufreq` and `gpufreq.set`: whether GPU clocks are there and writable, with the method and the fix. */
export function gpuCapabilities(r: Roots, gpus: GpuFreqDevice[]): Capability[] {
  const first = gpus[0];
  if (first === undefined) {
    return [
      {
        name: "gpufreq",
        available: false,
        reason: `missing: no devfreq GPU under ${r.sys("class/devfreq")} and no i915 card under ${r.sys("class/drm")}`,
        fix: "GPU frequency control needs a devfreq GPU driver (Jetson nvgpu, Mali panfrost/panthor) or Intel's i915; the Raspberry Pi's V3D clock belongs to the firmware. splitwatt runs the GPU at whatever its driver picks.",
      },
      { name: "gpufreq.set", available: false, reason: "missing: no GPU frequency control", fix: null },
    ];
  }
  const out: Capability[] = [{ name: "gpufreq", available: true, reason: `${gpus.length} GPU(s): ${gpus.map((g) => `${g.id} (${g.driver ?? "driver unknown"})`).join(", ")}`, fix: null }];
  const files = gpuFreqFiles(first.kind);
  const userspace = first.kind === "devfreq" && first.userspace;
  const writable = userspace ? [files.governor as string] : [files.min, files.max];
  const method = userspace ? "userspace governor + userspace/set_freq" : `pin ${files.min} = ${files.max}${first.kind === "devfreq" ? " (no userspace governor)" : ""}`;
  const denied = writable.map((f) => [f, r.io.access(join(first.path, f), "w")] as const).find(([, e]) => e !== 0);
  if (denied === undefined) {
    out.push({ name: "gpufreq.set", available: true, reason: `writable (${first.id}); method: ${method}`, fix: null });
  } else {
    const [f, e] = denied;
    out.push({
      name: "gpufreq.set",
      available: false,
      reason: `${e === 30 ? "read-only" : e === 13 || e === 1 ? "not permitted" : `errno ${e}`}: cannot write ${join(first.path, f)}`,
      fix: e === 30 ? "/sys is mounted read-only (a container?): run on the host or mount /sys read-write" : GPUFREQ_WRITE_FIX,
    });
  }
  return out;
}
