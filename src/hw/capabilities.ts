import { join } from "node:path";
import { affinity } from "./affinity.js";
import type { CpufreqPolicy } from "./cpufreq.js";
import type { EnergyDiscovery } from "./energySources.js";
import type { Roots } from "./roots.js";

/** For each feature: available or not, why, and what the user can do. */
export interface Capability {
  name: string;
  available: boolean;
  reason: string;
  fix: string | null;
}

const CPUFREQ_WRITE_FIX =
  'run as root, or let a group write the cpufreq files with a udev rule, e.g. SUBSYSTEM=="cpu", ACTION=="add", RUN+="/bin/sh -c \'chgrp splitwatt /sys%p/cpufreq/scaling_* && chmod g+w /sys%p/cpufreq/scaling_*\'"';

function errnoName(e: number): string {
  return e === 13 ? "EACCES" : e === 1 ? "EPERM" : e === 30 ? "EROFS" : e === 2 ? "ENOENT" : `errno ${e}`;
}

/** Capabilities of this machine, from what discovery found plus access(2) checks on the control files. */
export function capabilities(r: Roots, policies: CpufreqPolicy[], energy: EnergyDiscovery): Capability[] {
  const out: Capability[] = [];
  const cpuDir = r.sys("devices/system/cpu");
  const first = policies[0];
  if (first === undefined) {
    out.push({
      name: "cpufreq",
      available: false,
      reason: `missing: no cpufreq policies under ${cpuDir} (a virtual machine or container without a cpufreq driver)`,
      fix: "frequency control needs a cpufreq driver (acpi-cpufreq, intel_pstate, amd-pstate, cpufreq-dt); in a VM the host owns the clocks. splitwatt runs at the current frequency.",
    });
    out.push({ name: "cpufreq.set", available: false, reason: "missing: no cpufreq policies", fix: null });
  } else {
    const drivers = [...new Set(policies.map((p) => p.driver))].join(", ");
    out.push({ name: "cpufreq", available: true, reason: `${policies.length} policy(ies), driver ${drivers}`, fix: null });
    const userspace = first.setspeed && first.governors.includes("userspace");
    const files = userspace ? ["scaling_governor", "scaling_setspeed"] : ["scaling_min_freq", "scaling_max_freq"];
    const method = userspace ? "userspace governor + scaling_setspeed" : `pin scaling_min_freq = scaling_max_freq (${first.driver} has no userspace governor)`;
    const denied = files.map((f) => [f, r.io.access(join(first.path, f), "w")] as const).find(([, e]) => e !== 0);
    if (denied === undefined) out.push({ name: "cpufreq.set", available: true, reason: `writable; method: ${method}`, fix: null });
    else {
      const [f, e] = denied;
      out.push({
        name: "cpufreq.set",
        available: false,
        reason: `${e === 30 ? "read-only" : e === 13 || e === 1 ? "not permitted" : errnoName(e)}: cannot write ${join(first.path, f)}`,
        fix: e === 30 ? "/sys is mounted read-only (a container?): run on the host or mount /sys read-write" : CPUFREQ_WRITE_FIX,
      });
    }
  }
  for (const p of energy.probes) out.push({ name: `energy.${p.kind}`, available: p.available, reason: p.reason, fix: p.fix });
  try {
    const cpus = affinity.get();
    out.push({ name: "affinity", available: true, reason: `sched_setaffinity works; this process may run on CPUs ${cpus.join(",")}`, fix: null });
  } catch (err) {
    out.push({ name: "affinity", available: false, reason: `sched_getaffinity failed: ${(err as Error).message}`, fix: null });
  }
  return out;
}
