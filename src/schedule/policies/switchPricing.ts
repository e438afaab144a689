/**
 * What moving to a candidate from the configuration running now adds to a request, beyond the
 * candidate's own steady request: the policies add its time to every latency sample (so to the
 * probability of meeting the deadline) and its energy to the expected energy; the replay adds
 * both to the outcome it draws. Built once per pareto file; per decision `from(current)` (which
 * prices every candidate again only when the current configuration's values change), then
 * `timeMs(i)` and `energyJ(i)` are array reads.
 *
 * Three parts, each counted only when its value changes (the rule of switchCostMs,
 * src/predict/switchCost.ts: before the first request (current null) everything changes; at
 * split 0 no head runs, so a device target change costs nothing there):
 *
 *   CPU frequency  the space's frequency dimension (cpuFreqMHz, cpu-freq):
 *                  options.switchCost, time and energy (the daemon measures it at start)
 *   accelerator    the head's deviceTarget: time = options.acceleratorSwitchMs[target] (what the
 *                  daemon measured switching to that target) ?? the candidate's measured
 *                  switchCost.acceleratorMs (the profiler's: creating the head's session plus the
 *                  first run's excess, shader compilation on WebGPU, in a fresh process)
 *   GPU clock      gpuFreqMHz: time = options.gpuFreqSwitchMs ?? the candidate's switchCost.gpuFreqMs
 *
 *   energy of the accelerator and GPU-clock parts = P x time, P = the candidate's mean device
 *   power over its measured request (device J / mean latency; 0 when its device energy is unknown)
 *
 * Unmeasured (null or absent in the file, no option): never 0 in silence. The part is counted
 * as one CPU-frequency switch (options.switchCost's time and energy, the one switch cost every
 * daemon measures) and named in `assumed`, which the decision carries and its reason line says.
 *
 * A policy decides one request at a time, so a switch is charged to the request that makes it:
 * a costly switch that would pay off over later requests is not taken for one of them.
 */
import type { Config, ConfigValue } from "../../contracts/measurement.js";
import type { ParetoEntry, ParetoFile } from "../../contracts/paretoFile.js";
import { frequencyDimension, joules, ms } from "./candidates.js";
import type { SwitchParts } from "../policy.js";
import type { PolicyOptions } from "./policyOptions.js";

export type { SwitchParts };

/** A value's id in its dimension; NONE: the config lacks the dimension. */
const NONE = -1;
/** current null: differs from every value */
const ANY = -2;
/** current has a value no candidate has (or lacks the dimension): differs from every defined value */
const OTHER = -3;

class ValueIds {
  private readonly ids = new Map<ConfigValue, number>();
  id(v: ConfigValue | undefined): number {
    if (v === undefined) return NONE;
    let i = this.ids.get(v);
    if (i === undefined) {
      i = this.ids.size;
      this.ids.set(v, i);
    }
    return i;
  }
  /** the id of a current value (never adds one) */
  currentId(config: Config | null, dim: string): number {
    if (config === null) return ANY;
    const v = config[dim];
    return v === undefined ? OTHER : (this.ids.get(v) ?? OTHER);
  }
}

/** Whether a candidate with value id `to` changes from current id `from` (switchCostMs's `changed`). */
const changes = (to: number, from: number): boolean => to !== NONE && to !== from;

export class SwitchPricing {
  /** whether any part can ever cost something or be assumed (false: every call answers 0) */
  readonly active: boolean;
  private readonly n: number;
  private readonly freqIds = new ValueIds();
  private readonly targetIds = new ValueIds();
  private readonly gpuIds = new ValueIds();
  private readonly freq: Int32Array;
  private readonly target: Int32Array;
  private readonly gpu: Int32Array;
  private readonly headRuns: Uint8Array;
  private readonly accelMs: Float64Array;
  private readonly accelAssumed: Uint8Array;
  private readonly gpuMs: Float64Array;
  private readonly gpuAssumed: Uint8Array;
  private readonly powerW: Float64Array;
  private readonly cpu: { timeMs: number; energyJ: number };
  private readonly freqDim: string | null;
  private cur: Config | null | undefined = undefined;
  private curFreq = ANY;
  private curTarget = ANY;
  private curGpu = ANY;
  /** every candidate's time and energy from the current configuration (filled when it changes) */
  private readonly extraMs: Float64Array;
  private readonly extraJ: Float64Array;

  constructor(entries: readonly ParetoEntry[], space: ParetoFile["space"], opts: Pick<PolicyOptions, "switchCost" | "acceleratorSwitchMs" | "gpuFreqSwitchMs">) {
    const n = entries.length;
    this.n = n;
    this.freqDim = frequencyDimension(space);
    this.cpu = { ...opts.switchCost };
    this.freq = new Int32Array(n);
    this.target = new Int32Array(n);
    this.gpu = new Int32Array(n);
    this.headRuns = new Uint8Array(n);
    this.accelMs = new Float64Array(n);
    this.accelAssumed = new Uint8Array(n);
    this.gpuMs = new Float64Array(n);
    this.gpuAssumed = new Uint8Array(n);
    this.powerW = new Float64Array(n);
    this.extraMs = new Float64Array(n);
    this.extraJ = new Float64Array(n);
    let any = false;
    entries.forEach((e, i) => {
      const c = e.config;
      this.freq[i] = this.freqDim === null ? NONE : this.freqIds.id(c[this.freqDim]);
      this.target[i] = this.targetIds.id(c.deviceTarget);
      this.gpu[i] = this.gpuIds.id(c.gpuFreqMHz);
      this.headRuns[i] = c.split !== 0 ? 1 : 0;
      const given = c.deviceTarget === undefined ? undefined : opts.acceleratorSwitchMs?.[String(c.deviceTarget)];
      const accel = given ?? e.switchCost?.acceleratorMs ?? null;
      this.accelMs[i] = accel ?? this.cpu.timeMs;
      this.accelAssumed[i] = accel === null ? 1 : 0;
      const gpu = opts.gpuFreqSwitchMs ?? e.switchCost?.gpuFreqMs ?? null;
      this.gpuMs[i] = gpu ?? this.cpu.timeMs;
      this.gpuAssumed[i] = gpu === null ? 1 : 0;
      const device = e.energyJ.device;
      this.powerW[i] = device !== null && e.latencyMs > 0 ? device / (e.latencyMs / 1000) : 0;
      if (this.freq[i] !== NONE || this.target[i] !== NONE || this.gpu[i] !== NONE) any = true;
    });
    this.active = any;
  }

  /** Price from `current` on (the configuration the device runs now; null before the first request). Returns whether the prices changed since the last call. */
  from(current: Config | null): boolean {
    if (current === this.cur) return false;
    this.cur = current;
    const f = this.freqDim === null ? NONE : this.freqIds.currentId(current, this.freqDim);
    const t = this.targetIds.currentId(current, "deviceTarget");
    const g = this.gpuIds.currentId(current, "gpuFreqMHz");
    const changed = f !== this.curFreq || t !== this.curTarget || g !== this.curGpu || current === null;
    this.curFreq = f;
    this.curTarget = t;
    this.curGpu = g;
    if (changed && this.active) {
      for (let i = 0; i < this.n; i++) {
        this.extraMs[i] = this.computeMs(i);
        this.extraJ[i] = this.computeJ(i);
      }
    }
    return changed;
  }

  private cpuChanges(i: number): boolean {
    return changes(this.freq[i]!, this.curFreq);
  }

  private accelChanges(i: number): boolean {
    return this.headRuns[i] === 1 && changes(this.target[i]!, this.curTarget);
  }

  private gpuChanges(i: number): boolean {
    return changes(this.gpu[i]!, this.curGpu);
  }

  private computeMs(i: number): number {
    return (this.cpuChanges(i) ? this.cpu.timeMs : 0) + (this.accelChanges(i) ? this.accelMs[i]! : 0) + (this.gpuChanges(i) ? this.gpuMs[i]! : 0);
  }

  /** The time candidate `i` adds from the current configuration (the last `from`), ms. */
  timeMs(i: number): number {
    return this.active ? this.extraMs[i]! : 0;
  }

  /** The energy candidate `i` adds from the current configuration (the last `from`), J. */
  energyJ(i: number): number {
    return this.active ? this.extraJ[i]! : 0;
  }

  private computeJ(i: number): number {
    let e = this.cpuChanges(i) ? this.cpu.energyJ : 0;
    if (this.accelChanges(i)) e += this.accelAssumed[i] === 1 ? this.cpu.energyJ : (this.powerW[i]! * this.accelMs[i]!) / 1000;
    if (this.gpuChanges(i)) e += this.gpuAssumed[i] === 1 ? this.cpu.energyJ : (this.powerW[i]! * this.gpuMs[i]!) / 1000;
    return e;
  }

  /** The parts of candidate `i`'s switch from the current configuration; null when it costs nothing and nothing is assumed. */
  parts(i: number): SwitchParts | null {
    if (!this.active || i < 0 || i >= this.n) return null;
    const cpu = this.cpuChanges(i);
    const accel = this.accelChanges(i);
    const gpu = this.gpuChanges(i);
    const assumed: SwitchParts["assumed"] = [];
    if (accel && this.accelAssumed[i] === 1) assumed.push("accelerator");
    if (gpu && this.gpuAssumed[i] === 1) assumed.push("gpuFreq");
    const timeMs = this.timeMs(i);
    const energyJ = this.energyJ(i);
    if (timeMs === 0 && energyJ === 0 && assumed.length === 0) return null;
    return { timeMs, energyJ, cpuFreqMs: cpu ? this.cpu.timeMs : 0, acceleratorMs: accel ? this.accelMs[i]! : 0, gpuFreqMs: gpu ? this.gpuMs[i]! : 0, assumed };
  }
}

/** The reason line's words on the switch a decision makes ("" when none). */
export function switchNote(parts: SwitchParts | null): string {
  if (parts === null) return "";
  const what = [
    ...(parts.cpuFreqMs > 0 ? [`CPU frequency ${ms(parts.cpuFreqMs)}`] : []),
    ...(parts.acceleratorMs > 0 ? [`accelerator ${ms(parts.acceleratorMs)}`] : []),
    ...(parts.gpuFreqMs > 0 ? [`GPU clock ${ms(parts.gpuFreqMs)}`] : []),
  ];
  const assumed = parts.assumed.map((x) => (x === "accelerator" ? "accelerator" : "GPU-clock"));
  return `; switch counted: ${what.length > 0 ? what.join(" + ") : "0 ms"}, ${joules(parts.energyJ)}${
    assumed.length === 0 ? "" : ` (the ${assumed.join(" and ")} switch was not measured: counted as a CPU-frequency switch)`
  }`;
}
