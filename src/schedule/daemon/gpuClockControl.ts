/**
 * The daemon's GPU clock, as FrequencyControl does the CPU's: when the front's configurations
 * name GPU frequencies (the gpuFreqMHz dimension `optimize` adds where the board exposes a GPU
 * clock), the first GPU Gpufreq lists (the one the profiler set while measuring) is set through
 * src/hw only when a configuration asks for another frequency, every change timed (its time is
 * the GPU-clock switch cost the policies count), and the original state restored on release.
 * The restore state shares the CPU's guard (one state file), so a crash leaves both to the next
 * start, which restores them before anything else.
 *
 * No gpuFreqMHz in the front, or `gpufreq: off`: nothing is touched.
 */
import { UsageError } from "../../errors.js";
import type { Cpufreq } from "../../hw/cpufreq.js";
import { snapFrequency } from "../../hw/cpufreq.js";
import { Gpufreq, type GpuFreqDevice } from "../../hw/gpufreq.js";
import type { SwitchStats } from "./frequencyControl.js";

export interface GpuClockControlOptions {
  /** the GPU frequencies the configurations name, MHz */
  neededMHz: readonly number[];
  mode: "auto" | "off";
  sysfsRoot?: string | undefined;
  stateDir?: string | undefined;
  /** the CPU's Cpufreq, whose restore guard (state file) the GPU shares; null: a guard of its own */
  cpufreq: Cpufreq | null;
  log: (record: Record<string, unknown>) => void;
}

export class GpuClockControl {
  private readonly stats: SwitchStats = { switches: 0, lastMs: null, meanMs: null, maxMs: null };
  private appliedMHz: number | null = null;

  private constructor(
    private readonly gpu: { gpufreq: Gpufreq; device: GpuFreqDevice } | null,
    /** why the GPU clock is not controlled, when it is not */
    readonly uncontrolledReason: string | null,
  ) {}

  static async open(o: GpuClockControlOptions): Promise<GpuClockControl> {
    if (o.neededMHz.length === 0) return new GpuClockControl(null, "the front's configurations name no GPU clock (no gpuFreqMHz dimension)");
    if (o.mode === "off") {
      o.log({ level: "warn", msg: "GPU clock not controlled", reason: "gpufreq: off", neededMHz: o.neededMHz });
      return new GpuClockControl(null, "gpufreq off: the configurations' GPU clocks are not set");
    }
    const gpufreq = new Gpufreq({ sysfsRoot: o.sysfsRoot, stateDir: o.stateDir, restoreOnExit: false, ...(o.cpufreq === null ? {} : { guard: o.cpufreq.guard }) });
    const restored = gpufreq.recover();
    if (restored.length > 0) o.log({ level: "warn", msg: "restored clock settings a previous run left behind", devices: restored });
    const device = (await gpufreq.devices())[0];
    if (device === undefined) {
      throw new UsageError(
        `the front sets GPU clocks (${o.neededMHz.join(", ")} MHz) but this machine offers no GPU frequency control (${gpufreq.roots.sys("class/devfreq")}, ${gpufreq.roots.sys("class/drm")}): run the daemon on the board the front was made on, or give --gpufreq off (GPU clocks then not set)`,
      );
    }
    for (const mhz of o.neededMHz) {
      try {
        snapFrequency({ id: device.id, availableKHz: device.availableKHz, minKHz: device.minKHz, maxKHz: device.maxKHz }, mhz * 1000);
      } catch (err) {
        throw new UsageError(`GPU ${(err as Error).message}: the front was made on a board with other GPU frequencies; optimize again on this one`, { cause: err });
      }
    }
    for (const w of gpufreq.warnings) o.log({ level: "warn", msg: "gpufreq", detail: w });
    o.log({ level: "info", msg: "controlling the GPU clock", device: device.id, governor: device.governor, neededMHz: o.neededMHz });
    return new GpuClockControl({ gpufreq, device }, null);
  }

  get controlled(): boolean {
    return this.gpu !== null;
  }

  /** The GPU domain set ("devfreq:fb000000.gpu"), null when not controlled. */
  get device(): string | null {
    return this.gpu?.device.id ?? null;
  }

  /** The frequency applied now, MHz (null: not controlled, or nothing applied yet). */
  get currentMHz(): number | null {
    return this.appliedMHz;
  }

  switchStats(): SwitchStats {
    return { ...this.stats };
  }

  /** Run the GPU at `mhz` (null: leave it): writes only when it changes. Returns whether it switched and the change's measured time, ms. */
  async apply(mhz: number | null): Promise<{ switched: boolean; ms: number }> {
    if (this.gpu === null || mhz === null || mhz === this.appliedMHz) return { switched: false, ms: 0 };
    const r = await this.gpu.gpufreq.setFrequency(this.gpu.device.id, mhz * 1000);
    this.appliedMHz = mhz;
    const ms = r.setMs;
    const s = this.stats;
    s.switches++;
    s.lastMs = ms;
    s.meanMs = s.meanMs === null ? ms : 0.8 * s.meanMs + 0.2 * ms;
    s.maxMs = Math.max(s.maxMs ?? 0, ms);
    return { switched: true, ms };
  }

  /** The time of one change, measured: `rounds` changes between the lowest and the highest needed frequency, the median. Leaves the clock at the highest. */
  async calibrate(neededMHz: readonly number[], rounds = 4): Promise<number | null> {
    if (this.gpu === null || neededMHz.length < 2) return null;
    const lo = Math.min(...neededMHz);
    const hi = Math.max(...neededMHz);
    const times: number[] = [];
    for (let i = 0; i < 2 * rounds; i++) {
      const r = await this.apply(i % 2 === 0 ? lo : hi);
      if (r.switched) times.push(r.ms);
    }
    const s = [...times].sort((a, b) => a - b);
    return s.length === 0 ? null : (s[Math.floor((s.length - 1) / 2)] as number);
  }

  /** Put the original state back (the shared guard restores the CPU's too; idempotent; synchronous, for exit paths). */
  release(): string[] {
    if (this.gpu === null) return [];
    this.appliedMHz = null;
    return this.gpu.gpufreq.restore();
  }
}
