/**
 * The profiler: one configuration (split, device CPU frequency, device GPU frequency, device
 * target, server target, codec) -> one Measurement, for real. It sets the frequencies (restored
 * after), runs the head here, sends the cut tensors through the codec to a tail server (a local
 * `splitwatt serve` child per server target when no URL is given), repeats requests until the
 * latency interval is tight or the time cap is reached, and accounts energy by part with the
 * source of each figure. Measurements go to a store and are reused: nothing is measured twice.
 *
 * A head is warmed up when its session is opened (SplitExecutor.warmUpHead: the first run, which
 * compiles shaders on WebGPU, is never a measured request); its session creation, first run and
 * steady state go into the record's host facts (`warmUp`) and its switch cost into `switchCost`,
 * with the GPU clock's measured set time. The record names the GPU adapter the head and the tail
 * ran on (`adapter`; `software: true` for lavapipe / SwiftShader: not accelerator figures).
 *
 * CPU heads run on a device thread (runtime/deviceThread.ts), as `splitwatt daemon` runs them: a
 * head's measured time includes the hop to that thread (its input copied there, its outputs
 * back; ~0.1 ms here, more on a slow board), which the daemon pays too, so the front predicts
 * what the daemon will see. WebGPU heads run on this thread, as in the daemon.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type * as ort from "onnxruntime-node";
import {
  canonicalConfigKey,
  canonicalTestbedKey,
  measurementKey,
  softwareAdapterLabel,
  testbedServer,
  type Adapters,
  type Conditions,
  type Config,
  type EnergySourceName,
  type Measurement,
  type Testbed,
  type WebGpuAdapter,
} from "../contracts/measurement.js";
import { UsageError } from "../errors.js";
import { boardProfile, type BoardProfile } from "../hw/boardProfile.js";
import { Cpufreq, type SetFrequencyResult } from "../hw/cpufreq.js";
import { EnergyMeter, type EnergyWindow } from "../hw/energyMeter.js";
import type { HwRootOptions } from "../hw/roots.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { Gpufreq, gpuFreqSwitchCostMs, type GpuFreqDevice, type SetGpuFrequencyResult } from "../hw/gpufreq.js";
import { DeviceThread } from "../runtime/deviceThread.js";
import { canonicalTargetName, parseExecutionTarget, usesGpuAdapter } from "../runtime/executionTarget.js";
import { ensureTargetAvailable, offeredTargets } from "../runtime/targetAvailability.js";
import { acceleratorSwitchCostMs, type HeadWarmUp } from "../runtime/warmUp.js";
import { webgpuProbe } from "../runtime/webgpu.js";
import { modelInputs } from "../runtime/modelInputs.js";
import { inputValuesDigest } from "../runtime/syntheticInputs.js";
import { SplitExecutor, type ExecutionResult } from "../runtime/splitExecutor.js";
import { codecName, parseCodec, type CodecSpec } from "../transport/codecs/codecs.js";
import { networkProfile, radioEnergyJ, type NetworkProfile } from "../transport/networkProfile.js";
import { AccuracyCache, accuracyKey } from "./accuracyCache.js";
import { adaptiveStop, DEFAULT_STOP_RULE, type StopReason, type StopRule } from "./adaptiveStop.js";
import { latencyStats } from "./latencyStats.js";
import { nodeProfile, type NodeProfile } from "./nodeProfile.js";
import { serverEnergyJ, type ServerAccounting } from "./serverEnergy.js";
import { splitAccuracy, type EvalSetKind } from "./splitAccuracy.js";
import type { MeasurementStore } from "./measurementStore.js";
import { plannedLink, TailConnection, type LinkMode } from "./tailConnection.js";
import { energySourceName as sourceName } from "./energySourceName.js";
import { streamMeasurement } from "./streamMeasurement.js";
import { streamRun } from "./streamRun.js";
import type { ServerKind } from "../transport/tritonCodec.js";

export type { LinkMode };

/**
 * One live configuration. `cpuFreqMHz` "current" leaves the frequency alone (machines without
 * cpufreq). `gpuFreqMHz`, where given, pins the board's GPU clock (the first GPU Gpufreq lists);
 * absent, the GPU clock is left alone and the config has no such dimension (its store key is
 * unchanged).
 */
export interface LiveConfig {
  split: number;
  cpuFreqMHz: number | "current";
  gpuFreqMHz?: number | undefined;
  deviceTarget: string;
  serverTarget: string;
  codec: string;
  /**
   * device batch b_d and server batch b_s: given (either), the configuration is measured as a
   * stream through the pipeline (throughput, per-item latency and energy); absent, one request
   * at a time
   */
  deviceBatch?: number | undefined;
  serverBatch?: number | undefined;
}

export interface ProfilerOptions extends HwRootOptions {
  /** the analysed model (cuts as in `splitwatt inspect`) and where its file is */
  analysis: ModelAnalysis;
  modelName: string;
  modelPath: string;
  /** which evaluation set measures accuracy: real labels (paddle-cls) or agreement with the unsplit model */
  evalSet: EvalSetKind;
  /** tail server URL; none = start a local `splitwatt serve` child */
  serverUrl?: string | undefined;
  /** the model's name on that server (default "model"; the local child serves it as "model") */
  serverModel?: string | undefined;
  /** splitwatt (default): `splitwatt serve`; triton: a stock OIP server serving `export-triton --codec` tails (needs serverUrl) */
  serverKind?: ServerKind | undefined;
  token?: string | undefined;
  /** network profile name or path; null = none (no radio energy, no shaping) */
  network?: string | null | undefined;
  /** how the local link is shaped to the network profile (default auto: kernel when root, else app) */
  link?: LinkMode | undefined;
  /** device board profile (power model for the estimate) */
  board?: string | undefined;
  /** server power model for server energy (default generic-x86) */
  serverBoard?: string | undefined;
  serverAccounting?: ServerAccounting | undefined;
  store?: MeasurementStore | null | undefined;
  accuracyCache?: AccuracyCache | undefined;
  /** measure accuracy (default true) */
  accuracy?: boolean | undefined;
  accuracyN?: number | undefined;
  stop?: Partial<StopRule> | undefined;
  /** unmeasured requests before measuring (default 3) */
  warmUp?: number | undefined;
  /** idle-baseline window before each configuration, ms (default 500) */
  idleMs?: number | undefined;
  /** cpufreq restore-state directory */
  stateDir?: string | undefined;
  /** host name in measurement keys (default os.hostname()) */
  hostName?: string | undefined;
  /** sampler period for energy sources, ms (default 10) */
  energyPeriodMs?: number | undefined;
  /** an external power meter SPEC (src/contracts/meterSpec.ts) for device energy, instead of any other source */
  meter?: string | undefined;
  /** its period, ms (default 200) */
  meterPeriodMs?: number | undefined;
  /** warnings that arise while measuring (meter failures), as they happen; they also go to the result's notes */
  onWarning?: ((line: string) => void) | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export interface ProfileResult {
  measurement: Measurement;
  /** true when the store already had it (nothing was measured) */
  cached: boolean;
  stopReason: StopReason | "cached";
  /** things a reader should know (estimates, shaping, shared machine) */
  notes: string[];
}

/** An open head: its executor and what warming it up took. */
interface OpenExecutor {
  key: string;
  x: SplitExecutor;
  warm: HeadWarmUp | null;
}

/** One measured request: what the executor saw, and the device's energy window (settled with the others before it is used). */
interface Sample {
  run: ExecutionResult;
  energy: EnergyWindow;
}

const mean = (xs: readonly number[]): number => (xs.length === 0 ? 0 : xs.reduce((s, x) => s + x, 0) / xs.length);

export class Profiler {
  readonly notes: string[] = [];
  /** tail connections by server target (a local child per target; one for a given URL) */
  private readonly connections = new Map<string, TailConnection>();
  /** the connection of the last split request */
  private connection: TailConnection | null = null;
  /** the executor of the last (split, device target): heads load once per cut and target */
  private executor: OpenExecutor | null = null;
  /** the thread CPU heads run on (opened with the first) */
  private thread: DeviceThread | null = null;
  private closed = false;

  private constructor(
    private readonly opts: ProfilerOptions,
    private readonly meter: EnergyMeter,
    private readonly cpufreq: Cpufreq | null,
    /** the GPU clock the gpuFreqMHz dimension sets (the first GPU Gpufreq lists), null when the board exposes none */
    private readonly gpu: { gpufreq: Gpufreq; device: GpuFreqDevice } | null,
    /** the restore guard both clocks share (one state file) */
    private readonly restoreClocks: () => void,
    private readonly network: NetworkProfile | null,
    private readonly serverProfile: BoardProfile,
    private readonly accuracyCache: AccuracyCache,
    readonly hostName: string,
    private testbedNow: Testbed,
  ) {}

  static async open(opts: ProfilerOptions): Promise<Profiler> {
    if (opts.serverKind === "triton" && opts.serverUrl === undefined) {
      throw new UsageError("--server-kind triton needs --server URL: a Triton or KServe server serving the tails splitwatt export-triton wrote (the local child is splitwatt serve)");
    }
    const hw: HwRootOptions = { sysfsRoot: opts.sysfsRoot, procRoot: opts.procRoot, devRoot: opts.devRoot, io: opts.io };
    const network = opts.network === null ? null : networkProfile(opts.network ?? "wifi-20mbps");
    const serverProfile = boardProfile(opts.serverBoard ?? "generic-x86");
    // a local tail server shares this machine: the estimate then counts this process's CPU only
    const meter = await EnergyMeter.open({
      ...hw,
      board: opts.board,
      periodMs: opts.energyPeriodMs,
      utilisation: opts.serverUrl === undefined ? "process" : "system",
      meter: opts.meter === undefined ? undefined : { spec: opts.meter, periodMs: opts.meterPeriodMs },
      onWarning: opts.onWarning,
    });
    meter.start();
    await meter.ready();
    const cpufreq = new Cpufreq({ ...hw, stateDir: opts.stateDir });
    const hasPolicies = (await cpufreq.policies().catch(() => [])).length > 0;
    const testbed: Testbed = {
      server: opts.serverUrl === undefined ? "local" : testbedServer(opts.serverUrl),
      network: network?.name ?? "none",
      link: await plannedLink({ serverUrl: opts.serverUrl, network, link: opts.link }),
      board: meter.board.name,
      // as host.deviceEnergy: "estimate", the counters' ids, or "meter:SPEC" (password hidden)
      deviceEnergy: meter.estimated ? "estimate" : meter.device.map((d) => d.id).join("+"),
      serverEnergy: `${opts.serverAccounting ?? "marginal"}@${serverProfile.name}`,
    };
    // one restore guard (state file, exit hooks) for the CPU and the GPU clocks
    const gpufreq = new Gpufreq({ ...hw, stateDir: opts.stateDir, guard: cpufreq.guard });
    const gpuDevice = (await gpufreq.devices().catch(() => []))[0];
    const p = new Profiler(
      opts,
      meter,
      hasPolicies ? cpufreq : null,
      gpuDevice === undefined ? null : { gpufreq, device: gpuDevice },
      () => cpufreq.restore(),
      network,
      serverProfile,
      opts.accuracyCache ?? AccuracyCache.open(null),
      opts.hostName ?? hostname(),
      testbed,
    );
    if (meter.estimated) {
      p.notes.push(
        `device energy is an estimate (board profile ${meter.board.name} x ${opts.serverUrl === undefined ? "this process's CPU utilisation, the local server's excluded" : "CPU utilisation"}, at the CPU frequency of each request: host.deviceEstimateFreqMHz): this machine has no energy counter`,
      );
    }
    if (meter.meter !== null) {
      p.notes.push(
        `device energy from the meter ${meter.meter.label}${opts.serverUrl === undefined ? " (whatever it powers: with the local tail server on this machine, the server's work too)" : ""}`,
      );
    }
    if (!hasPolicies) p.notes.push("no cpufreq on this machine: the frequency is the current one, not controlled");
    p.notes.push(...meter.warnings);
    return p;
  }

  /** where device energy comes from, for outputs: the meter and its spec, the counters, or the estimate's board profile */
  get deviceEnergyLabel(): string {
    const m = this.meter;
    if (m.meter !== null) return `meter ${m.meter.label}`;
    if (m.estimated) {
      const freq =
        this.cpufreq !== null
          ? "priced at each configuration's cpuFreqMHz (set by splitwatt)"
          : m.samplesFrequency
            ? "priced at the CPU frequency sampled from scaling_cur_freq (host.deviceEstimateFreqMHz of each measurement)"
            : "CPU frequency unknown: priced at the profile's maximum";
      return `estimate: board profile ${m.board.name} x CPU utilisation, ${freq}`;
    }
    return m.device.map((d) => d.id).join("+");
  }

  /** how the link to the tail server is made and shaped ("none" until the first split request) */
  get linkDescription(): string {
    return this.opts.serverUrl !== undefined ? `real network to ${this.opts.serverUrl}` : (this.connection?.linkLabel ?? "none");
  }

  get analysis(): ModelAnalysis {
    return this.opts.analysis;
  }

  /** `c` checked, with canonical codec and target names (as the store keys them) */
  normalised(c: LiveConfig): LiveConfig {
    return this.normalise(c).config;
  }

  /** the cuts of the model: 0 = all on the server, L = all on the device */
  get lastSplit(): number {
    return this.opts.analysis.cuts.length - 1;
  }

  /** Per-node timings of the whole model at a frequency and device target (for profile-guided search). */
  async profileNodes(cpuFreqMHz: number | "current", target: string, runs = 10): Promise<NodeProfile> {
    const c = this.normalise({ split: this.lastSplit, cpuFreqMHz, deviceTarget: target, serverTarget: "cpu", codec: "raw" }).config;
    try {
      if (c.cpuFreqMHz !== "current" && this.cpufreq !== null) await this.cpufreq.setAll(c.cpuFreqMHz * 1000);
      return await nodeProfile(this.opts.analysis, parseExecutionTarget(c.deviceTarget, "device"), runs);
    } finally {
      if (c.cpuFreqMHz !== "current") this.cpufreq?.restore();
    }
  }

  /** The frequencies (MHz) this machine offers, or ["current"] without cpufreq. */
  async frequencies(): Promise<Array<number | "current">> {
    if (this.cpufreq === null) return ["current"];
    const ps = await this.cpufreq.policies();
    const table = ps[0]?.availableKHz;
    if (table !== null && table !== undefined && table.length > 0) return table.map((k) => Math.round(k / 1000));
    const p = ps[0];
    return p === undefined ? ["current"] : [Math.round(p.minKHz / 1000), Math.round(p.maxKHz / 1000)];
  }

  /**
   * The GPU clock's frequencies (MHz) for the gpuFreqMHz dimension: the first GPU's table
   * (devfreq), or its hardware range's ends without one (i915: RPn and RP0); empty when the
   * board exposes no GPU clock.
   */
  gpuFrequencies(): number[] {
    const d = this.gpu?.device;
    if (d === undefined) return [];
    const kHz = d.availableKHz ?? [d.minKHz, d.maxKHz];
    // exact MHz (Jetson Orin's top step is 1300.5 MHz): a rounded value would not be offered
    return [...new Set(kHz.map((k) => k / 1000))].sort((a, b) => a - b);
  }

  /** True when the tail server is a given URL (not a local child): its target is what it runs, not ours to choose */
  get remoteServer(): boolean {
    return this.opts.serverUrl !== undefined;
  }

  /** The GPU clock the gpuFreqMHz dimension sets (its id, e.g. "devfreq:17000000.ga10b"), null without one. */
  get gpuClock(): string | null {
    return this.gpu?.device.id ?? null;
  }

  /**
   * The targets a search offers on a side by default: on the device and a local tail server,
   * `cpu`, `cpu:N` and `webgpu` when the WebGPU probe gets an adapter (targetAvailability.ts);
   * with a given server URL, what that server says it runs (GET /v2), else `cpu`.
   */
  async offeredTargets(side: "device" | "server"): Promise<string[]> {
    if (side === "server" && this.opts.serverUrl !== undefined) {
      const placement = (await this.tailConnection("cpu")).placement;
      return [placement.target ?? "cpu"];
    }
    return offeredTargets();
  }

  /** The record's config for a live config (as keys in the store). */
  configOf(c: LiveConfig): Config {
    return {
      split: c.split,
      cpuFreqMHz: c.cpuFreqMHz,
      ...(c.gpuFreqMHz === undefined ? {} : { gpuFreqMHz: c.gpuFreqMHz }),
      deviceTarget: c.deviceTarget,
      serverTarget: c.serverTarget,
      codec: c.codec,
      ...(c.deviceBatch === undefined ? {} : { deviceBatch: c.deviceBatch }),
      ...(c.serverBatch === undefined ? {} : { serverBatch: c.serverBatch }),
    };
  }

  /**
   * The testbed this profiler measures on (part of every key): the server, the network profile
   * and link, the board profile and the energy sources. Its link is the planned one until the
   * first split request opens the connection, then the one that was made.
   */
  get testbed(): Testbed {
    return this.testbedNow;
  }

  /** The store key of `config` on this host and testbed. */
  keyOf(config: Config): string {
    return measurementKey(config, this.hostName, this.opts.analysis.model.sha256, this.testbedNow);
  }

  /** The stored measurement of `c` on this testbed, if any. */
  cachedOf(c: LiveConfig): Measurement | undefined {
    return this.opts.store?.get(this.keyOf(this.configOf(this.normalise(c).config)));
  }

  /**
   * One line when the store holds measurements of this model (of `config`, when given) on this
   * host made on another testbed, which are not reused here; null when it holds none.
   */
  otherTestbedNote(config?: Config): string | null {
    const store = this.opts.store;
    if (store === null || store === undefined) return null;
    const sha = this.opts.analysis.model.sha256;
    const here = canonicalTestbedKey(this.testbedNow);
    const wanted = config === undefined ? null : canonicalConfigKey(config);
    const others = new Map<string, Testbed | undefined>();
    for (const m of store.latest()) {
      if (m.model.sha256 !== sha || m.host.name !== this.hostName) continue;
      if (wanted !== null && canonicalConfigKey(m.config) !== wanted) continue;
      const there = m.testbed === undefined ? "" : canonicalTestbedKey(m.testbed);
      if (there !== here) others.set(m.key, m.testbed);
    }
    if (others.size === 0) return null;
    const first = [...others.values()][0];
    const what = wanted === null ? `${others.size} measurement(s) of this model` : "this configuration";
    return `the store holds ${what} on this host made on another testbed (${testbedDifference(first, this.testbedNow)}): not reused here; \`splitwatt store list\` shows them`;
  }

  /** Validate and normalise (codec and target names canonical). */
  private normalise(c: LiveConfig): { config: LiveConfig; codec: CodecSpec } {
    if (!Number.isInteger(c.split) || c.split < 0 || c.split > this.lastSplit) {
      throw new UsageError(`split ${c.split} is out of range: this model has cuts 0-${this.lastSplit} (0 = all on the server, ${this.lastSplit} = all on the device; see splitwatt inspect)`);
    }
    const codec = parseCodec(c.codec);
    for (const [name, b] of [
      ["deviceBatch", c.deviceBatch],
      ["serverBatch", c.serverBatch],
    ] as const) {
      if (b !== undefined && (!Number.isInteger(b) || b < 1 || b > 4096)) throw new UsageError(`${name} ${b}: give a whole number of items from 1 to 4096`);
    }
    if (c.cpuFreqMHz !== "current") {
      if (!Number.isFinite(c.cpuFreqMHz) || c.cpuFreqMHz <= 0) throw new UsageError(`--freq-mhz ${c.cpuFreqMHz}: give a positive number of MHz`);
      if (this.cpufreq === null) throw new UsageError("this machine offers no cpufreq, so the frequency cannot be set: leave out --freq-mhz (the current frequency is used)");
    }
    if (c.gpuFreqMHz !== undefined) {
      if (!Number.isFinite(c.gpuFreqMHz) || c.gpuFreqMHz <= 0) throw new UsageError(`--gpu-freq-mhz ${c.gpuFreqMHz}: give a positive number of MHz`);
      if (this.gpu === null) throw new UsageError("this board exposes no GPU clock (no devfreq GPU, no i915 card): leave out --gpu-freq-mhz (see splitwatt hw)");
    }
    return { config: { ...c, codec: codecName(codec), deviceTarget: canonicalTargetName(c.deviceTarget, "device"), serverTarget: canonicalTargetName(c.serverTarget, "server") }, codec };
  }

  /** Measure one configuration (or return its stored measurement unless `fresh`). */
  async measure(input: LiveConfig, opts: { fresh?: boolean | undefined; signal?: AbortSignal | undefined } = {}): Promise<ProfileResult> {
    if (this.closed) throw new Error("profiler is closed");
    const { config: c, codec } = this.normalise(input);
    const config = this.configOf(c);
    const stored = this.opts.store?.get(this.keyOf(config));
    if (stored !== undefined && opts.fresh !== true) return { measurement: stored, cached: true, stopReason: "cached", notes: [] };
    const elsewhere = stored === undefined ? this.otherTestbedNote(config) : null;

    const progress = this.opts.onProgress ?? (() => {});
    const last = c.split === this.lastSplit;
    const deviceTarget = parseExecutionTarget(c.deviceTarget, "device");
    const serverTarget = parseExecutionTarget(c.serverTarget, "server");
    // refused in one line before anything changes (webgpu without an adapter: the probe's reason and the fix)
    if (c.split > 0) await ensureTargetAvailable(deviceTarget, "device");
    if (!last && this.opts.serverUrl === undefined) await ensureTargetAvailable(serverTarget, "server");
    let freq: SetFrequencyResult[] = [];
    let gpuFreq: SetGpuFrequencyResult | null = null;
    const warningsBefore = this.meter.warnings.length;
    try {
      if (c.cpuFreqMHz !== "current" && this.cpufreq !== null) {
        freq = await this.cpufreq.setAll(c.cpuFreqMHz * 1000);
        if (freq.length > 0) this.meter.frequencyApplied(mean(freq.map((f) => f.appliedKHz)));
      }
      if (c.gpuFreqMHz !== undefined && this.gpu !== null) gpuFreq = await this.gpu.gpufreq.setFrequency(this.gpu.device.id, c.gpuFreqMHz * 1000);
      if (c.deviceBatch !== undefined || c.serverBatch !== undefined) {
        const { x } = await this.executorOf(c, modelInputs(this.opts.analysis, { seed: 7 }));
        const connection = last ? null : await this.tailConnection(c.serverTarget);
        this.connection = connection ?? this.connection;
        const { measurement, notes, reason } = await this.measureStream(x, c, config, this.keyOf(config), freq, connection, opts.signal);
        notes.push(...this.meter.warnings.slice(warningsBefore));
        if (measurement.energyJ.device !== null) this.opts.store?.append(measurement);
        else notes.push("not stored: the stream had no device energy figure; measure again");
        return { measurement, cached: false, stopReason: reason, notes: [...this.notes, ...notes] };
      }
      const feeds = modelInputs(this.opts.analysis, { seed: 7 });
      const open = await this.executorOf(c, feeds);
      const x = open.x;
      const connection = last ? null : await this.tailConnection(c.serverTarget);
      if (connection !== null && this.opts.serverUrl !== undefined && connection.placement.target !== null && connection.placement.target !== c.serverTarget) {
        throw new UsageError(
          `the server at ${this.opts.serverUrl} runs tails on ${connection.placement.target}, not ${c.serverTarget}: give --server-target ${connection.placement.target} (with --server, the server target is what that server runs)`,
        );
      }
      this.connection = connection ?? this.connection;
      const request = (): Promise<Sample> => this.request(x, feeds, codec, opts.signal);
      // a tail on a GPU compiles its shaders on its first request: never a measured one
      const gpuTail = !last && usesGpuAdapter(serverTarget);
      const warmUp = Math.max(this.opts.warmUp ?? 3, gpuTail ? 1 : 0);
      for (let i = 0; i < warmUp; i++) await request();
      // idle baseline at this frequency, after the warm-up's load has passed
      const idleMs = this.opts.idleMs ?? 500;
      const idle = await this.meter.measure(() => sleep(idleMs));
      const [idleWindow] = await this.meter.settle([idle.window]);
      const idleW = idleWindow !== undefined && idleWindow.deviceComplete && idleWindow.durationMs > 0 ? idleWindow.deviceJ / (idleWindow.durationMs / 1000) : null;

      const rule: StopRule = { ...DEFAULT_STOP_RULE, ...(this.opts.stop ?? {}) };
      const samples: Sample[] = [];
      const t0 = performance.now();
      let reason: StopReason | null = null;
      let lastReport = t0;
      while (reason === null) {
        if (opts.signal?.aborted === true) throw opts.signal.reason instanceof Error ? opts.signal.reason : new Error("aborted");
        samples.push(await request());
        reason = adaptiveStop(
          samples.map((s) => s.run.timings.totalMs),
          performance.now() - t0,
          rule,
        );
        if (performance.now() - lastReport > 2000) {
          lastReport = performance.now();
          const st = latencyStats(samples.map((s) => s.run.timings.totalMs));
          progress(`split ${c.split} @ ${c.cpuFreqMHz} MHz ${c.codec}: ${st.n} requests, mean ${st.mean.toFixed(1)} ms ±${(st.ciRel * 100).toFixed(1)}%`);
        }
      }
      const adapter: Adapters = {
        device: c.split > 0 && usesGpuAdapter(deviceTarget) ? await this.deviceAdapter() : null,
        server: last ? null : (connection?.placement.adapter ?? null),
      };
      // the key after the connection is open: its link is the one that was made
      const { measurement, notes } = await this.record(c, config, this.keyOf(config), samples, idleW, freq, { warm: open.warm, gpuFreq, adapter, connection, headThread: headThreadOf(open.x, c.split) });
      if (elsewhere !== null) notes.push(elsewhere);
      notes.push(...this.meter.warnings.slice(warningsBefore));
      const label = softwareAdapterLabel(adapter);
      if (label !== null) notes.push(label);
      // a record without a device figure (meter gaps in every request) is not kept: measure it again
      if (measurement.energyJ.device !== null) this.opts.store?.append(measurement);
      else notes.push("not stored: no request had a device energy figure; measure again");
      return { measurement, cached: false, stopReason: reason, notes: [...this.notes, ...notes] };
    } finally {
      // also after a partial change (a later policy refused): restore() undoes what was changed
      if (c.cpuFreqMHz !== "current" || c.gpuFreqMHz !== undefined) this.restoreClocks();
      if (c.cpuFreqMHz !== "current") this.meter.frequencyApplied(null);
    }
  }

  /**
   * A batched configuration: a stream through the pipeline (streamRun), warm-up, idle baseline
   * and the bound's calibration first, then contiguous windows of items until the stop rule
   * holds on their ms per item (`minRuns` / `maxRuns` count windows). Latency is per item, from
   * its acceptance into the pipeline to its result (queueing included); energy per item is the
   * windows' device energy over their items.
   */
  private async measureStream(
    x: SplitExecutor,
    c: LiveConfig,
    config: Config,
    key: string,
    freq: SetFrequencyResult[],
    connection: TailConnection | null,
    signal: AbortSignal | undefined,
  ): Promise<{ measurement: Measurement; notes: string[]; reason: StopReason }> {
    const a = this.opts.analysis;
    const bd = c.deviceBatch ?? 1;
    const bs = c.serverBatch ?? 1;
    const distinct = Array.from({ length: 8 }, (_, i) => modelInputs(a, { seed: 7, sample: i }));
    const cycle = function* (n: number): Generator<Record<string, ort.Tensor>> {
      for (let i = 0; i < n; i++) yield distinct[i % distinct.length] as Record<string, ort.Tensor>;
    };
    const rtt = connection === null ? { totalMs: 0, networkMs: 0 } : await connection.roundTrip();
    const rttMs = rtt.totalMs;
    const networkRttMs = rtt.networkMs;
    const group = Math.max(bd, bs, 2);
    await streamRun(cycle((this.opts.warmUp ?? 3) * group), { executor: x, deviceBatch: bd, serverBatch: bs, rttMs, signal });
    const idleMs = this.opts.idleMs ?? 500;
    const idle = await this.meter.measure(() => sleep(idleMs));
    const [idleWindow] = await this.meter.settle([idle.window]);
    const idleW = idleWindow !== undefined && idleWindow.deviceComplete && idleWindow.durationMs > 0 ? idleWindow.deviceJ / (idleWindow.durationMs / 1000) : null;
    const rule: StopRule = { ...DEFAULT_STOP_RULE, ...(this.opts.stop ?? {}) };
    let reason: StopReason = "max-runs";
    const r = await streamRun(cycle(Number.MAX_SAFE_INTEGER), {
      executor: x,
      deviceBatch: bd,
      serverBatch: bs,
      rttMs,
      networkRttMs,
      calibration: [...cycle(2 * group)],
      meter: this.meter,
      signal,
      window: {
        items: 4 * group,
        stop: (msPerItem, elapsedMs) => {
          const why = adaptiveStop(msPerItem, elapsedMs, rule);
          if (why !== null) reason = why;
          return why !== null;
        },
      },
    });
    if (signal?.aborted === true) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    const m: Measurement = {
      ...streamMeasurement({
        config,
        key,
        model: { name: this.opts.modelName, sha256: a.model.sha256 },
        run: r,
        last: c.split === this.lastSplit,
        network: this.network,
        serverProfile: this.serverProfile,
        serverAccounting: this.opts.serverAccounting ?? "marginal",
        deviceSource: this.meter.estimated ? "estimate" : sourceName(this.meter.device[0]?.kind),
        accuracy: await this.accuracyOf(c),
        conditions: this.conditions([], idleW, c.split === this.lastSplit, connection),
        host: {
          name: this.hostName,
          board: this.meter.board.name,
          arch: process.arch,
          deviceEnergy: this.meter.estimated ? "estimate" : this.meter.device.map((d) => d.id).join("+"),
          deviceIdleW: idleW,
          appliedFreqKHz: freq.map((f) => f.appliedKHz),
          headThread: headThreadOf(x, c.split),
          network: this.network?.name ?? null,
          link: this.linkDescription,
          serverPowerModel: this.serverProfile.name,
        },
      }),
      testbed: this.testbedNow,
    };
    const notes = [...r.notes];
    if (r.windows.some((w) => w.energy !== null && !w.energy.deviceComplete)) notes.push("some windows had no device energy figure: energy per item is over the others");
    return { measurement: m, notes, reason };
  }

  /** Accuracy of `c`'s split and codec (cached; null when not measured). */
  private async accuracyOf(c: LiveConfig): Promise<Measurement["accuracy"]> {
    if (this.opts.accuracy === false) return null;
    const a = this.opts.analysis;
    const n = this.opts.accuracyN ?? (this.opts.evalSet === "paddle-cls" ? 400 : 32);
    const akey = accuracyKey(a.model.sha256, c.split, c.codec, this.opts.evalSet, n, this.opts.evalSet === "agreement" ? inputValuesDigest(a.inputValues) : null);
    let acc = this.accuracyCache.get(akey);
    if (acc === undefined) {
      this.opts.onProgress?.(`accuracy of split ${c.split} ${c.codec} on ${n} ${this.opts.evalSet === "paddle-cls" ? "labelled samples" : "samples (agreement with the unsplit model)"}`);
      acc = await splitAccuracy(a, c.split, parseCodec(c.codec), { evalSet: this.opts.evalSet, n });
      this.accuracyCache.set(akey, acc);
    }
    return { value: acc.value, n: acc.n, ci95: acc.ci95 };
  }

  /** The adapter WebGPU heads run on (the probe's; null when it names none). */
  private async deviceAdapter(): Promise<WebGpuAdapter | null> {
    const p = await webgpuProbe();
    return p.available ? p.adapter : null;
  }

  /** One request through the executor, inside a device-energy window. */
  private async request(x: SplitExecutor, feeds: Record<string, ort.Tensor>, codec: CodecSpec, signal: AbortSignal | undefined): Promise<Sample> {
    const mark = this.meter.mark();
    const run = await x.run(feeds, { codec, signal });
    return { run, energy: this.meter.since(mark) };
  }

  /**
   * The executor of `c`'s split, device target and server target (a tail connection is opened on
   * first need), its head warmed up when it is new.
   */
  private async executorOf(c: LiveConfig, feeds: Record<string, ort.Tensor>): Promise<OpenExecutor> {
    const last = c.split === this.lastSplit;
    const key = `${c.split}|${c.deviceTarget}|${last ? "" : c.serverTarget}`;
    if (this.executor?.key === key) return this.executor;
    if (this.executor !== null) {
      await this.executor.x.release();
      this.executor = null;
    }
    const client = last ? null : (await this.tailConnection(c.serverTarget)).client;
    const deviceTarget = parseExecutionTarget(c.deviceTarget, "device");
    if (deviceTarget.kind === "cpu" && c.split > 0) this.thread ??= new DeviceThread();
    const x = await SplitExecutor.open(this.opts.analysis, {
      cut: c.split,
      deviceTarget,
      deviceThread: deviceTarget.kind === "cpu" ? (this.thread ?? undefined) : undefined,
      codec: parseCodec(c.codec),
      // at the last cut nothing is sent: the tail spec is not used
      tail: client === null ? { kind: "local" } : { kind: "remote", client, model: this.opts.serverModel ?? "model", serverKind: this.opts.serverKind },
      label: this.opts.modelName,
    });
    try {
      // the head's first run (shader compilation on WebGPU) before any request, timed apart
      const warm = await x.warmUpHead(feeds);
      this.executor = { key, x, warm };
    } catch (e) {
      await x.release();
      throw e;
    }
    return this.executor;
  }

  /** The tail server for a server target: a local child per target, or the given URL (one connection, whatever the target). */
  private async tailConnection(serverTarget: string): Promise<TailConnection> {
    const key = this.opts.serverUrl === undefined ? serverTarget : "";
    const open = this.connections.get(key);
    if (open !== undefined) return open;
    const connection = await TailConnection.open({
      serverUrl: this.opts.serverUrl,
      token: this.opts.token,
      modelPath: this.opts.modelPath,
      inputShapes: this.opts.analysis.inputShapes,
      inputValues: this.opts.analysis.inputValues,
      network: this.network,
      link: this.opts.link,
      // a pipelined configuration keeps several requests in flight, each on its own connection
      connections: 16,
      target: serverTarget,
    });
    this.connections.set(key, connection);
    if (!this.notes.includes(connection.note)) this.notes.push(connection.note);
    if (connection.linkMode !== this.testbedNow.link) {
      // auto chose the kernel path but it failed: the records say what was measured
      this.notes.push(`the link is ${connection.linkMode}, not the planned ${this.testbedNow.link}: measurements of this run are keyed with link=${connection.linkMode}`);
      this.testbedNow = { ...this.testbedNow, link: connection.linkMode };
    }
    return connection;
  }

  /** What the link was like while `samples` ran. */
  private conditions(samples: readonly Sample[], idleW: number | null, last: boolean, conn: TailConnection | null): Conditions {
    const net = this.network;
    const rttMs = conn?.addedRttMs ?? null;
    let measuredBandwidthMbps: number | null = null;
    let serverWaitMs: number | null = null;
    if (!last && samples.length > 0) {
      const payloadMs = samples.reduce((n, s) => n + Math.max(0, s.run.timings.transferMs - (rttMs ?? 0)), 0);
      const bits = samples.reduce((n, s) => n + s.run.wireBytes * 8, 0);
      // below 0.05 ms a request the payload time is clock noise, not a rate
      if (payloadMs / samples.length >= 0.05 && bits > 0) measuredBandwidthMbps = bits / payloadMs / 1000;
      // the queue wait the server reported with its answers (its load signal)
      const waits = samples.map((s) => s.run.server?.load?.estimatedWaitMs ?? null);
      if (waits.every((w) => w !== null)) serverWaitMs = Math.max(0, mean(waits as number[]));
    }
    return {
      network: net?.name ?? null,
      bandwidthMbps: last ? null : (conn?.shapedUplinkMbps ?? measuredBandwidthMbps),
      measuredBandwidthMbps,
      rttMs: last ? null : rttMs,
      serverWaitMs,
      link: last ? "none: all on the device" : this.linkDescription,
      server: last ? null : (conn?.serverName ?? null),
      deviceIdleW: idleW,
      radio: net === null ? null : { txW: net.radio.txW, rxW: net.radio.rxW },
    };
  }

  /** Turn samples into a Measurement, with notes on how its device energy was made. */
  private async record(
    c: LiveConfig,
    config: Config,
    key: string,
    samples: Sample[],
    idleW: number | null,
    freq: SetFrequencyResult[],
    x: { warm: HeadWarmUp | null; gpuFreq: SetGpuFrequencyResult | null; adapter: Adapters; connection: TailConnection | null; headThread: ReturnType<typeof headThreadOf> },
  ): Promise<{ measurement: Measurement; notes: string[] }> {
    const a = this.opts.analysis;
    const totals = samples.map((s) => s.run.timings.totalMs);
    const st = latencyStats(totals);
    const last = c.split === this.lastSplit;
    const avg = (f: (s: Sample) => number): number => mean(samples.map(f));
    // a meter's windows get their figures once its readings after the last request are in
    const windows = await this.meter.settle(samples.map((s) => s.energy));
    const known = windows.filter((w) => w.deviceComplete);
    const deviceJ = known.length === 0 ? null : mean(known.map((w) => w.deviceJ));
    const deviceActiveJ = deviceJ === null || idleW === null ? null : Math.max(0, deviceJ - (idleW * st.mean) / 1000);
    const notes: string[] = [];
    if (known.length < windows.length) notes.push(`${windows.length - known.length} of ${windows.length} requests had no device energy figure (${deviceGapReason(windows)}): device energy is the mean of the others`);
    const facts = this.deviceFacts(windows, notes);
    const net = this.network;
    const transferMs = avg((s) => s.run.timings.transferMs);
    const wireBytes = Math.round(avg((s) => s.run.wireBytes));
    const tensorBytes = Math.round(avg((s) => s.run.tensorBytes));
    const bytesReceived = Math.round(avg((s) => s.run.receivedBytes));
    let networkJ: number | null = null;
    if (last) networkJ = net === null ? null : 0;
    else if (net !== null) {
      const upMs = (wireBytes * 8) / (net.uplinkMbps * 1000);
      const txMs = Math.min(transferMs, upMs);
      networkJ = radioEnergyJ(net, { txMs, rxMs: Math.max(0, transferMs - txMs) });
    }
    // the server's own measurement when every request carried one, else its power model x busy time
    const reported = !last && samples.every((s) => s.run.server?.energyJ != null);
    const serverJ = last
      ? 0
      : reported
        ? avg((s) => s.run.server?.energyJ as number)
        : avg((s) =>
            serverEnergyJ({
              accounting: this.opts.serverAccounting ?? "marginal",
              profile: this.serverProfile,
              computeMs: s.run.server?.computeMs ?? s.run.timings.serverMs,
              serverMs: s.run.timings.serverMs,
            }),
          );
    const deviceSource = (deviceJ === null ? null : this.meter.estimated ? "estimate" : sourceName(this.meter.device[0]?.kind)) as EnergySourceName | null;
    const serverSource: EnergySourceName = reported
      ? sourceName(samples[0]?.run.server?.energySource ?? undefined)
      : (this.opts.serverAccounting ?? "marginal") === "node"
        ? "node"
        : "estimate";
    const accuracy = await this.accuracyOf(c);
    const parts = [networkJ, serverJ].filter((x): x is number => x !== null);
    const stage = (f: (s: Sample) => number): number => (last ? 0 : avg(f));
    const measurement: Measurement = {
      version: 1,
      key,
      config,
      model: { name: this.opts.modelName, sha256: a.model.sha256 },
      host: {
        name: this.hostName,
        board: this.meter.board.name,
        arch: process.arch,
        deviceEnergy: this.meter.estimated ? "estimate" : this.meter.device.map((d) => d.id).join("+"),
        deviceIdleW: idleW,
        deviceActiveJ,
        ...facts,
        appliedFreqKHz: freq.map((f) => f.appliedKHz),
        headThread: x.headThread,
        // the head's warm-up when its session was opened (shared by every config with this split and targets)
        warmUp: x.warm,
        gpuFreq: x.gpuFreq === null ? null : { device: x.gpuFreq.device, appliedKHz: x.gpuFreq.appliedKHz, method: x.gpuFreq.method, setMs: x.gpuFreq.setMs },
        network: net?.name ?? null,
        link: this.linkDescription,
        serverAccounting: reported ? "measured by the server over its compute windows" : (this.opts.serverAccounting ?? "marginal"),
        serverPowerModel: this.serverProfile.name,
        latencyCi95: st.ci95,
        bytesReceived,
      },
      latencyMs: { mean: st.mean, p50: st.p50, p95: st.p95, p99: st.p99, n: st.n, samples: totals },
      breakdownMs: {
        head: avg((s) => s.run.timings.headMs),
        encode: stage((s) => s.run.timings.encodeMs),
        transfer: last ? 0 : transferMs,
        server: stage((s) => s.run.timings.serverMs),
        decode: stage((s) => s.run.timings.decodeMs),
      },
      bytes: tensorBytes,
      wireBytes,
      energyJ: { device: deviceJ, network: networkJ, server: serverJ, total: deviceJ === null ? null : parts.reduce((x, y) => x + y, deviceJ) },
      energySource: { device: deviceSource, network: networkJ === null ? null : "estimate", server: serverSource },
      accuracy,
      conditions: this.conditions(samples, idleW, last, x.connection),
      testbed: this.testbedNow,
      adapter: x.adapter,
      switchCost: { acceleratorMs: x.warm === null ? null : acceleratorSwitchCostMs(x.warm), gpuFreqMs: x.gpuFreq === null ? null : gpuFreqSwitchCostMs([x.gpuFreq]) },
      measuredAt: new Date().toISOString(),
      source: "measured",
    };
    return { measurement, notes };
  }

  /**
   * Host facts on the device energy of these windows: the meter's spec, period and how the
   * windows were integrated; or the CPU frequency the estimate priced them at.
   */
  private deviceFacts(windows: EnergyWindow[], notes: string[]): Record<string, unknown> {
    const m = this.meter;
    if (m.meter !== null) {
      const readings = windows.map((w) => w.sources.find((x) => x.kind === "meter"));
      const runMean = readings.filter((r) => r?.method === "run-mean").length;
      const periodMs = m.meter.periodMs();
      if (runMean > 0) {
        notes.push(
          `${runMean} of ${windows.length} requests were shorter than 3 meter periods (3 x ${periodMs.toFixed(0)} ms): each got the run's mean power x its time (as DynaSplit divided a run's energy by its images)`,
        );
      }
      return {
        deviceMeter: {
          spec: m.meter.label,
          periodMs: +periodMs.toFixed(1),
          windows: windows.length,
          integrated: readings.filter((r) => r?.method === "trapezoid").length,
          runMean,
          noFigure: readings.filter((r) => r?.energyJ === null || r === undefined).length,
        },
      };
    }
    if (!m.estimated) return {};
    const priced = windows.filter((w) => w.freqMHz !== null);
    const totalMs = priced.reduce((x, w) => x + w.durationMs, 0);
    const freqMHz = priced.length === 0 ? null : totalMs > 0 ? priced.reduce((x, w) => x + (w.freqMHz as number) * w.durationMs, 0) / totalMs : (priced[0]?.freqMHz ?? null);
    const sources = [...new Set(priced.map((w) => w.freqSource))];
    return {
      deviceEstimateFreqMHz: freqMHz === null ? null : +freqMHz.toFixed(1),
      deviceEstimateFreqSource: priced.length < windows.length ? (priced.length === 0 ? "unknown: priced at the profile's maximum" : "partly unknown") : sources.length === 1 ? sources[0] : "mixed",
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.restoreClocks();
    await this.executor?.x.release();
    this.executor = null;
    await this.thread?.close();
    this.thread = null;
    for (const c of this.connections.values()) await c.close();
    this.connections.clear();
    this.connection = null;
    await this.meter.close();
  }
}

/** Where a configuration's head ran (host.headThread): on the device thread, on the profiler's own thread (WebGPU), or none (cut 0). */
function headThreadOf(x: SplitExecutor, split: number): "device thread" | "event loop" | null {
  return split === 0 ? null : x.options.deviceThread !== undefined ? "device thread" : "event loop";
}

/** How testbed `a` (undefined: not recorded) differs from `b`, e.g. `server local, here http://10.0.0.2:8000`. */
export function testbedDifference(a: Testbed | undefined, b: Testbed): string {
  if (a === undefined) return "not recorded: stored before splitwatt keyed measurements by testbed";
  const fields = (Object.keys(b) as Array<keyof Testbed>).filter((k) => a[k] !== b[k]);
  return fields.map((k) => `${k} ${a[k]}, here ${b[k]}`).join("; ");
}

/** Why windows had no device figure, the first reason given. */
function deviceGapReason(windows: EnergyWindow[]): string {
  for (const w of windows) {
    if (w.deviceComplete) continue;
    const r = w.sources.find((x) => x.device && x.energyJ === null);
    if (r?.note !== undefined) return r.note;
  }
  return "no reading";
}
