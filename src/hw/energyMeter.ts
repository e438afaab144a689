import { availableParallelism } from "node:os";
import { join } from "node:path";
import { binding } from "../native/binding.js";
import type { NativeSampler, SamplerBatch, SamplerSnapshot, SamplerSourceSpec, SamplerSourceState } from "../native/types.js";
import { boardMismatch } from "./boardMismatch.js";
import { boardProfile, type BoardProfile } from "./boardProfile.js";
import { Cpufreq } from "./cpufreq.js";
import { energySources, type EnergyDiscoveryOptions, type EnergyKind, type EnergySource } from "./energySources.js";
import { meterClockMs, type Meter, type MeterOpenOptions } from "./meters/meter.js";
import { meterRunMeanW, meterWindowEnergy, type MeterSpan } from "./meters/meterEnergy.js";
import { openMeter } from "./meters/openMeter.js";
import { parseCpuList, parseProcStat, type CpuTimes, type ProcStat } from "./parse.js";
import { estimatePowerW } from "./powerModel.js";
import { roots, type Roots } from "./roots.js";

export interface EnergyReading {
  id: string;
  kind: EnergyKind;
  domain: string;
  socket: number | null;
  /** energy over the window, J; null when the source failed or its counter reset in the window */
  energyJ: number | null;
  /** mean power over the window, W */
  powerW: number | null;
  /** part of the device total */
  device: boolean;
  /** why energyJ is null, when it is; for a meter or the estimate, how the figure was made */
  note?: string;
  /** meter readings: the trapezoid integral of the window, or the run's mean power x its time (short windows) */
  method?: "trapezoid" | "run-mean";
  /** the estimate: the CPU frequency it priced the window at, MHz (null = unknown: the profile's maximum) */
  freqMHz?: number | null;
}

/** Where the estimate's CPU frequency comes from: set by splitwatt (the cpufreq layer), or scaling_cur_freq sampled over the window. */
export type FreqSource = "applied" | "scaling_cur_freq";

export interface EnergyWindow {
  durationMs: number;
  /** the window on the meter clock (epoch ms, src/hw/meters/meter.ts), for matching meter readings */
  span: MeterSpan;
  /** device energy over the window, J (sum of the device sources that have a figure, or the estimate) */
  deviceJ: number;
  /**
   * false when a device source has no figure for the window (a counter reset, a failed read, a
   * meter gap, or a meter reading not in yet: see settle()); deviceJ then leaves it out
   */
  deviceComplete: boolean;
  /** where deviceJ comes from: the kind of the device sources ("rapl", "ina3221", ... or "estimate") */
  source: EnergyKind | "mixed";
  /** true when deviceJ is the board power model's estimate, not a measurement */
  estimated: boolean;
  /** per source and domain */
  sources: EnergyReading[];
  /** CPU utilisation over the window (0..1), the estimate's input */
  cpuUtilisation: number | null;
  /** the CPU frequency over the window (time-weighted mean, MHz), the estimate's other input; null = unknown */
  freqMHz: number | null;
  freqSource: FreqSource | null;
}

/** A point in time to measure from. */
export interface EnergyMark {
  tNs: bigint;
  /** the meter clock (epoch ms) at the same instant */
  clockMs: number;
  snapshot: SamplerSnapshot | null;
  cpu: CpuTimes | null;
  /** CPUs counted in /proc/stat */
  cpuCount: number;
  cpuUsage: NodeJS.CpuUsage;
}

export interface EnergyMeterOptions extends EnergyDiscoveryOptions {
  /** sources to use (default: discovered) */
  sources?: EnergySource[] | undefined;
  /** which of them make up the device total (default: discovered selection) */
  device?: EnergySource[] | undefined;
  /** sampling period, 1..10000 ms (default 10) */
  periodMs?: number | undefined;
  /** board profile (name or path) for the estimate */
  board?: string | BoardProfile | undefined;
  /**
   * what CPU utilisation the estimate scales by: `system` (all CPUs from /proc/stat, default) or
   * `process` (this process's own CPU time: when the server or other work shares the machine
   * and must not be counted as the device's)
   */
  utilisation?: "system" | "process" | undefined;
  /** receives the sampler's batches (power timelines) */
  onBatch?: ((batch: SamplerBatch) => void) | undefined;
  /**
   * an external power meter (src/hw/meters/): a SPEC to open (closed with this EnergyMeter) or an
   * open Meter. It becomes the device source, replacing every other.
   */
  meter?: (MeterOpenOptions & { spec: string }) | Meter | undefined;
  /** warnings that arise while measuring (meter failures), as they happen; they also go to `warnings` */
  onWarning?: ((line: string) => void) | undefined;
}

/** A cpufreq policy whose scaling_cur_freq the sampler reads (as a "power" in kHz: its integral / time is the mean kHz). */
interface FreqPolicy {
  samplerId: string;
  cpus: number;
}

const FREQ_PREFIX = "cpufreq:";

/**
 * The shortest window /proc/stat prices, ms: two ticks of its unit (USER_HZ, 100 per second on
 * Linux), so a count moves by at least two per CPU. A shorter window takes this process's CPU
 * time, and since() does not read /proc/stat for it (a read and parse is ~0.05 ms here, on
 * every request of the daemon).
 */
const STAT_MIN_MS = 20;

/**
 * Energy over request windows from the best sources available: the native sampler thread for
 * counters and power sensors, the board power model x CPU utilisation where nothing else exists.
 */
export class EnergyMeter {
  readonly warnings: string[];
  private closed = false;
  private utilisationMode: "system" | "process" = "system";
  /** CPUs counted in /proc/stat when it was last read (marks that do not read it carry this) */
  private lastCpuCount = 1;
  /** the external meter that is the device source, when one was given */
  readonly meter: Meter | null = null;
  private ownsMeter = false;
  private freqPolicies: FreqPolicy[] = [];
  /** cpuinfo_max_freq (MHz), fmax for profiles without a cpu block */
  private maxMHz: number | undefined;
  /** frequencies splitwatt set, in time order (null = not set by splitwatt from then on) */
  private readonly applied: Array<{ tNs: bigint; kHz: number | null }> = [];

  private constructor(
    private readonly r: Roots,
    readonly sources: EnergySource[],
    readonly device: EnergySource[],
    private readonly sampler: NativeSampler | null,
    readonly board: BoardProfile,
    warnings: string[],
    meter: Meter | null,
  ) {
    this.warnings = warnings;
    this.meter = meter;
  }

  static async open(opts: EnergyMeterOptions = {}): Promise<EnergyMeter> {
    const r = roots(opts);
    const warnings: string[] = [];
    const warn = (line: string): void => {
      warnings.push(line);
      opts.onWarning?.(line);
    };
    let sources = opts.sources;
    let device = opts.device;
    if (sources === undefined) {
      const found = await energySources({ ...opts, io: r.io });
      sources = found.sources;
      device = device ?? found.device;
      warnings.push(...found.warnings);
    }
    device = device ?? sources;
    const board = typeof opts.board === "object" ? opts.board : boardProfile(opts.board);
    const given = opts.meter;
    const meter = given === undefined ? null : "view" in given ? given : openMeter(given.spec, { ...given, onWarning: warn });
    try {
      return await EnergyMeter.build(r, opts, sources, device, board, warnings, meter);
    } catch (err) {
      if (meter !== null && meter !== given) await meter.close();
      throw err;
    }
  }

  private static async build(r: Roots, opts: EnergyMeterOptions, sources: EnergySource[], device: EnergySource[], board: BoardProfile, warnings: string[], meter: Meter | null): Promise<EnergyMeter> {
    const meterSource: EnergySource | null = meter === null ? null : { id: `meter:${meter.label}`, kind: "meter", domain: "board", socket: null, measures: "power", path: null, spec: null };
    // the estimate follows the CPU frequency: the sampler reads each policy's scaling_cur_freq
    const estimating = meter === null && device.every((s) => s.kind === "estimate");
    const policies = estimating ? await new Cpufreq({ sysfsRoot: r.sysfsRoot, procRoot: r.procRoot, devRoot: r.devRoot, io: r.io, restoreOnExit: false }).policies().catch(() => []) : [];
    const freqSpecs: SamplerSourceSpec[] = policies.map((p) => ({ kind: "power-file", id: `${FREQ_PREFIX}${p.id}`, path: join(p.path, "scaling_cur_freq"), scaleToUW: 1 }));
    // Node-API 8 drops an exception thrown from a thread-safe-function callback: report it instead.
    const userOnBatch = opts.onBatch;
    const onBatch =
      userOnBatch === undefined
        ? undefined
        : (batch: SamplerBatch): void => {
            try {
              const energyUJ = Object.fromEntries(Object.entries(batch.energyUJ).filter(([id]) => !id.startsWith(FREQ_PREFIX)));
              userOnBatch({ ...batch, energyUJ });
            } catch (err) {
              process.emitWarning(`splitwatt: onBatch threw: ${(err as Error).message}`);
            }
          };
    // Build the sampler; a source that cannot be opened is dropped with a warning.
    let specs = [...sources.map((s) => s.spec).filter((s): s is SamplerSourceSpec => s !== null), ...freqSpecs];
    let sampler: NativeSampler | null = null;
    while (specs.length > 0) {
      try {
        sampler = new (binding().Sampler)({ sources: specs, periodMs: opts.periodMs ?? 10, ...(onBatch === undefined ? {} : { onBatch }) });
        break;
      } catch (err) {
        const failed = specs.find((s) => "path" in s && (err as { path?: string }).path === s.path) ?? specs.find((s) => (err as Error).message.includes(s.id));
        if (failed === undefined) throw err;
        warnings.push(
          failed.id.startsWith(FREQ_PREFIX)
            ? `${failed.id.slice(FREQ_PREFIX.length)} scaling_cur_freq is not readable (${(err as Error).message}): the estimate uses the frequency splitwatt sets, or prices at the profile's maximum`
            : `energy source ${failed.id} dropped: ${(err as Error).message}`,
        );
        specs = specs.filter((s) => s !== failed);
      }
    }
    const kept = new Set(specs.map((s) => s.id));
    const usable = sources.filter((s) => s.spec === null || kept.has(s.id));
    let dev = device.filter((s) => usable.includes(s));
    if (dev.length === 0) dev = usable.filter((s) => s.kind === "estimate");
    if (dev.length === 0) dev = [{ id: "estimate", kind: "estimate", domain: "cpu", socket: null, measures: "energy", path: null, spec: null }];
    if (meterSource !== null) {
      usable.push(meterSource);
      dev = [meterSource];
    }
    const m = new EnergyMeter(r, usable, dev, sampler, board, warnings, meter);
    m.ownsMeter = meter !== null && meter !== opts.meter;
    m.utilisationMode = opts.utilisation ?? "system";
    m.lastCpuCount = m.procStat()?.perCpu.size ?? 1;
    m.freqPolicies = policies.filter((p) => kept.has(`${FREQ_PREFIX}${p.id}`)).map((p) => ({ samplerId: `${FREQ_PREFIX}${p.id}`, cpus: Math.max(1, p.onlineCpus.length) }));
    m.maxMHz = policies.length > 0 ? Math.max(...policies.map((p) => p.maxKHz)) / 1000 : undefined;
    if (m.estimated) {
      const mismatch = boardMismatch(board, { arch: process.arch, cpus: m.presentCpus() });
      if (mismatch !== null) warnings.push(mismatch);
    }
    return m;
  }

  /** Start the sampler thread (needed to integrate power-only sources between marks). */
  start(): void {
    if (this.sampler !== null && !this.sampler.running) this.sampler.start();
  }

  get estimated(): boolean {
    return this.device.every((s) => s.kind === "estimate");
  }

  /**
   * A point to measure from. `expectMs`: how long the window is expected to last; one expected
   * under STAT_MIN_MS is marked without reading /proc/stat, so it is priced by this process's CPU
   * time even if it runs longer after all (the daemon passes its prediction: most of its windows
   * are a few ms, and the read is a tenth of its per-request cost).
   */
  mark(o: { expectMs?: number | undefined } = {}): EnergyMark {
    return this.markAt(!(o.expectMs !== undefined && o.expectMs < STAT_MIN_MS));
  }

  /**
   * A mark; /proc/stat is read only when `withStat` and the estimate scales by the system's CPUs
   * (`utilisation: system`); otherwise the mark carries the CPU count last read.
   */
  private markAt(withStat: boolean): EnergyMark {
    const snapshot = this.sampler === null ? null : this.sampler.sampleNow();
    const clockMs = meterClockMs();
    const stat = withStat && this.utilisationMode === "system" ? this.procStat() : null;
    if (stat !== null) this.lastCpuCount = stat.perCpu.size;
    return { tNs: snapshot?.tNs ?? process.hrtime.bigint(), clockMs, snapshot, cpu: stat?.all ?? null, cpuCount: stat?.perCpu.size ?? this.lastCpuCount, cpuUsage: process.cpuUsage() };
  }

  /** Whether the estimate can see the CPU frequency without being told (scaling_cur_freq is sampled). */
  get samplesFrequency(): boolean {
    return this.freqPolicies.length > 0;
  }

  /** Wait for an external meter's first reading (a window that starts before it has no figure). */
  async ready(): Promise<void> {
    await this.meter?.waitFor(meterClockMs());
  }

  /**
   * Tell the estimate the CPU frequency splitwatt has just set (kHz, the mean over the policies),
   * or null once it is no longer set (restored). Windows then price at it, time-weighted.
   */
  frequencyApplied(kHz: number | null): void {
    this.applied.push({ tNs: process.hrtime.bigint(), kHz });
    if (this.applied.length > 64) this.applied.splice(0, this.applied.length - 64);
  }

  /**
   * Finish meter windows: wait until the meter has a reading after the last of them (or cannot
   * give one), then compute each by the rule in src/hw/meters/meterEnergy.ts, the windows
   * together being the run (short windows take the run's mean power). Windows of other sources
   * come back unchanged.
   */
  async settle(windows: readonly EnergyWindow[]): Promise<EnergyWindow[]> {
    const meter = this.meter;
    if (meter === null || windows.length === 0) return [...windows];
    const run: MeterSpan = windows.reduce((r, w) => ({ fromMs: Math.min(r.fromMs, w.span.fromMs), toMs: Math.max(r.toMs, w.span.toMs) }), { fromMs: Number.POSITIVE_INFINITY, toMs: Number.NEGATIVE_INFINITY });
    await meter.waitFor(run.toMs);
    const periodMs = meter.periodMs();
    const runMean = { span: run, meanW: meterRunMeanW(meter.view(), run, periodMs) };
    return windows.map((w) => this.assemble(w, w.sources.map((x) => (x.kind === "meter" ? this.meterReading(w.span, runMean) : x))));
  }

  /** Energy from `from` to now. */
  since(from: EnergyMark): EnergyWindow {
    // /proc/stat cannot resolve a window shorter than STAT_MIN_MS: not read for one (utilisation())
    const to = this.markAt(from.cpu !== null && Number(process.hrtime.bigint() - from.tNs) >= STAT_MIN_MS * 1e6);
    return this.window(from, to);
  }

  /** Run `fn` and return its value with the energy and time of the window around it. */
  async measure<T>(fn: () => T | Promise<T>): Promise<{ value: T; window: EnergyWindow }> {
    const from = this.mark();
    const value = await fn();
    return { value, window: this.since(from) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sampler !== null) {
      if (this.sampler.running) await this.sampler.stop();
      this.sampler.dispose();
    }
    if (this.ownsMeter) await this.meter?.close();
  }

  /** CPUs present under the sysfs root (as the board profile counts cores). */
  private presentCpus(): number {
    try {
      return parseCpuList(this.r.io.readSync(this.r.sys("devices/system/cpu/present")), "present").length;
    } catch {
      return this.procStat()?.perCpu.size ?? availableParallelism();
    }
  }

  private procStat(): ProcStat | null {
    try {
      return parseProcStat(this.r.io.readSync(this.r.proc("stat")), this.r.proc("stat"));
    } catch {
      return null;
    }
  }

  private window(from: EnergyMark, to: EnergyMark): EnergyWindow {
    // Sampler time is CLOCK_MONOTONIC; hrtime is too, so both marks share a clock.
    const durationNs = Number(to.tNs - from.tNs);
    const seconds = durationNs / 1e9;
    const deviceIds = new Set(this.device.map((s) => s.id));
    const readings: EnergyReading[] = [];
    const before = new Map(from.snapshot?.sources.map((s) => [s.id, s]) ?? []);
    for (const s of to.snapshot?.sources ?? []) {
      const src = this.sources.find((x) => x.id === s.id);
      const a = before.get(s.id);
      if (src === undefined || a === undefined) continue;
      let energyJ: number | null = Number(s.energyNJ - a.energyNJ) / 1e9;
      let note: string | undefined;
      if (s.resets > a.resets) {
        energyJ = null;
        note = "counter reset during the window";
      } else if (s.samples === a.samples || s.errors > a.errors) {
        energyJ = null;
        note = s.lastErrno !== 0 ? `read failed (errno ${s.lastErrno})` : "no sample in the window";
      }
      readings.push({
        id: s.id,
        kind: src.kind,
        domain: src.domain,
        socket: src.socket,
        energyJ,
        powerW: energyJ === null || seconds <= 0 ? null : energyJ / seconds,
        device: deviceIds.has(s.id),
        ...(note === undefined ? {} : { note }),
      });
    }
    const span: MeterSpan = { fromMs: from.clockMs, toMs: to.clockMs };
    if (this.meter !== null) readings.push(this.meterReading(span, undefined));
    const util = this.utilisation(from, to, seconds);
    const freq = this.estimated ? this.frequency(from, to) : { freqMHz: null, freqSource: null };
    if (deviceIds.has("estimate")) {
      const energyJ = util === null ? null : seconds * estimatePowerW(this.board, util, freq.freqMHz, { maxMHz: this.maxMHz });
      readings.push({
        id: "estimate",
        kind: "estimate",
        domain: "cpu",
        socket: null,
        energyJ,
        powerW: energyJ === null ? null : energyJ / seconds,
        device: true,
        freqMHz: freq.freqMHz,
        note: this.frequencyNote(freq.freqMHz, freq.freqSource),
      });
    }
    return this.assemble({ durationMs: durationNs / 1e6, span, cpuUtilisation: util, ...freq }, readings);
  }

  /** The window from its parts: the device total and its source from the readings. */
  private assemble(w: Pick<EnergyWindow, "durationMs" | "span" | "cpuUtilisation" | "freqMHz" | "freqSource">, readings: EnergyReading[]): EnergyWindow {
    const dev = readings.filter((x) => x.device);
    const kinds = new Set(dev.map((x) => x.kind));
    return {
      durationMs: w.durationMs,
      span: w.span,
      deviceJ: dev.reduce((sum, x) => sum + (x.energyJ ?? 0), 0),
      deviceComplete: dev.every((x) => x.energyJ !== null),
      source: kinds.size === 1 ? ([...kinds][0] as EnergyKind) : "mixed",
      estimated: kinds.size === 1 && kinds.has("estimate"),
      sources: readings,
      cpuUtilisation: w.cpuUtilisation,
      freqMHz: w.freqMHz,
      freqSource: w.freqSource,
    };
  }

  /** The meter's reading of a window (no figure until the meter has a reading after its end: settle()). */
  private meterReading(span: MeterSpan, run: { span: MeterSpan; meanW: number | null } | undefined): EnergyReading {
    const meter = this.meter as Meter;
    const r = meterWindowEnergy(meter.view(), span, { periodMs: meter.periodMs(), run });
    const seconds = (span.toMs - span.fromMs) / 1000;
    return {
      id: `meter:${meter.label}`,
      kind: "meter",
      domain: "board",
      socket: null,
      energyJ: r.energyJ,
      powerW: r.energyJ === null || seconds <= 0 ? null : r.energyJ / seconds,
      device: true,
      ...(r.method === null ? {} : { method: r.method }),
      ...(r.note === null ? {} : { note: r.note }),
    };
  }

  /**
   * The CPU frequency over the window, time-weighted (MHz): what splitwatt set when it set it for
   * the whole window, else the mean of scaling_cur_freq sampled with the other readings (policies
   * weighted by their CPUs), else unknown.
   */
  private frequency(from: EnergyMark, to: EnergyMark): { freqMHz: number | null; freqSource: FreqSource | null } {
    const applied = this.appliedKHz(from.tNs, to.tNs);
    if (applied !== null) return { freqMHz: Math.round(applied / 100) / 10, freqSource: "applied" };
    if (this.freqPolicies.length === 0 || from.snapshot === null || to.snapshot === null) return { freqMHz: null, freqSource: null };
    const a = new Map(from.snapshot.sources.map((s) => [s.id, s]));
    const b = new Map(to.snapshot.sources.map((s) => [s.id, s]));
    const durationNs = Number(to.snapshot.tNs - from.snapshot.tNs);
    let sum = 0;
    let cpus = 0;
    for (const p of this.freqPolicies) {
      const x = a.get(p.samplerId) as SamplerSourceState | undefined;
      const y = b.get(p.samplerId) as SamplerSourceState | undefined;
      if (x === undefined || y === undefined || y.errors > x.errors || y.samples === x.samples) return { freqMHz: null, freqSource: null };
      // a "power" of kHz integrates to kHz x ns / 1e6 "nJ" (the sampler's trapezoid)
      const kHz = durationNs > 0 ? (Number(y.energyNJ - x.energyNJ) * 1e6) / durationNs : y.last;
      sum += kHz * p.cpus;
      cpus += p.cpus;
    }
    // to 0.1 MHz: the label and the price agree, and the sampler's nJ rounding does not show
    return cpus === 0 || !(sum > 0) ? { freqMHz: null, freqSource: null } : { freqMHz: Math.round(sum / cpus / 100) / 10, freqSource: "scaling_cur_freq" };
  }

  /** Time-weighted mean of the frequency splitwatt set over [from, to], kHz; null when it was not set for all of it. */
  private appliedKHz(from: bigint, to: bigint): number | null {
    const at = (t: bigint): number | null => {
      let v: number | null = null;
      for (const e of this.applied) if (e.tNs <= t) v = e.kHz;
      return v;
    };
    let cur = at(from);
    if (cur === null) return null;
    if (to <= from) return cur;
    let t = from;
    let acc = 0;
    for (const e of this.applied) {
      if (e.tNs <= from) continue;
      if (e.tNs >= to) break;
      acc += cur * Number(e.tNs - t);
      if (e.kHz === null) return null;
      cur = e.kHz;
      t = e.tNs;
    }
    acc += cur * Number(to - t);
    return acc / Number(to - from);
  }

  /** How the estimate reading says what frequency it priced at. */
  private frequencyNote(freqMHz: number | null, source: FreqSource | null): string {
    const model = this.board.power.model;
    const fmax = this.board.cpu?.maxMHz ?? this.maxMHz;
    if (freqMHz === null) {
      return model === undefined
        ? `board profile ${this.board.name} has no frequency model`
        : `CPU frequency unknown: priced at the profile's maximum${fmax === undefined ? "" : ` (${+fmax.toFixed(1)} MHz)`}`;
    }
    const how = source === "applied" ? "set by splitwatt" : "scaling_cur_freq, time-weighted";
    return `at ${+freqMHz.toFixed(1)} MHz (${how})${model === undefined ? `; board profile ${this.board.name} has no frequency model` : fmax === undefined ? "; fmax unknown, priced at the maximum" : ""}`;
  }

  /**
   * CPU utilisation over the window, 0..1: with `utilisation: system`, from /proc/stat when the
   * window is long enough for its counts to resolve it (STAT_MIN_MS, and 2 jiffies per CPU), else
   * from this process's own CPU time.
   */
  private utilisation(from: EnergyMark, to: EnergyMark, seconds: number): number | null {
    const cpus = Math.max(1, to.cpuCount);
    // to.cpu is read by since() only for a window of at least STAT_MIN_MS
    if (this.utilisationMode === "system" && from.cpu !== null && to.cpu !== null) {
      const total = to.cpu.total - from.cpu.total;
      if (total >= 2 * cpus) return Math.min(1, Math.max(0, (to.cpu.busy - from.cpu.busy) / total));
    }
    if (seconds <= 0) return null;
    const usedUs = to.cpuUsage.user - from.cpuUsage.user + (to.cpuUsage.system - from.cpuUsage.system);
    return Math.min(1, Math.max(0, usedUs / 1e6 / seconds / cpus));
  }
}
