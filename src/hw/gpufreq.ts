import { basename, join } from "node:path";
import { RejectedError, UnsupportedError, UsageError } from "../errors.js";
import { snapFrequency } from "./cpufreq.js";
import { cpufreqGuard, type CpufreqGuard } from "./cpufreqGuard.js";
import { gpuFreqFiles, type GpuFreqKind } from "./gpuFreqFiles.js";
import { attributeIO, type AttributeIO } from "./attributeIO.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import { parseUInt, parseWords } from "./parse.js";
import type { SavedGpu } from "./restoreGpus.js";
import { roots, type HwRootOptions, type Roots } from "./roots.js";
import type { ReadResult } from "./sysIO.js";

/**
 * One GPU clock domain as the kernel shows it: a devfreq device (Jetson, Mali and other SoC
 * GPUs; frequencies in Hz) or an Intel i915 card (MHz). Frequencies are given in kHz here, like
 * cpufreq's; `raw` keeps the files' own values, which are what gets written.
 */
export interface GpuFreqDevice {
  /** "devfreq:17000000.ga10b", "i915:card0" */
  id: string;
  kind: GpuFreqKind;
  /** the devfreq device or DRM card name */
  name: string;
  /** real path of the device directory */
  path: string;
  /** kernel driver bound to the GPU (device/driver), null when not linked */
  driver: string | null;
  /** devfreq governor; null for i915 (the GPU's firmware picks the frequency within the limits) */
  governor: string | null;
  governors: string[];
  /** offered frequencies ascending (devfreq available_frequencies), null without a table (i915) */
  availableKHz: number[] | null;
  /** hardware range: the table's ends (devfreq) or RPn..RP0 (i915) */
  minKHz: number;
  maxKHz: number;
  /** limits in force: devfreq min_freq/max_freq, i915 gt_min/gt_max_freq_mhz */
  limitMinKHz: number;
  limitMaxKHz: number;
  /** cur_freq / gt_cur_freq_mhz, null when unreadable */
  curKHz: number | null;
  /** i915 gt_boost_freq_mhz (what waitboost requests), else null */
  boostKHz: number | null;
  /** the userspace governor is offered (devfreq): a frequency can be requested directly */
  userspace: boolean;
  /** the files' own values (Hz for devfreq, MHz for i915) */
  raw: { available: number[] | null; min: number; max: number; limitMin: number; limitMax: number; cur: number | null; setFreq: number | null };
}

export type SetGpuFrequencyMethod = "userspace-set_freq" | "minmax-pin";

export interface SetGpuFrequencyResult {
  device: string;
  requestedKHz: number;
  appliedKHz: number;
  method: SetGpuFrequencyMethod;
  /** the current frequency right after the change (null when unreadable) */
  curKHz: number | null;
  /** how long the change took, ms: reading the device, writing and verifying (gpuFreqSwitchCostMs) */
  setMs: number;
}

/**
 * The switch cost of a GPU frequency, ms, as the daemon counts it when it changes the GPU clock:
 * the measured time of the change (Gpufreq.setFrequency / setAll: every write and its
 * verification, one GPU after another). It does not include the clock's settling inside the GPU,
 * which sysfs does not show.
 */
export function gpuFreqSwitchCostMs(results: readonly Pick<SetGpuFrequencyResult, "setMs">[]): number {
  return results.reduce((sum, r) => sum + r.setMs, 0);
}

export interface GpufreqOptions extends HwRootOptions {
  /** directory of the restore state file (default: SPLITWATT_STATE_DIR or ~/.local/state/splitwatt) */
  stateDir?: string | undefined;
  /** install exit/SIGINT/SIGTERM restore hooks when the first change is made (default true) */
  restoreOnExit?: boolean | undefined;
  /** relative tolerance for snapping a request to an offered frequency (default 0.01) */
  snapTolerance?: number | undefined;
  /** share the restore guard of a Cpufreq over the same tree (one state file for CPU and GPU) */
  guard?: CpufreqGuard | undefined;
}

/** devfreq devices that are GPUs: by device name, driver or device-tree compatible string. */
const GPU_NAMES = /gpu|mali|panfrost|panthor|lima|ga10b|gv11b|gp10b|gm20b|gk20a|nvgpu|adreno|kgsl|v3d|etnaviv|vivante|powervr|pvr|img,/i;

/** Gen9+ i915 runs the GPU in 50/3 MHz units: a written MHz value reads back rounded to the nearest one. */
const I915_STEP_MHZ = 17;

const WRITE_HINTS = {
  notPermitted:
    'run as root, or let a group write the GPU frequency files with a udev rule such as SUBSYSTEM=="devfreq", ACTION=="add", RUN+="/bin/chgrp splitwatt /sys%p/min_freq /sys%p/max_freq /sys%p/governor" plus chmod g+w (for i915: SUBSYSTEM=="drm" and the gt_*_freq_mhz files)',
};

const kHzOf = (raw: number, kind: GpuFreqKind): number => Math.round(raw * gpuFreqFiles(kind).kHzPerUnit);
const mhz = (kHz: number | null): string => (kHz === null ? "?" : `${+(kHz / 1000).toFixed(1)}`);

/** Read and pin GPU frequencies (devfreq, i915), restoring the original state on exit, like Cpufreq. */
export class Gpufreq {
  readonly roots: Roots;
  readonly warnings: string[] = [];
  readonly guard: CpufreqGuard;
  private readonly snapTolerance: number;
  private readonly attributes: AttributeIO;
  private recovered = false;

  constructor(opts: GpufreqOptions = {}) {
    this.roots = roots(opts);
    this.snapTolerance = opts.snapTolerance ?? 0.01;
    this.attributes = attributeIO(this.roots.io, WRITE_HINTS);
    this.guard = opts.guard ?? cpufreqGuard({ roots: this.roots, stateDir: opts.stateDir, installHooks: opts.restoreOnExit ?? true });
  }

  /** Restore what a previous run that died left behind (CPU policies and GPUs). Returns the ids restored. */
  recover(): string[] {
    return this.guard.recoverStale();
  }

  /** GPU domains a run that died left changed. */
  leftBehind(): string[] {
    return this.guard.staleGpus().map((g) => g.id);
  }

  /** Restore everything this process changed through the guard. */
  restore(): string[] {
    return this.guard.restoreNow();
  }

  /** Every GPU frequency domain: devfreq GPUs (other devfreq devices such as memory controllers are left out), then i915 cards. */
  async devices(): Promise<GpuFreqDevice[]> {
    const out: GpuFreqDevice[] = [];
    for (const name of await this.listNames(this.roots.sys("class/devfreq"))) {
      const d = await this.readDevfreq(name);
      if (d !== null) out.push(d);
    }
    for (const name of (await this.listNames(this.roots.sys("class/drm"))).filter((n) => /^card\d+$/.test(n))) {
      const d = await this.readI915(name);
      if (d !== null) out.push(d);
    }
    return out;
  }

  /** One device by id ("devfreq:NAME", "i915:cardN") or bare name ("NAME", "cardN"). */
  async device(idOrName: string): Promise<GpuFreqDevice> {
    const all = await this.devices();
    const d = all.find((x) => x.id === idOrName || x.name === idOrName);
    if (d === undefined) {
      throw new UsageError(
        all.length === 0
          ? `no GPU frequency control under ${this.roots.sys("class/devfreq")} or ${this.roots.sys("class/drm")}: this machine offers none`
          : `no GPU "${idOrName}"; GPUs: ${all.map((x) => x.id).join(", ")}`,
      );
    }
    return d;
  }

  private async listNames(dir: string): Promise<string[]> {
    const { io } = this.roots;
    if (io.access(dir, "f") !== 0) return [];
    try {
      return (await io.list(dir)).map((e) => e.name);
    } catch {
      return [];
    }
  }

  private realDir(path: string): string | null {
    try {
      return this.roots.io.realpathSync(path);
    } catch {
      return null;
    }
  }

  private async readFiles(dir: string, files: readonly string[]): Promise<(f: string) => string | null> {
    const results = await this.roots.io.readMany(files.map((f) => join(dir, f)));
    const m = new Map<string, ReadResult>();
    files.forEach((f, i) => m.set(f, results[i] as ReadResult));
    return (f) => {
      const r = m.get(f);
      return r !== undefined && r.ok ? r.text : null;
    };
  }

  private driverOf(dir: string): string | null {
    const real = this.realDir(join(dir, "device", "driver"));
    return real === null ? null : basename(real);
  }

  private async readDevfreq(name: string): Promise<GpuFreqDevice | null> {
    const dir = this.realDir(this.roots.sys("class/devfreq", name));
    if (dir === null) return null;
    const id = `devfreq:${name}`;
    const files = ["governor", "available_governors", "available_frequencies", "min_freq", "max_freq", "cur_freq", "userspace/set_freq", "device/of_node/compatible"] as const;
    const text = await this.readFiles(dir, files);
    const driver = this.driverOf(dir);
    const compatible = (text("device/of_node/compatible") ?? "").replace(/\0/g, " ");
    if (!GPU_NAMES.test(`${name} ${driver ?? ""} ${compatible}`)) return null;
    try {
      for (const f of ["governor", "min_freq", "max_freq"]) if (text(f) === null) throw new Error(`cannot read ${join(dir, f)}`);
      const num = (f: string): number => parseUInt(text(f) as string, join(dir, f));
      const tableText = text("available_frequencies");
      const table = tableText === null ? null : [...new Set(parseWords(tableText).map((w) => parseUInt(w, join(dir, "available_frequencies"))))].sort((a, b) => a - b);
      const available = table !== null && table.length > 0 ? table : null;
      const limitMin = num("min_freq");
      const limitMax = num("max_freq");
      const governor = (text("governor") as string).trim();
      const governors = text("available_governors") === null ? [governor] : parseWords(text("available_governors") as string);
      const setFreqText = text("userspace/set_freq")?.trim();
      const curText = text("cur_freq")?.trim();
      const cur = curText !== undefined && /^\d+$/.test(curText) ? Number(curText) : null;
      const min = available?.[0] ?? limitMin;
      const max = available?.[available.length - 1] ?? limitMax;
      return {
        id,
        kind: "devfreq",
        name,
        path: dir,
        driver,
        governor,
        governors,
        availableKHz: available === null ? null : available.map((f) => kHzOf(f, "devfreq")),
        minKHz: kHzOf(min, "devfreq"),
        maxKHz: kHzOf(max, "devfreq"),
        limitMinKHz: kHzOf(limitMin, "devfreq"),
        limitMaxKHz: kHzOf(limitMax, "devfreq"),
        curKHz: cur === null ? null : kHzOf(cur, "devfreq"),
        boostKHz: null,
        userspace: governors.includes("userspace"),
        raw: { available, min, max, limitMin, limitMax, cur, setFreq: setFreqText !== undefined && /^\d+$/.test(setFreqText) ? Number(setFreqText) : null },
      };
    } catch (err) {
      this.warnings.push(`${id}: skipped, ${(err as Error).message}`);
      return null;
    }
  }

  private async readI915(name: string): Promise<GpuFreqDevice | null> {
    const dir = this.realDir(this.roots.sys("class/drm", name));
    if (dir === null || this.roots.io.access(join(dir, "gt_RP0_freq_mhz"), "f") !== 0) return null;
    const id = `i915:${name}`;
    const files = ["gt_min_freq_mhz", "gt_max_freq_mhz", "gt_cur_freq_mhz", "gt_RP0_freq_mhz", "gt_RPn_freq_mhz", "gt_boost_freq_mhz"] as const;
    const text = await this.readFiles(dir, files);
    try {
      for (const f of ["gt_min_freq_mhz", "gt_max_freq_mhz", "gt_RP0_freq_mhz", "gt_RPn_freq_mhz"]) if (text(f) === null) throw new Error(`cannot read ${join(dir, f)}`);
      const num = (f: string): number => parseUInt(text(f) as string, join(dir, f));
      const opt = (f: string): number | null => {
        const t = text(f)?.trim();
        return t !== undefined && /^\d+$/.test(t) ? Number(t) : null;
      };
      const [min, max, limitMin, limitMax] = [num("gt_RPn_freq_mhz"), num("gt_RP0_freq_mhz"), num("gt_min_freq_mhz"), num("gt_max_freq_mhz")];
      const cur = opt("gt_cur_freq_mhz");
      const boost = opt("gt_boost_freq_mhz");
      return {
        id,
        kind: "i915",
        name,
        path: dir,
        driver: this.driverOf(dir),
        governor: null,
        governors: [],
        availableKHz: null,
        minKHz: kHzOf(min, "i915"),
        maxKHz: kHzOf(max, "i915"),
        limitMinKHz: kHzOf(limitMin, "i915"),
        limitMaxKHz: kHzOf(limitMax, "i915"),
        curKHz: cur === null ? null : kHzOf(cur, "i915"),
        boostKHz: boost === null ? null : kHzOf(boost, "i915"),
        userspace: false,
        raw: { available: null, min, max, limitMin, limitMax, cur, setFreq: null },
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
    if (restored.length > 0) this.warnings.push(`restored clock settings a previous run left behind: ${restored.join(", ")}`);
    this.recovered = true;
  }

  /** The value to write (file unit) for a request in kHz: the offered frequency within the tolerance, or any value in the hardware range. */
  private target(d: GpuFreqDevice, requestedKHz: number): number {
    const kHz = snapFrequency({ id: d.id, availableKHz: d.availableKHz, minKHz: d.minKHz, maxKHz: d.maxKHz }, requestedKHz, this.snapTolerance);
    if (d.raw.available !== null) return d.raw.available[(d.availableKHz as number[]).indexOf(kHz)] as number;
    return Math.round(kHz / gpuFreqFiles(d.kind).kHzPerUnit);
  }

  /**
   * Run the GPU at one frequency: devfreq's userspace governor + userspace/set_freq where
   * offered (verified by cur_freq), otherwise min = max pinned in the order that keeps
   * min <= max (verified by reading the limits back).
   */
  async setFrequency(idOrName: string, requestedKHz: number): Promise<SetGpuFrequencyResult> {
    const t0 = performance.now();
    const r = await this.applyFrequency(idOrName, requestedKHz);
    return { ...r, setMs: performance.now() - t0 };
  }

  private async applyFrequency(idOrName: string, requestedKHz: number): Promise<Omit<SetGpuFrequencyResult, "setMs">> {
    this.prepareChange();
    const d = await this.device(idOrName);
    const target = this.target(d, requestedKHz);
    const files = gpuFreqFiles(d.kind);
    this.guard.saveGpu(saved(d));
    const kHz = (raw: number): number => kHzOf(raw, d.kind);
    if (d.kind === "devfreq" && d.userspace && files.setFreq !== null && files.governor !== null) {
      if (d.governor !== "userspace") await this.write(d, files.governor, "userspace");
      // the request is clamped into [min_freq, max_freq]: open the limits first
      if (target < d.raw.limitMin || target > d.raw.limitMax) await this.writeLimits(d, { min: d.raw.limitMin, max: d.raw.limitMax }, { min: d.raw.min, max: d.raw.max });
      await this.write(d, files.setFreq, String(target));
      const cur = parseUInt(await this.readText(d, files.cur), join(d.path, files.cur));
      if (Math.abs(cur - target) > 0.01 * target) {
        throw new RejectedError(`${d.id} runs at ${mhz(kHz(cur))} MHz after requesting ${mhz(kHz(target))} MHz through ${files.setFreq} (limited by thermal throttling or the firmware?)`, {
          path: join(d.path, files.cur),
        });
      }
      return { device: d.id, requestedKHz, appliedKHz: kHz(cur), method: "userspace-set_freq", curKHz: kHz(cur) };
    }
    await this.writeLimits(d, { min: d.raw.limitMin, max: d.raw.limitMax }, { min: target, max: target });
    const min = parseUInt(await this.readText(d, files.min), join(d.path, files.min));
    const max = parseUInt(await this.readText(d, files.max), join(d.path, files.max));
    const slack = d.kind === "i915" ? I915_STEP_MHZ : d.raw.available !== null ? 0 : 0.01 * target;
    if (min !== max || Math.abs(max - target) > slack) {
      throw new RejectedError(`${d.id} limits read back as ${mhz(kHz(min))}-${mhz(kHz(max))} MHz after pinning ${mhz(kHz(target))} MHz`, { path: join(d.path, files.max) });
    }
    return { device: d.id, requestedKHz, appliedKHz: kHz(max), method: "minmax-pin", curKHz: await this.readCur(d) };
  }

  /** Set every GPU to the frequency nearest `requestedKHz` (per GPU). */
  async setAll(requestedKHz: number): Promise<SetGpuFrequencyResult[]> {
    const all = await this.devices();
    if (all.length === 0) throw new UnsupportedError(`no GPU frequency control under ${this.roots.sys("class/devfreq")} or ${this.roots.sys("class/drm")}: this machine offers none`);
    const out: SetGpuFrequencyResult[] = [];
    for (const d of all) out.push(await this.setFrequency(d.id, requestedKHz));
    return out;
  }

  private async writeLimits(d: GpuFreqDevice, current: { min: number; max: number }, target: { min: number; max: number }): Promise<void> {
    const files = gpuFreqFiles(d.kind);
    for (const [f, v] of minMaxWritePlan({ minKHz: current.min, maxKHz: current.max }, { minKHz: target.min, maxKHz: target.max })) {
      await this.write(d, f === "scaling_min_freq" ? files.min : files.max, String(v));
    }
  }

  private async write(d: GpuFreqDevice, file: string, value: string): Promise<void> {
    await this.attributes.write(join(d.path, file), value);
  }

  private async readText(d: GpuFreqDevice, file: string): Promise<string> {
    return this.attributes.read(join(d.path, file));
  }

  private async readCur(d: GpuFreqDevice): Promise<number | null> {
    const v = await this.attributes.readUInt(join(d.path, gpuFreqFiles(d.kind).cur));
    return v === null ? null : kHzOf(v, d.kind);
  }
}

/** The state a restore puts back. */
function saved(d: GpuFreqDevice): SavedGpu {
  return {
    id: d.id,
    kind: d.kind,
    path: d.path,
    governor: d.governor,
    limitMin: d.raw.limitMin,
    limitMax: d.raw.limitMax,
    setFreq: d.governor === "userspace" ? (d.raw.setFreq ?? d.raw.cur) : null,
  };
}
