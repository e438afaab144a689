/**
 * The daemon's CPU frequency: held for its whole life through src/hw (Cpufreq.hold: the policies
 * read once, the governor taken once), switched only when a configuration asks for another
 * frequency, every switch timed, and the original state restored on release (SIGTERM/SIGINT, or
 * from the state file by the next start after a crash: `open` restores what a dead run left
 * first).
 *
 * `auto` with configurations that name no frequency ("current"), or `off`: nothing is touched.
 */
import { Cpufreq, type FrequencyHold } from "../../hw/cpufreq.js";
import type { EnergyMeter } from "../../hw/energyMeter.js";
import { UsageError } from "../../errors.js";

export interface FrequencyControlOptions {
  /** the frequencies the configurations name, MHz */
  neededMHz: readonly number[];
  mode: "auto" | "off";
  sysfsRoot?: string | undefined;
  stateDir?: string | undefined;
  log: (record: Record<string, unknown>) => void;
}

export interface SwitchStats {
  switches: number;
  lastMs: number | null;
  /** exponentially weighted mean of the switch time, ms */
  meanMs: number | null;
  maxMs: number | null;
}

export class FrequencyControl {
  private readonly stats: SwitchStats = { switches: 0, lastMs: null, meanMs: null, maxMs: null };

  private constructor(
    private readonly hold: FrequencyHold | null,
    /** why frequencies are not controlled, when they are not */
    readonly uncontrolledReason: string | null,
    private readonly meter: EnergyMeter | null,
  ) {}

  static async open(o: FrequencyControlOptions, meter: EnergyMeter | null): Promise<FrequencyControl> {
    if (o.neededMHz.length === 0) return new FrequencyControl(null, "the front's configurations run at the current frequency (cpuFreqMHz: current)", meter);
    if (o.mode === "off") {
      o.log({ level: "warn", msg: "frequencies not controlled", reason: "cpufreq: off", neededMHz: o.neededMHz });
      return new FrequencyControl(null, "cpufreq off: the configurations' frequencies are not set", meter);
    }
    const cpufreq = new Cpufreq({ sysfsRoot: o.sysfsRoot, stateDir: o.stateDir, restoreOnExit: false });
    // a run that died left its settings behind: put them back before saving the original state
    const restored = cpufreq.recover();
    if (restored.length > 0) o.log({ level: "warn", msg: "restored cpufreq settings a previous run left behind", policies: restored });
    const policies = await cpufreq.policies();
    if (policies.length === 0) {
      throw new UsageError(
        `the front sets CPU frequencies (${o.neededMHz.join(", ")} MHz) but this machine offers no cpufreq (${cpufreq.roots.sys("devices/system/cpu/cpufreq")}): run the daemon on the board the front was made on, or give --cpufreq off (frequencies then not set, and every answer says so)`,
      );
    }
    const hold = await cpufreq.hold();
    try {
      for (const f of o.neededMHz) hold.check(f * 1000);
    } catch (err) {
      hold.release();
      throw new UsageError(`${(err as Error).message}: the front was made on a board with other frequencies; optimize again on this one`, { cause: err });
    }
    for (const w of cpufreq.warnings) o.log({ level: "warn", msg: "cpufreq", detail: w });
    o.log({ level: "info", msg: "holding the CPU frequency", policies: hold.policies.map((p) => p.id), methods: hold.methods, governors: hold.policies.map((p) => p.governor) });
    return new FrequencyControl(hold, null, meter);
  }

  get controlled(): boolean {
    return this.hold !== null;
  }

  /** The frequency applied now, MHz (null: not controlled, or nothing applied yet). */
  get currentMHz(): number | null {
    const k = this.hold?.appliedKHz ?? null;
    return k === null ? null : Math.round(k / 100) / 10;
  }

  get policies(): string[] {
    return this.hold?.policies.map((p) => p.id) ?? [];
  }

  switchStats(): SwitchStats {
    return { ...this.stats };
  }

  /**
   * Run at `mhz` (null: leave the frequency): writes only when it changes. Returns whether it
   * switched and the switch's time, ms.
   */
  async apply(mhz: number | null): Promise<{ switched: boolean; ms: number }> {
    if (this.hold === null || mhz === null) return { switched: false, ms: 0 };
    const t0 = performance.now();
    const r = await this.hold.set(mhz * 1000);
    const ms = performance.now() - t0;
    if (!r.changed) return { switched: false, ms: 0 };
    const s = this.stats;
    s.switches++;
    s.lastMs = ms;
    s.meanMs = s.meanMs === null ? ms : 0.8 * s.meanMs + 0.2 * ms;
    s.maxMs = Math.max(s.maxMs ?? 0, ms);
    this.meter?.frequencyApplied(this.hold.appliedKHz);
    return { switched: true, ms };
  }

  /**
   * The cost of one switch, measured: `rounds` switches between the lowest and the highest
   * needed frequency, the median time, and the device energy over those windows (median) from
   * the meter (an estimate where the board has no counter). Leaves the frequency at the highest.
   */
  async calibrate(neededMHz: readonly number[], rounds = 4): Promise<{ timeMs: number; energyJ: number; source: string } | null> {
    if (this.hold === null || neededMHz.length < 2) return null;
    const lo = Math.min(...neededMHz);
    const hi = Math.max(...neededMHz);
    const times: number[] = [];
    const energies: number[] = [];
    for (let i = 0; i < 2 * rounds; i++) {
      const mark = this.meter?.mark();
      const r = await this.apply(i % 2 === 0 ? lo : hi);
      if (this.meter !== null && mark !== undefined) {
        const w = this.meter.since(mark);
        if (w.deviceComplete) energies.push(w.deviceJ);
      }
      if (r.switched) times.push(r.ms);
    }
    const median = (xs: number[]): number => {
      const s = [...xs].sort((a, b) => a - b);
      return s.length === 0 ? 0 : (s[Math.floor((s.length - 1) / 2)] as number);
    };
    return { timeMs: median(times), energyJ: median(energies), source: this.meter === null ? "none" : this.meter.estimated ? "estimate" : (this.meter.device[0]?.kind ?? "meter") };
  }

  /** Put the original state back and stop controlling (idempotent; synchronous, for exit paths). */
  release(): string[] {
    const done = this.hold?.release() ?? [];
    if (done.length > 0) this.meter?.frequencyApplied(null);
    return done;
  }
}
