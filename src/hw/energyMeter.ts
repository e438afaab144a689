import { binding } from "../native/binding.js";
import type { NativeSampler, SamplerBatch, SamplerSnapshot, SamplerSourceSpec } from "../native/types.js";
import { boardProfile, type BoardProfile } from "./boardProfile.js";
import { energySources, type EnergyDiscoveryOptions, type EnergyKind, type EnergySource } from "./energySources.js";
import { parseProcStat, type CpuTimes, type ProcStat } from "./parse.js";
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
  /** why energyJ is null, when it is */
  note?: string;
}

export interface EnergyWindow {
  durationMs: number;
  /** device energy over the window, J (sum of the device sources, or the estimate) */
  deviceJ: number;
  /** where deviceJ comes from: the kind of the device sources ("rapl", "ina3221", ... or "estimate") */
  source: EnergyKind | "mixed";
  /** true when deviceJ is the board power model's estimate, not a measurement */
  estimated: boolean;
  /** per source and domain */
  sources: EnergyReading[];
  /** CPU utilisation over the window (0..1), the estimate's input */
  cpuUtilisation: number | null;
}

/** A point in time to measure from. */
export interface EnergyMark {
  tNs: bigint;
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
}

/**
 * Energy over request windows from the best sources available: the native sampler thread for
 * counters and power sensors, the board power model x CPU utilisation where nothing else exists.
 */
export class EnergyMeter {
  readonly warnings: string[];
  private closed = false;
  private utilisationMode: "system" | "process" = "system";

  private constructor(
    private readonly r: Roots,
    readonly sources: EnergySource[],
    readonly device: EnergySource[],
    private readonly sampler: NativeSampler | null,
    readonly board: BoardProfile,
    warnings: string[],
  ) {
    this.warnings = warnings;
  }

  static async open(opts: EnergyMeterOptions = {}): Promise<EnergyMeter> {
    const r = roots(opts);
    const warnings: string[] = [];
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
    // Node-API 8 drops an exception thrown from a thread-safe-function callback: report it instead.
    const userOnBatch = opts.onBatch;
    const onBatch =
      userOnBatch === undefined
        ? undefined
        : (batch: SamplerBatch): void => {
            try {
              userOnBatch(batch);
            } catch (err) {
              process.emitWarning(`splitwatt: onBatch threw: ${(err as Error).message}`);
            }
          };
    // Build the sampler; a source that cannot be opened is dropped with a warning.
    let specs = sources.map((s) => s.spec).filter((s): s is SamplerSourceSpec => s !== null);
    let sampler: NativeSampler | null = null;
    while (specs.length > 0) {
      try {
        sampler = new (binding().Sampler)({ sources: specs, periodMs: opts.periodMs ?? 10, ...(onBatch === undefined ? {} : { onBatch }) });
        break;
      } catch (err) {
        const failed = specs.find((s) => "path" in s && (err as { path?: string }).path === s.path) ?? specs.find((s) => (err as Error).message.includes(s.id));
        if (failed === undefined) throw err;
        warnings.push(`energy source ${failed.id} dropped: ${(err as Error).message}`);
        specs = specs.filter((s) => s !== failed);
      }
    }
    const kept = new Set(specs.map((s) => s.id));
    const usable = sources.filter((s) => s.spec === null || kept.has(s.id));
    let dev = device.filter((s) => usable.includes(s));
    if (dev.length === 0) dev = usable.filter((s) => s.kind === "estimate");
    if (dev.length === 0) dev = [{ id: "estimate", kind: "estimate", domain: "cpu", socket: null, measures: "energy", path: null, spec: null }];
    const m = new EnergyMeter(r, usable, dev, sampler, board, warnings);
    m.utilisationMode = opts.utilisation ?? "system";
    return m;
  }

  /** Start the sampler thread (needed to integrate power-only sources between marks). */
  start(): void {
    if (this.sampler !== null && !this.sampler.running) this.sampler.start();
  }

  get estimated(): boolean {
    return this.device.every((s) => s.kind === "estimate");
  }

  mark(): EnergyMark {
    const snapshot = this.sampler === null ? null : this.sampler.sampleNow();
    const stat = this.procStat();
    return { tNs: snapshot?.tNs ?? process.hrtime.bigint(), snapshot, cpu: stat?.all ?? null, cpuCount: stat?.perCpu.size ?? 1, cpuUsage: process.cpuUsage() };
  }

  /** Energy from `from` to now. */
  since(from: EnergyMark): EnergyWindow {
    const to = this.mark();
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
    const util = this.utilisation(from, to, seconds);
    if (deviceIds.has("estimate")) {
      // the meter does not track the CPU frequency: null = the profile's figures at its maximum
      const energyJ = util === null ? null : seconds * estimatePowerW(this.board, util, null);
      readings.push({ id: "estimate", kind: "estimate", domain: "cpu", socket: null, energyJ, powerW: energyJ === null ? null : energyJ / seconds, device: true });
    }
    const dev = readings.filter((x) => x.device);
    const kinds = new Set(dev.map((x) => x.kind));
    return {
      durationMs: durationNs / 1e6,
      deviceJ: dev.reduce((sum, x) => sum + (x.energyJ ?? 0), 0),
      source: kinds.size === 1 ? ([...kinds][0] as EnergyKind) : "mixed",
      estimated: kinds.size === 1 && kinds.has("estimate"),
      sources: readings,
      cpuUtilisation: util,
    };
  }

  /**
   * CPU utilisation over the window, 0..1: from /proc/stat when the window spans enough
   * jiffies to resolve it (2 per CPU), else from this process's own CPU time.
   */
  private utilisation(from: EnergyMark, to: EnergyMark, seconds: number): number | null {
    const cpus = Math.max(1, to.cpuCount);
    if (this.utilisationMode === "system" && from.cpu !== null && to.cpu !== null) {
      const total = to.cpu.total - from.cpu.total;
      if (total >= 2 * cpus) return Math.min(1, Math.max(0, (to.cpu.busy - from.cpu.busy) / total));
    }
    if (seconds <= 0) return null;
    const usedUs = to.cpuUsage.user - from.cpuUsage.user + (to.cpuUsage.system - from.cpuUsage.system);
    return Math.min(1, Math.max(0, usedUs / 1e6 / seconds / cpus));
  }
}
