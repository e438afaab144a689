import { basename, join } from "node:path";
import { RejectedError, UnsupportedError, UsageError } from "../errors.js";
import { cpufreqGuard, type CpufreqGuard, type SavedPolicy } from "./cpufreqGuard.js";
import { cpufreqHold, type FrequencyHold } from "./cpufreqHold.js";
import { attributeIO, type AttributeIO } from "./attributeIO.js";
import { ioError } from "./ioError.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import type { CpufreqPolicy, SetFrequencyResult } from "./cpufreqPolicy.js";
import { parseCpuList, parseKHzList, parseTimeInState, parseUInt, parseWords } from "./parse.js";
import { roots, type HwRootOptions, type Roots } from "./roots.js";
import type { ReadResult } from "./sysIO.js";

export type { CpufreqPolicy, SetFrequencyMethod, SetFrequencyResult } from "./cpufreqPolicy.js";


export interface CpufreqOptions extends HwRootOptions {
  /** directory of the restore state file (default: SPLITWATT_STATE_DIR or ~/.local/state/splitwatt) */
  stateDir?: string | undefined;
  /** install exit/SIGINT/SIGTERM restore hooks when the first change is made (default true) */
  restoreOnExit?: boolean | undefined;
  /** relative tolerance for snapping a request to an offered frequency (default 0.01) */
  snapTolerance?: number | undefined;
}

const REQUIRED = ["scaling_driver", "scaling_governor", "cpuinfo_min_freq", "cpuinfo_max_freq", "scaling_min_freq", "scaling_max_freq"] as const;
const OPTIONAL = [
  "related_cpus",
  "affected_cpus",
  "scaling_available_governors",
  "scaling_available_frequencies",
  "scaling_cur_freq",
  "scaling_setspeed",
  "stats/time_in_state",
] as const;
const FILES = [...REQUIRED, ...OPTIONAL];

const WRITE_HINTS = {
  notPermitted:
    'run as root, or let a group write the cpufreq files with a udev rule such as SUBSYSTEM=="cpu", ACTION=="add", RUN+="/bin/chgrp -R splitwatt /sys%p/cpufreq" plus chmod g+w',
};

/**
 * The frequency to write for a request: the offered frequency nearest to it when within
 * `tolerance` (relative), else E_REJECTED listing the offered ones. Without a table any value
 * inside the hardware limits is accepted.
 */
export function snapFrequency(policy: Pick<CpufreqPolicy, "id" | "availableKHz" | "minKHz" | "maxKHz">, requestedKHz: number, tolerance = 0.01): number {
  if (!Number.isFinite(requestedKHz) || requestedKHz <= 0) {
    throw new UsageError(`frequency must be a positive number of kHz, got ${requestedKHz}`);
  }
  const mhz = (k: number): string => `${+(k / 1000).toFixed(1)}`;
  if (policy.availableKHz !== null && policy.availableKHz.length > 0) {
    let best = policy.availableKHz[0] as number;
    for (const f of policy.availableKHz) if (Math.abs(f - requestedKHz) < Math.abs(best - requestedKHz)) best = f;
    if (Math.abs(best - requestedKHz) > tolerance * requestedKHz) {
      throw new RejectedError(
        `${mhz(requestedKHz)} MHz is not offered by ${policy.id}; offered MHz: ${policy.availableKHz.map(mhz).join(", ")}`,
      );
    }
    return best;
  }
  if (requestedKHz < policy.minKHz || requestedKHz > policy.maxKHz) {
    throw new RejectedError(`${mhz(requestedKHz)} MHz is outside ${policy.id}'s range ${mhz(policy.minKHz)}-${mhz(policy.maxKHz)} MHz`);
  }
  return Math.round(requestedKHz);
}

/** Read and control CPU frequency, one policy at a time, restoring the original state on exit. */
export class Cpufreq {
  readonly roots: Roots;
  readonly warnings: string[] = [];
  /** the restore guard (state file + exit hooks); share it with Gpufreq so both write one state file */
  readonly guard: CpufreqGuard;
  private readonly snapTolerance: number;
  private readonly attributes: AttributeIO;
  private recovered = false;

  constructor(opts: CpufreqOptions = {}) {
    this.roots = roots(opts);
    this.snapTolerance = opts.snapTolerance ?? 0.01;
    this.attributes = attributeIO(this.roots.io, WRITE_HINTS);
    this.guard = cpufreqGuard({ roots: this.roots, stateDir: opts.stateDir, installHooks: opts.restoreOnExit ?? true, onWarning: (w) => this.warnings.push(w) });
  }

  /** Restore what a previous run that died left behind (its state file). Returns the policies restored. */
  recover(): string[] {
    return this.guard.recoverStale();
  }

  /** Policies a run that died left changed (restored by recover() or the next change). */
  leftBehind(): string[] {
    return this.guard.stale().map((p) => p.id);
  }

  /** Restore every policy this process changed. */
  restore(): string[] {
    return this.guard.restoreNow();
  }

  /** Every policy, deduplicated (cpuN/cpufreq are symlinks to their policy). Malformed policies are skipped with a warning. */
  async policies(): Promise<CpufreqPolicy[]> {
    const dirs = await this.policyDirs();
    const out: CpufreqPolicy[] = [];
    for (const dir of dirs) {
      const p = await this.readPolicy(dir);
      if (p !== null) out.push(p);
    }
    return out.sort((a, b) => (a.cpus[0] ?? 0) - (b.cpus[0] ?? 0));
  }

  async policy(id: string): Promise<CpufreqPolicy> {
    const all = await this.policies();
    const p = all.find((x) => x.id === id || x.id === `policy${id}`);
    if (p === undefined) {
      throw new UsageError(
        all.length === 0
          ? `no cpufreq policies under ${this.roots.sys("devices/system/cpu")}: this machine offers no frequency control`
          : `no cpufreq policy "${id}"; policies: ${all.map((x) => x.id).join(", ")}`,
      );
    }
    return p;
  }

  private async policyDirs(): Promise<string[]> {
    const { io } = this.roots;
    const cpuDir = this.roots.sys("devices/system/cpu");
    const candidates: string[] = [];
    const cpufreqDir = join(cpuDir, "cpufreq");
    if (io.access(cpufreqDir, "f") === 0) {
      for (const e of await io.list(cpufreqDir)) if (/^policy\d+$/.test(e.name)) candidates.push(join(cpufreqDir, e.name));
    }
    if (io.access(cpuDir, "f") === 0) {
      for (const e of await io.list(cpuDir)) {
        if (!/^cpu\d+$/.test(e.name)) continue;
        const d = join(cpuDir, e.name, "cpufreq");
        if (io.access(d, "f") === 0) candidates.push(d);
      }
    }
    const seen = new Set<string>();
    const out: string[] = [];
    for (const c of candidates) {
      let real: string;
      try {
        real = io.realpathSync(c);
      } catch {
        continue;
      }
      if (!seen.has(real)) {
        seen.add(real);
        out.push(real);
      }
    }
    return out;
  }

  private async readPolicy(dir: string): Promise<CpufreqPolicy | null> {
    const results = await this.roots.io.readMany(FILES.map((f) => join(dir, f)));
    const file = new Map<string, ReadResult>();
    FILES.forEach((f, i) => file.set(f, results[i] as ReadResult));
    const text = (f: string): string | null => {
      const r = file.get(f);
      return r !== undefined && r.ok ? r.text : null;
    };
    const id = basename(dir) === "cpufreq" ? basename(join(dir, "..")) : basename(dir);
    try {
      for (const f of REQUIRED) {
        if (text(f) === null) {
          const r = file.get(f);
          throw new Error(`cannot read ${join(dir, f)} (${r !== undefined && !r.ok ? r.code : "?"})`);
        }
      }
      const num = (f: string): number => parseUInt(text(f) as string, join(dir, f));
      const optional = <T>(f: string, parse: (t: string) => T): T | null => {
        const t = text(f);
        if (t === null) return null;
        try {
          return parse(t);
        } catch (err) {
          this.warnings.push(`${id}: ignoring ${f}: ${(err as Error).message}`);
          return null;
        }
      };
      const related = optional("related_cpus", (t) => parseCpuList(t, join(dir, "related_cpus"))) ?? [];
      const affected = optional("affected_cpus", (t) => parseCpuList(t, join(dir, "affected_cpus"))) ?? related;
      const table = optional("scaling_available_frequencies", (t) => parseKHzList(t, join(dir, "scaling_available_frequencies")));
      const driver = (text("scaling_driver") as string).trim();
      const governor = (text("scaling_governor") as string).trim();
      return {
        id,
        path: dir,
        cpus: related.length > 0 ? related : affected,
        onlineCpus: affected,
        driver,
        governor,
        governors: optional("scaling_available_governors", parseWords) ?? [governor],
        availableKHz: table !== null && table.length > 0 ? table : null,
        minKHz: num("cpuinfo_min_freq"),
        maxKHz: num("cpuinfo_max_freq"),
        scalingMinKHz: num("scaling_min_freq"),
        scalingMaxKHz: num("scaling_max_freq"),
        curKHz: optional("scaling_cur_freq", (t) => parseUInt(t, join(dir, "scaling_cur_freq"))),
        setspeed: file.get("scaling_setspeed")?.ok === true,
        timeInState: optional("stats/time_in_state", (t) => parseTimeInState(t, join(dir, "stats/time_in_state"))),
      };
    } catch (err) {
      this.warnings.push(`${id}: skipped, ${(err as Error).message}`);
      return null;
    }
  }

  /** Before the first change: put back what a dead run left, so the original state is saved. */
  private prepareChange(): void {
    if (this.recovered) return;
    const restored = this.guard.recoverStale();
    if (restored.length > 0) this.warnings.push(`restored cpufreq settings a previous run left behind: ${restored.join(", ")}`);
    this.recovered = true;
  }

  /** Switch the governor (must be one the driver offers). */
  async setGovernor(policyId: string, governor: string): Promise<void> {
    this.prepareChange();
    const p = await this.policy(policyId);
    if (!p.governors.includes(governor)) {
      throw new RejectedError(`governor "${governor}" is not offered by ${p.id} (${p.driver}); offered: ${p.governors.join(", ")}`);
    }
    this.guard.save(p);
    await this.write(p, "scaling_governor", governor);
    const back = (await this.readText(p, "scaling_governor")).trim();
    if (back !== governor) throw new RejectedError(`${p.id} kept governor "${back}" after writing "${governor}"`, { path: join(p.path, "scaling_governor") });
  }

  /**
   * Run the policy at one frequency: the userspace governor + scaling_setspeed where offered,
   * otherwise scaling_min_freq = scaling_max_freq. Verified by read-back.
   */
  async setFrequency(policyId: string, requestedKHz: number): Promise<SetFrequencyResult> {
    this.prepareChange();
    const p = await this.policy(policyId);
    const targetKHz = snapFrequency(p, requestedKHz, this.snapTolerance);
    this.guard.save(p);
    if (p.setspeed && p.governors.includes("userspace")) {
      if (p.governor !== "userspace") await this.write(p, "scaling_governor", "userspace");
      // The userspace governor clamps setspeed into [scaling_min, scaling_max]: open the limits first.
      if (targetKHz < p.scalingMinKHz || targetKHz > p.scalingMaxKHz) {
        for (const [f, v] of minMaxWritePlan({ minKHz: p.scalingMinKHz, maxKHz: p.scalingMaxKHz }, { minKHz: p.minKHz, maxKHz: p.maxKHz })) {
          await this.write(p, f, String(v));
        }
      }
      await this.write(p, "scaling_setspeed", String(targetKHz));
      const applied = parseUInt(await this.readText(p, "scaling_setspeed"), join(p.path, "scaling_setspeed"));
      if (applied !== targetKHz) {
        throw new RejectedError(`${p.id} runs at ${applied} kHz after setting ${targetKHz} kHz through scaling_setspeed (limited by firmware or thermal?)`, {
          path: join(p.path, "scaling_setspeed"),
        });
      }
      return { policy: p.id, requestedKHz, appliedKHz: applied, method: "userspace-setspeed", curKHz: await this.readCur(p) };
    }
    for (const [f, v] of minMaxWritePlan({ minKHz: p.scalingMinKHz, maxKHz: p.scalingMaxKHz }, { minKHz: targetKHz, maxKHz: targetKHz })) {
      await this.write(p, f, String(v));
    }
    const min = parseUInt(await this.readText(p, "scaling_min_freq"), join(p.path, "scaling_min_freq"));
    const max = parseUInt(await this.readText(p, "scaling_max_freq"), join(p.path, "scaling_max_freq"));
    // Drivers without a table round to their own granularity (intel_pstate: 100 MHz ratios).
    const slack = p.availableKHz === null ? Math.max(0.01 * targetKHz, 50_000) : 0;
    if (min !== max || Math.abs(max - targetKHz) > slack) {
      throw new RejectedError(`${p.id} limits read back as ${min}-${max} kHz after pinning ${targetKHz} kHz`, { path: join(p.path, "scaling_max_freq") });
    }
    return { policy: p.id, requestedKHz, appliedKHz: max, method: "minmax-pin", curKHz: await this.readCur(p) };
  }

  /** Set every policy to the offered frequency nearest `requestedKHz` (per policy). */
  async setAll(requestedKHz: number): Promise<SetFrequencyResult[]> {
    const all = await this.policies();
    if (all.length === 0) throw new UnsupportedError(`no cpufreq policies under ${this.roots.sys("devices/system/cpu")}: this machine offers no frequency control`);
    const out: SetFrequencyResult[] = [];
    for (const p of all) out.push(await this.setFrequency(p.id, requestedKHz));
    return out;
  }

  /**
   * Hold every policy's frequency for a long run (cpufreqHold.ts): the policies are read once
   * and the governor taken once; each switch then writes only what changes. Restores what a dead
   * run left behind first.
   */
  async hold(): Promise<FrequencyHold> {
    this.prepareChange();
    const policies = await this.policies();
    if (policies.length === 0) throw new UnsupportedError(`no cpufreq policies under ${this.roots.sys("devices/system/cpu")}: this machine offers no frequency control`);
    return cpufreqHold({
      policies,
      guard: this.guard,
      snap: (p, kHz) => snapFrequency(p, kHz, this.snapTolerance),
      write: (p, file, value) => this.write(p, file, value),
      read: async (p, files) => {
        const paths = files.map((f) => join(p.path, f));
        const rs = await this.roots.io.readMany(paths);
        return rs.map((r, i) => {
          if (r === undefined || !r.ok) throw ioError(r, "read", paths[i] as string);
          return r.text;
        });
      },
    });
  }

  private async write(p: CpufreqPolicy, file: string, value: string): Promise<void> {
    await this.attributes.write(join(p.path, file), value);
  }

  private async readText(p: CpufreqPolicy, file: string): Promise<string> {
    return this.attributes.read(join(p.path, file));
  }

  private async readCur(p: CpufreqPolicy): Promise<number | null> {
    return this.attributes.readUInt(join(p.path, "scaling_cur_freq"));
  }
}

export type { SavedPolicy, FrequencyHold };
