/**
 * One request, start to answer (the daemon's one path; every endpoint calls it):
 *
 *   1. `--on-infeasible reject`: decide now; no configuration predicted to meet the deadline is
 *      a 422 at once, saying the best predicted latency
 *   2. device queue (earliest deadline first; 429 when full): decide with the deadline left, the
 *      current estimates (the policy sees the server as down while the breaker is not closed) and
 *      the configuration running now (the switches it counts), switch the CPU frequency and the
 *      GPU clock when the configuration names others, run the head and the codec; a head on
 *      another device target than the previous one is an accelerator switch, measured
 *      (AcceleratorSwitches)
 *   3. outside the queue: the tail on the server, within the time left for it: deadline + grace,
 *      less what a fallback to the device would need (its expected time for itself and for every
 *      other request that may fall back with it, those waiting on the server or queued for the
 *      device, plus a fifth of the grace as a margin); its answer feeds the estimator and the breaker
 *   4. the server failed or timed out mid-flight: the same request runs on the device (queued
 *      again, same deadline: decided among all-on-device configurations, else the whole model)
 *   5. device energy over the request's window (head start to result), energy by part; the
 *      outcome is recorded (metrics, recent decisions) once the answer is sent, before the event
 *      loop reads anything else; an external meter's figure is settled later
 *
 * The caller's signal (client gone, or the watchdog at deadline + grace) cancels a queued job
 * and a remote call; nothing else waits on it.
 */
import type * as ort from "onnxruntime-node";
import { canonicalConfigKey, type Config } from "../../contracts/measurement.js";
import type { EnergyMeter, EnergyWindow } from "../../hw/energyMeter.js";
import type { ExecutionResult } from "../../runtime/splitExecutor.js";
import { HttpError } from "../../transport/http/httpError.js";
import { TailServerError } from "../../transport/tailClient.js";
import type { DeviceQueue } from "../deviceQueue.js";
import { NoCandidateError } from "../policies/index.js";
import type { Decision, Policy } from "../policy.js";
import type { DaemonMetrics } from "./daemonMetrics.js";
import type { AcceleratorSwitches } from "./acceleratorSwitches.js";
import type { DecisionLog } from "./decisionLog.js";
import { deviceEnergy, energyParts, type EnergyContext } from "./energyParts.js";
import { headMsOf, type ExecutorSet } from "./executors.js";
import type { DeviceSpeed } from "../estimators/deviceSpeed.js";
import type { LocalRuns } from "../estimators/localRuns.js";
import type { FrequencyControl } from "./frequencyControl.js";
import type { GpuClockControl } from "./gpuClockControl.js";
import type { SplitExecutor } from "../../runtime/splitExecutor.js";
import type { FallbackReason, Outcome } from "./outcome.js";
import type { PolicyBook } from "./policyBook.js";
import type { RequestParams } from "./requestParams.js";
import type { RunnableConfig } from "./runnableConfig.js";
import type { ServerLink } from "./serverLink.js";

/** Below this many ms left for the server, the request goes to the device at once. */
const MIN_REMOTE_MS = 1;
/** The share of the grace a remote call leaves unused, so a fallback that starts when it times out still ends within deadline + grace. */
const FALLBACK_MARGIN = 0.2;

export interface RunnerDeps {
  /** the device's head time now over as measured: fed by every head, read by every decision */
  speed: DeviceSpeed;
  /** the device's recent all-on-device runs: fed by each such head, read by every decision (null: not kept) */
  localRuns: LocalRuns | null;
  executors: ExecutorSet;
  /** runnable form of every configuration, by canonical key */
  runnable: (config: Config) => RunnableConfig;
  /** the whole model on the device, as a configuration (the fallback of last resort) */
  whole: RunnableConfig;
  /** what the local fallback is expected to take, ms */
  localEstimateMs: number;
  queue: DeviceQueue;
  frequency: FrequencyControl;
  gpu: GpuClockControl;
  accelerators: AcceleratorSwitches;
  meter: EnergyMeter;
  server: ServerLink | null;
  policies: PolicyBook;
  metrics: DaemonMetrics;
  decisions: DecisionLog;
  energy: Omit<EnergyContext, "bandwidthMbps">;
  clock: () => number;
  graceMs: number;
  serverTimeoutMs: number;
  onInfeasible: "run-fastest" | "reject";
  log: (record: Record<string, unknown>) => void;
  logRequests: boolean;
}

export interface RunRequest {
  feeds: Record<string, ort.Tensor>;
  params: RequestParams;
  /** performance.now() when the request arrived */
  arrivalMs: number;
  signal: AbortSignal;
}

interface Clocks {
  cpu: { switched: boolean; ms: number };
  gpu: { switched: boolean; ms: number };
}

interface Ran {
  result: ExecutionResult;
  decision: Decision | null;
  config: RunnableConfig;
  switched: boolean;
  switchMs: number;
  gpu: { switched: boolean; ms: number };
  accelerator: { target: string | null; switched: boolean; switchMs: number | null };
}

const ms = (x: number): string => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;

export class RequestRunner {
  private current: Config | null = null;
  private seq = 0;
  private pending: Array<{ id: number; window: EnergyWindow; outcome: Outcome }> = [];
  /** requests waiting on the tail server now (each may fall back to the device) */
  private remoteWaiting = 0;
  private settling: Promise<void> | null = null;

  constructor(private readonly d: RunnerDeps) {}

  /** The configuration the device runs now. */
  get currentConfig(): Config | null {
    return this.current;
  }

  private decide(policy: Policy, p: RequestParams, nowMs: number, deadlineLeftMs: number, serverUp: boolean): Decision {
    const known = this.d.server?.estimator.state(nowMs) ?? { bandwidthMbps: null, bandwidthCv: null, rttMs: null, serverWaitMs: null };
    const speed = this.d.speed.estimate(nowMs);
    const link = { bandwidthMbps: known.bandwidthMbps, rttMs: known.rttMs, serverWaitMs: known.serverWaitMs, headScale: speed.headScale, headCv: speed.headCv, bandwidthCv: known.bandwidthCv };
    return policy.decide({ deadlineMs: deadlineLeftMs, minAccuracy: p.minAccuracy }, { nowMs, link, serverUp, current: this.current, observedLocal: this.d.localRuns?.snapshot(nowMs) });
  }

  /** A decision, with the policy's NoCandidateError as the 422 it is for a request. */
  private decideOr422(policy: Policy, p: RequestParams, nowMs: number, left: number, serverUp: boolean): Decision {
    try {
      return this.decide(policy, p, nowMs, left, serverUp);
    } catch (err) {
      if (err instanceof NoCandidateError) throw new HttpError(422, err.message);
      throw err;
    }
  }

  private async switchFrequency(c: RunnableConfig): Promise<{ switched: boolean; ms: number }> {
    try {
      const r = await this.d.frequency.apply(c.cpuFreqMHz);
      if (r.switched) {
        this.d.metrics.switches.inc();
        this.d.metrics.switchTime.observe(r.ms / 1000);
      }
      return r;
    } catch (err) {
      // the request still runs, at whatever frequency the board is at
      this.d.log({ level: "warn", msg: "frequency switch failed", mhz: c.cpuFreqMHz, error: (err as Error).message });
      return { switched: false, ms: 0 };
    }
  }

  private async switchGpu(c: RunnableConfig): Promise<{ switched: boolean; ms: number }> {
    try {
      const r = await this.d.gpu.apply(c.gpuFreqMHz);
      if (r.switched) {
        this.d.metrics.gpuSwitches.inc();
        this.d.metrics.gpuSwitchTime.observe(r.ms / 1000);
      }
      return r;
    } catch (err) {
      this.d.log({ level: "warn", msg: "GPU clock change failed", mhz: c.gpuFreqMHz, error: (err as Error).message });
      return { switched: false, ms: 0 };
    }
  }

  /** The clocks a configuration names: CPU frequency, then GPU clock, each only when it changes. */
  private async clocks(c: RunnableConfig): Promise<Clocks> {
    const cpu = await this.switchFrequency(c);
    const gpu = await this.switchGpu(c);
    return { cpu, gpu };
  }

  /** A head ran on `exec`: an accelerator switch when its target is another than the previous head's, measured and counted. */
  private noteHead(exec: SplitExecutor, headMs: number, clocks: Clocks): Ran["accelerator"] {
    const d = this.d;
    const target = d.executors.headTarget(exec);
    if (target === null) return { target: null, switched: false, switchMs: null };
    const key = `${exec.options.cut}|${target}@${d.frequency.currentMHz ?? "-"}/${d.gpu.currentMHz ?? "-"}`;
    const r = d.accelerators.observe({ target, key, headMs, clocksChanged: clocks.cpu.switched || clocks.gpu.switched });
    if (r.switched) {
      d.metrics.acceleratorSwitches.inc({ target });
      if (r.ms !== null) d.metrics.acceleratorSwitchTime.observe({ target }, r.ms / 1000);
    }
    return { target, switched: r.switched, switchMs: r.ms };
  }

  async run(req: RunRequest): Promise<Outcome> {
    const d = this.d;
    const { params, arrivalMs, signal } = req;
    const policy = d.policies.get(params.policy);
    const absMs = arrivalMs + params.deadlineMs;
    const id = ++this.seq;
    if (d.onInfeasible === "reject") {
      const now = d.clock();
      const pre = this.decideOr422(policy, params, now, absMs - now, d.server?.up(now) ?? false);
      if (!pre.feasible) {
        d.metrics.infeasible.inc({ policy: policy.name, action: "rejected" });
        throw new HttpError(
          422,
          `no configuration is predicted to meet deadline_ms ${params.deadlineMs} under the current estimates: the best predicted latency is ${ms(pre.predicted.latencyMs)} (${canonicalConfigKey(pre.entry.config)}, P ${pre.probability.toFixed(3)}); send a deadline_ms of at least ${Math.ceil(pre.predicted.latencyMs)}, or run the daemon with --on-infeasible run-fastest`,
        );
      }
    }
    // 2. the device's part, in the queue
    const head = await d.queue.push(
      async () => {
        const start = d.clock();
        const serverUp = d.server?.up(start) ?? false;
        const decision = this.decideOr422(policy, params, start, absMs - start, serverUp);
        const config = d.runnable(decision.entry.config);
        const exec = d.executors.of(config) ?? d.executors.whole;
        const clocks = await this.clocks(config);
        const mark = d.meter.mark({ expectMs: decision.predicted.latencyMs });
        const stage = await exec.head(req.feeds, { codec: config.codec, signal });
        if (d.executors.of(config) === exec) {
          const at = d.clock();
          d.speed.observe(at, headMsOf(stage), decision.entry.breakdownMs.head);
          if (stage.kind === "done" && config.runKey !== null) d.localRuns?.observe(config.runKey, at, headMsOf(stage));
        }
        const accelerator = this.noteHead(exec, headMsOf(stage), clocks);
        return { start, serverUp, decision, config, exec, sw: clocks.cpu, gpu: clocks.gpu, accelerator, mark, stage };
      },
      { deadlineMs: absMs, signal, kind: "head" },
    );
    let fallback: Outcome["fallback"] = d.server !== null && !head.serverUp ? { reason: "breaker-open", detail: d.server.error ?? "the tail server is out", from: null } : null;
    let ran: Ran;
    const own = { gpu: head.gpu, accelerator: head.accelerator };
    if (head.stage.kind === "done") ran = { result: head.stage.result, decision: head.decision, config: head.config, switched: head.sw.switched, switchMs: head.sw.ms, ...own };
    else {
      // 3. the tail, within the time the fallback leaves
      const server = d.server as ServerLink;
      const reserveMs = d.localEstimateMs * (1 + this.remoteWaiting + d.queue.stats().queued) + FALLBACK_MARGIN * d.graceMs;
      const budget = absMs + d.graceMs - d.clock() - reserveMs;
      let failure: { reason: FallbackReason; detail: string } | null = null;
      let result: ExecutionResult | null = null;
      if (budget < MIN_REMOTE_MS) failure = { reason: "no-time-for-server", detail: `no time left for the server (${ms(Math.max(0, budget + reserveMs))} to the deadline + grace, a fallback to the device needs ~${ms(reserveMs)})` };
      else {
        this.remoteWaiting++;
        try {
          result = await head.exec.tail(head.stage, { signal, timeoutMs: Math.max(1, Math.floor(Math.min(budget, d.serverTimeoutMs))) });
          const now = d.clock();
          server.outcome(now, "success");
          server.observe(now, result);
        } catch (err) {
          if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : err;
          const timeout = err instanceof TailServerError && err.status === 504;
          const detail = (err as Error).message;
          server.outcome(d.clock(), timeout ? "timeout" : "error", detail);
          failure = { reason: timeout ? "server-timeout" : "server-error", detail };
          d.log({ level: "warn", msg: "remote tail failed: the request runs on the device", id, reason: failure.reason, error: detail });
        } finally {
          this.remoteWaiting--;
        }
      }
      if (result !== null) ran = { result, decision: head.decision, config: head.config, switched: head.sw.switched, switchMs: head.sw.ms, ...own };
      else {
        // 4. the same request on the device
        const f = failure as { reason: FallbackReason; detail: string };
        fallback = { ...f, from: head.decision.entry.config };
        const local = await this.runLocal(policy, req, absMs);
        ran = {
          ...local,
          switched: head.sw.switched || local.switched,
          switchMs: head.sw.ms + local.switchMs,
          gpu: { switched: head.gpu.switched || local.gpu.switched, ms: head.gpu.ms + local.gpu.ms },
          accelerator: { target: local.accelerator.target, switched: head.accelerator.switched || local.accelerator.switched, switchMs: local.accelerator.switchMs ?? head.accelerator.switchMs },
        };
      }
    }
    // 5. energy, outcome, records
    const end = d.clock();
    const window = d.meter.since(head.mark);
    const bandwidthMbps = d.server?.estimator.state(end).bandwidthMbps ?? null;
    const energy = energyParts(ran.result, window, d.meter.meter !== null, { ...d.energy, bandwidthMbps });
    const used = ran.decision;
    const entryConfig = used?.entry.config ?? { split: ran.config.split, cpuFreqMHz: ran.config.cpuFreqMHz ?? "current", deviceTarget: ran.config.deviceTarget, serverTarget: "-", codec: "raw" };
    if (used !== null) this.current = used.entry.config;
    const t = ran.result.timings;
    const latencyMs = end - arrivalMs;
    const outcome: Outcome = {
      id,
      policy: policy.name,
      config: entryConfig,
      configKey: canonicalConfigKey(entryConfig),
      reason: used?.reason ?? "the whole model on the device: no all-on-device configuration in the front",
      feasible: head.decision.feasible,
      probability: used?.probability ?? 0,
      predicted: used === null ? { latencyMs: d.localEstimateMs, breakdownMs: null, energyJ: { device: null, network: null, server: null, total: 0 }, perPart: false } : { latencyMs: used.predicted.latencyMs, breakdownMs: used.predicted.breakdownMs, energyJ: used.predicted.energyJ, perPart: used.predicted.perPart },
      deadlineMs: params.deadlineMs,
      deadlineMet: latencyMs <= params.deadlineMs,
      latencyMs,
      queueMs: head.start - arrivalMs,
      breakdownMs: { head: t.headMs, encode: t.encodeMs, transfer: t.transferMs, server: t.serverMs, decode: t.decodeMs },
      frequency: { controlled: d.frequency.controlled, mhz: d.frequency.currentMHz, switched: ran.switched, switchMs: ran.switchMs },
      gpu: { controlled: d.gpu.controlled, mhz: d.gpu.currentMHz, switched: ran.gpu.switched, switchMs: ran.gpu.ms },
      accelerator: ran.accelerator,
      predictedSwitch: used?.switchCost ?? null,
      fallback,
      energy,
      bytesSent: ran.result.wireBytes,
      outputs: ran.result.outputs,
    };
    // metrics and the recent decisions once the promise chain that sends the answer has run (a
    // tick runs when the microtasks are drained), before the event loop reads anything else
    process.nextTick(() => this.record(outcome, window));
    return outcome;
  }

  /**
   * Device work of a stream (a head batch, a local tail) through the device queue, at `config`'s
   * CPU frequency: it waits behind every job with an earlier deadline, so requests with deadlines
   * go first (a stream's jobs have none: `deadlineMs` Infinity). Never refused for a full queue:
   * the stream bounds its own jobs.
   */
  device<T>(config: RunnableConfig, job: () => Promise<T>, o: { deadlineMs: number; signal?: AbortSignal | undefined; kind: string }): Promise<T> {
    return this.d.queue.push(
      async () => {
        await this.switchFrequency(config);
        return job();
      },
      { deadlineMs: o.deadlineMs, signal: o.signal, kind: o.kind, overLimit: true },
    );
  }

  /** The request on the device: decided among all-on-device configurations, else the whole model. */
  private async runLocal(policy: Policy, req: RunRequest, absMs: number): Promise<Omit<Ran, never>> {
    const d = this.d;
    return d.queue.push(
      async () => {
        const now = d.clock();
        let decision: Decision | null = null;
        try {
          decision = this.decide(policy, req.params, now, absMs - now, false);
        } catch (err) {
          if (!(err instanceof NoCandidateError)) throw err;
        }
        const config = decision === null ? d.whole : d.runnable(decision.entry.config);
        const exec = d.executors.of(config) ?? d.executors.whole;
        const clocks = await this.clocks(config);
        const result = await exec.run(req.feeds, { codec: config.codec, signal: req.signal });
        if (decision !== null && d.executors.of(config) === exec) d.speed.observe(d.clock(), result.timings.headMs, decision.entry.breakdownMs.head);
        const accelerator = this.noteHead(exec, result.timings.headMs, clocks);
        return { result, decision, config, switched: clocks.cpu.switched, switchMs: clocks.cpu.ms, gpu: clocks.gpu, accelerator };
      },
      { deadlineMs: absMs, signal: req.signal, kind: "fallback" },
    );
  }

  private record(o: Outcome, window: EnergyWindow): void {
    const d = this.d;
    const m = d.metrics;
    m.decisions.inc({ policy: o.policy, config: o.configKey });
    m.deadlines.inc({ policy: o.policy, result: o.deadlineMet ? "hit" : "miss" });
    m.latency.observe({ policy: o.policy }, o.latencyMs / 1000);
    if (!o.feasible) m.infeasible.inc({ policy: o.policy, action: "ran-fastest" });
    if (o.fallback !== null) m.fallbacks.inc({ reason: o.fallback.reason });
    const e = o.energy;
    for (const part of ["device", "network", "server"] as const) {
      const j = e.energyJ[part];
      if (j !== null) m.energy.observe({ part, source: e.source[part] ?? "none" }, j);
    }
    d.decisions.add({
      id: o.id,
      at: new Date().toISOString(),
      policy: o.policy,
      configKey: o.configKey,
      deadlineMs: o.deadlineMs,
      latencyMs: Math.round(o.latencyMs * 1000) / 1000,
      predictedLatencyMs: Math.round(o.predicted.latencyMs * 1000) / 1000,
      probability: o.probability,
      feasible: o.feasible,
      deadlineMet: o.deadlineMet,
      fallback: o.fallback?.reason ?? null,
      energyJ: e.energyJ.total,
      deviceEnergySource: e.source.device,
    });
    if (e.devicePending) this.settleLater(o, window);
  }

  /** An external meter's window: settled (its readings in) in the background, then recorded. */
  private settleLater(o: Outcome, window: EnergyWindow): void {
    if (this.pending.length >= 10_000) this.pending.shift();
    this.pending.push({ id: o.id, window, outcome: o });
    if (this.settling === null) {
      this.settling = this.settleAll().finally(() => {
        this.settling = null;
      });
    }
  }

  private async settleAll(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0);
      let settled: EnergyWindow[];
      try {
        settled = await this.d.meter.settle(batch.map((b) => b.window));
      } catch (err) {
        this.d.log({ level: "warn", msg: "meter readings could not be settled", error: (err as Error).message });
        return;
      }
      batch.forEach((b, i) => {
        const w = settled[i];
        if (w === undefined) return;
        const dev = deviceEnergy(w, true);
        if (dev.j === null) return;
        const e = b.outcome.energy;
        this.d.metrics.energy.observe({ part: "device", source: dev.source }, dev.j);
        const rec = this.d.decisions.find(b.id);
        if (rec !== undefined) rec.energyJ = dev.j + (e.energyJ.network ?? 0) + (e.energyJ.server ?? 0);
      });
    }
  }

  /** Resolves once every pending meter window is settled (or could not be). */
  async drained(): Promise<void> {
    while (this.settling !== null) await this.settling;
  }
}
