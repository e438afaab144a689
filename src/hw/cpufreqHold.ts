/**
 * Holding the CPU frequency for a long-running process (the daemon): the policies are read
 * once, their original state saved (state file + memory), the governor taken once, and each
 * switch then writes only what changes:
 *
 *   userspace-setspeed  (the driver offers the userspace governor and scaling_setspeed)
 *                       at start: governor -> userspace, limits opened to the hardware's;
 *                       per switch: scaling_setspeed, read back (one write + one read per policy)
 *   minmax-pin          (otherwise: intel_pstate, amd-pstate, cppc, ...)
 *                       per switch: scaling_min_freq / scaling_max_freq, in the order that keeps
 *                       min <= max, skipping a limit already at its value; read back the two
 *
 * A switch to the frequency already applied writes nothing. `release()` puts every policy back
 * as it was (synchronous, for exit paths); a process that dies leaves the state file, which the
 * next Cpufreq change (or `recover()`) restores first.
 */
import { join } from "node:path";
import { RejectedError } from "../errors.js";
import type { CpufreqGuard } from "./cpufreqGuard.js";
import type { CpufreqPolicy, SetFrequencyMethod, SetFrequencyResult } from "./cpufreqPolicy.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import { parseUInt } from "./parse.js";

/** What a hold needs of the Cpufreq that made it. */
export interface HoldContext {
  policies: CpufreqPolicy[];
  guard: CpufreqGuard;
  snap: (p: CpufreqPolicy, requestedKHz: number) => number;
  write: (p: CpufreqPolicy, file: string, value: string) => Promise<void>;
  read: (p: CpufreqPolicy, files: string[]) => Promise<string[]>;
}

interface Held {
  policy: CpufreqPolicy;
  method: SetFrequencyMethod;
  /** the frequency applied by this hold, null before the first switch */
  appliedKHz: number | null;
  /** the limits in force (tracked: never re-read) */
  minKHz: number;
  maxKHz: number;
}

export interface FrequencyHold {
  /** the policies as they were when the hold began */
  readonly policies: readonly CpufreqPolicy[];
  /** how each policy is switched */
  readonly methods: Readonly<Record<string, SetFrequencyMethod>>;
  /** the mean frequency applied now, kHz (null before the first switch and after release) */
  readonly appliedKHz: number | null;
  /** switches that wrote something */
  readonly switches: number;
  /** whether every policy offers `requestedKHz` (within the snap tolerance); throws E_REJECTED naming the first that does not */
  check(requestedKHz: number): void;
  /** Switch every policy to the offered frequency nearest `requestedKHz`; writes nothing when it is applied already. */
  set(requestedKHz: number): Promise<{ changed: boolean; results: SetFrequencyResult[] }>;
  /** Put every policy back as it was and end the hold (idempotent); returns the policies restored. */
  release(): string[];
}

export async function cpufreqHold(ctx: HoldContext): Promise<FrequencyHold> {
  const held: Held[] = [];
  for (const p of ctx.policies) {
    ctx.guard.save(p);
    const userspace = p.setspeed && p.governors.includes("userspace");
    held.push({ policy: p, method: userspace ? "userspace-setspeed" : "minmax-pin", appliedKHz: null, minKHz: p.scalingMinKHz, maxKHz: p.scalingMaxKHz });
  }
  // take the governor once (and open the limits, which the userspace governor clamps setspeed into)
  for (const h of held) {
    if (h.method !== "userspace-setspeed") continue;
    const p = h.policy;
    if (p.governor !== "userspace") await ctx.write(p, "scaling_governor", "userspace");
    for (const [f, v] of minMaxWritePlan({ minKHz: h.minKHz, maxKHz: h.maxKHz }, { minKHz: p.minKHz, maxKHz: p.maxKHz })) {
      if ((f === "scaling_min_freq" ? h.minKHz : h.maxKHz) !== v) await ctx.write(p, f, String(v));
    }
    h.minKHz = p.minKHz;
    h.maxKHz = p.maxKHz;
  }
  let released = false;
  let switches = 0;

  const switchOne = async (h: Held, targetKHz: number, requestedKHz: number): Promise<SetFrequencyResult> => {
    const p = h.policy;
    if (h.method === "userspace-setspeed") {
      await ctx.write(p, "scaling_setspeed", String(targetKHz));
      const [back] = await ctx.read(p, ["scaling_setspeed"]);
      const applied = parseUInt(back as string, join(p.path, "scaling_setspeed"));
      if (applied !== targetKHz) {
        throw new RejectedError(`${p.id} runs at ${applied} kHz after setting ${targetKHz} kHz through scaling_setspeed (limited by firmware or thermal?)`, { path: join(p.path, "scaling_setspeed") });
      }
      h.appliedKHz = applied;
      return { policy: p.id, requestedKHz, appliedKHz: applied, method: h.method, curKHz: null };
    }
    for (const [f, v] of minMaxWritePlan({ minKHz: h.minKHz, maxKHz: h.maxKHz }, { minKHz: targetKHz, maxKHz: targetKHz })) {
      if ((f === "scaling_min_freq" ? h.minKHz : h.maxKHz) === v) continue;
      await ctx.write(p, f, String(v));
      if (f === "scaling_min_freq") h.minKHz = v;
      else h.maxKHz = v;
    }
    const [minText, maxText] = await ctx.read(p, ["scaling_min_freq", "scaling_max_freq"]);
    const min = parseUInt(minText as string, join(p.path, "scaling_min_freq"));
    const max = parseUInt(maxText as string, join(p.path, "scaling_max_freq"));
    h.minKHz = min;
    h.maxKHz = max;
    // drivers without a table round to their own granularity (intel_pstate: 100 MHz ratios)
    const slack = p.availableKHz === null ? Math.max(0.01 * targetKHz, 50_000) : 0;
    if (min !== max || Math.abs(max - targetKHz) > slack) {
      throw new RejectedError(`${p.id} limits read back as ${min}-${max} kHz after pinning ${targetKHz} kHz`, { path: join(p.path, "scaling_max_freq") });
    }
    h.appliedKHz = targetKHz;
    return { policy: p.id, requestedKHz, appliedKHz: max, method: h.method, curKHz: null };
  };

  return {
    policies: ctx.policies,
    methods: Object.fromEntries(held.map((h) => [h.policy.id, h.method])),
    get appliedKHz() {
      if (released || held.some((h) => h.appliedKHz === null)) return null;
      return held.reduce((s, h) => s + (h.appliedKHz as number), 0) / held.length;
    },
    get switches() {
      return switches;
    },
    check(requestedKHz) {
      for (const h of held) ctx.snap(h.policy, requestedKHz);
    },
    async set(requestedKHz) {
      if (released) throw new RejectedError("the frequency hold was released: frequencies are no longer controlled");
      const targets = held.map((h) => ctx.snap(h.policy, requestedKHz));
      const results: SetFrequencyResult[] = [];
      let changed = false;
      for (const [i, h] of held.entries()) {
        const t = targets[i] as number;
        if (h.appliedKHz === t) {
          results.push({ policy: h.policy.id, requestedKHz, appliedKHz: t, method: h.method, curKHz: null });
          continue;
        }
        changed = true;
        results.push(await switchOne(h, t, requestedKHz));
      }
      if (changed) switches++;
      return { changed, results };
    },
    release() {
      if (released) return [];
      released = true;
      return ctx.guard.restoreNow();
    },
  };
}
