/**
 * `splitwatt daemon`: the online phase on the edge board. At start it loads the front and the
 * model (refusing, one line, a front made for another model), the heads its configurations need
 * and the whole model (the local fallback), holds the CPU frequency, asks the tail server for
 * every tail it needs, and listens (127.0.0.1 by default). Each request then goes through the
 * one path of requestRunner.ts; the endpoints are the route modules in routes/.
 *
 * `close()` stops accepting (new connections refused, requests on open ones 503), waits for
 * every accepted request (each ends within its deadline + grace), settles the meter, restores
 * the CPU frequency (and the GPU clock) and releases everything. A crash leaves the clocks' state
 * file, which the next start restores first; a normal exit without close() restores through an
 * exit hook.
 *
 * Switch costs: at start the daemon measures what the policies count when a request moves the
 * device to another configuration: a CPU-frequency switch (FrequencyControl.calibrate), a switch
 * between loaded heads of different device targets (ExecutorSet.calibrateSwitches) and a GPU
 * clock change (GpuClockControl.calibrate); while serving it measures every real switch and
 * hands the policies the new figures when they move (followSwitchCost).
 */
import { readFileSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { resolveDaemonOptions, type DaemonOptions, type DaemonOptionsInput } from "../../contracts/daemonConfig.js";
import { canonicalConfigKey, type Config } from "../../contracts/measurement.js";
import { parseExecutionTarget } from "../../runtime/executionTarget.js";
import { readParetoFile, type LoadedParetoFile } from "../../contracts/paretoFile.js";
import { MalformedError, SplitwattError, UsageError } from "../../errors.js";
import { boardProfile } from "../../hw/boardProfile.js";
import { Cpufreq } from "../../hw/cpufreq.js";
import { defaultStateDir } from "../../hw/cpufreqGuard.js";
import { EnergyMeter } from "../../hw/energyMeter.js";
import type { ServerAccounting } from "../../measure/serverEnergy.js";
import { analyzeModel, type ModelAnalysis } from "../../model/cutPoints.js";
import { imagePreprocessor, preprocessorFor, type ImagePreprocessor } from "../../model/imageInput.js";
import { loadModel } from "../../model/onnxModel.js";
import { ortMessage } from "../../model/ortMessage.js";
import { resolveModel } from "../../model/resolveModel.js";
import { shapeCache } from "../../model/shapeCache.js";
import { mulberry32 } from "../../mulberry32.js";
import { modelInputs } from "../../runtime/modelInputs.js";
import { ByteBudget } from "../../transport/byteBudget.js";
import { codecName, type CodecSpec } from "../../transport/codecs/codecs.js";
import { answerError, BEARER_CHALLENGE, bearerAuth, clientErrorAnswer, contentLength, HttpError, lingeringClose, listenHttp, readBody } from "../../transport/http/index.js";
import { networkProfile, type NetworkProfile } from "../../transport/networkProfile.js";
import { TailClient, type LinkShape } from "../../transport/tailClient.js";
import { checkTritonCodec } from "../../transport/tritonCodec.js";
import { tensorMeta, type ModelMeta } from "../../transport/tailModels.js";
import { BREAKER_STATE_VALUE } from "../circuitBreaker.js";
import { DeviceQueue, QueueClosedError, QueueFullError } from "../deviceQueue.js";
import { NoCandidateError, V1_POLICIES } from "../policies/index.js";
import { placementOf, splitAxis } from "../placement.js";
import type { DaemonContext } from "./daemonContext.js";
import { AcceleratorSwitches } from "./acceleratorSwitches.js";
import { daemonMetrics, type DaemonMetrics } from "./daemonMetrics.js";
import { defaultModelName } from "./defaultModelName.js";
import { DecisionLog } from "./decisionLog.js";
import { ExecutorSet } from "./executors.js";
import { inlineHeads, type HeadUse } from "./inlineHeads.js";
import { FrequencyControl } from "./frequencyControl.js";
import { GpuClockControl } from "./gpuClockControl.js";
import type { Outcome } from "./outcome.js";
import { outcomeLog } from "./outcome.js";
import { PolicyBook } from "./policyBook.js";
import type { ParamDefaults, RequestParams } from "./requestParams.js";
import { RequestRunner } from "./requestRunner.js";
import { matchRoute, type Route } from "./router.js";
import { checkLiveFront, runnableConfig, type RunnableConfig } from "./runnableConfig.js";
import { classifyRoute } from "./routes/classifyRoute.js";
import { oipRoutes } from "./routes/oipRoutes.js";
import { opsRoutes } from "./routes/opsRoutes.js";
import { ServerLink } from "./serverLink.js";
import { streamChoice, type StreamChoice } from "./streamChoice.js";
import { StreamSession } from "./streamSession.js";
import { LocalRuns } from "../estimators/localRuns.js";
import { DeviceSpeed } from "../estimators/deviceSpeed.js";
import { streamRoutes } from "./routes/streamRoutes.js";
import { PipelineClosedError } from "../../runtime/pipeline.js";

export type DaemonLog = (record: Record<string, unknown>) => void;

export interface DaemonHooks {
  /** structured log records (one object each; `time` and `level` set); default: none */
  log?: DaemonLog | undefined;
  /**
   * emulate the link to the tail server inside its client (rate and RTT; see TailClient's
   * `shape`), for benchmarks on one machine where the kernel cannot shape; changed later with
   * setServerShape. Not a config-file key: the programmatic API's (startDaemon) only.
   */
  serverShape?: LinkShape | undefined;
}

/** How long a stream's connection lingers after its answer for the client to close it, ms (lingeringClose). */
const LINGER_MS = 2_000;

/** Everything opened at start, released by close() (or when the start fails half-way). */
interface Parts {
  meter: EnergyMeter | null;
  frequency: FrequencyControl | null;
  gpu: GpuClockControl | null;
  client: TailClient | null;
  link: ServerLink | null;
  executors: ExecutorSet | null;
}

async function releaseParts(p: Parts): Promise<string[]> {
  p.link?.stop();
  // one restore guard: whichever releases first puts back the CPU's and the GPU's settings
  const restored = [...(p.frequency?.release() ?? []), ...(p.gpu?.release() ?? [])];
  await p.executors?.release();
  await p.client?.close();
  await p.meter?.close();
  return restored;
}

function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${file} (${(e as NodeJS.ErrnoException).code ?? "error"}): give a PEM file`, { path: file });
  }
}

function loadFront(path: string): LoadedParetoFile {
  try {
    return readParetoFile(path);
  } catch (e) {
    // the file is the user's: a malformed one is a user error (exit 2)
    if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
    throw e;
  }
}

export class Daemon implements DaemonContext {
  readonly name: string;
  readonly meta: ModelMeta;
  readonly metrics: DaemonMetrics;
  readonly maxBodyBytes: number;
  readonly paramDefaults: ParamDefaults;
  url = "";
  private readonly routes: Route[];
  readonly queue: DeviceQueue;
  /** the device's head time now over as measured (estimators/deviceSpeed.ts) */
  readonly speed: DeviceSpeed;
  /** the device's recent all-on-device runs, by configuration (estimators/localRuns.ts); null: `localRuns: false` */
  readonly localRuns: LocalRuns | null;
  private readonly runner: RequestRunner;
  private readonly decisions: DecisionLog;
  private readonly budget: ByteBudget;
  private readonly authorized: (req: IncomingMessage) => boolean;
  private readonly active = new Set<Promise<void>>();
  private readonly shutdownController = new AbortController();
  /** aborted once close() starts: streams stop reading and drain */
  readonly shutdown: AbortSignal = this.shutdownController.signal;
  private readonly streams = new Set<Promise<unknown>>();
  /** the sockets of streams in progress: their bodies may take as long as the stream lasts */
  private readonly streamSockets = new WeakSet<object>();
  /** connections closing lingering (a stream's), each until its client closes or LINGER_MS */
  private readonly lingering = new Set<Promise<void>>();
  private readonly whole: RunnableConfig;
  private server: Server | null = null;
  private closing: Promise<void> | null = null;
  private readonly startedAt = Date.now();
  private readonly exitHook = (): void => {
    this.parts.frequency?.release();
    this.parts.gpu?.release();
  };
  private readonly accelerators = new AcceleratorSwitches();
  /** what the policies were last handed per target (followSwitchCost) */
  private readonly followed = new Map<string, number>();

  private constructor(
    readonly options: DaemonOptions,
    private readonly log: DaemonLog,
    private readonly file: LoadedParetoFile,
    private readonly analysis: ModelAnalysis,
    private readonly parts: Parts & { meter: EnergyMeter; frequency: FrequencyControl; gpu: GpuClockControl; executors: ExecutorSet },
    private readonly policies: PolicyBook,
    readonly image: ImagePreprocessor | null,
    network: NetworkProfile | null,
    localEstimateMs: number,
    private readonly switchCost: { timeMs: number; energyJ: number; source: string } | null,
    /** the accelerator and GPU-clock switch times measured at start (null: not measured: one target, no GPU clock) */
    private readonly measuredAtStart: { acceleratorMs: Record<string, number> | null; coldAcceleratorMs: Record<string, number>; gpuFreqMs: number | null },
    metrics: DaemonMetrics,
    private readonly streamConfig: StreamChoice,
    speed: DeviceSpeed,
    /** every configuration of the front in runnable form, by canonical key (worked out at start) */
    runnables: ReadonlyMap<string, RunnableConfig>,
  ) {
    const o = options;
    this.name = o.name ?? defaultModelName(o.model);
    this.meta = { name: this.name, inputs: tensorMeta(analysis, analysis.graph.inputs), outputs: tensorMeta(analysis, analysis.graph.outputs) };
    this.maxBodyBytes = Math.round(o.maxBodyMb * 2 ** 20);
    this.budget = new ByteBudget(Math.max(256 << 20, this.maxBodyBytes));
    this.paramDefaults = { deadlineMs: o.defaultDeadlineMs, policy: o.policy };
    this.authorized = bearerAuth(o.token);
    this.decisions = new DecisionLog(o.recentDecisions);
    const clock = (): number => performance.now();
    this.queue = new DeviceQueue({ maxQueued: o.queue.maxQueued, concurrency: 1, clock });
    this.speed = speed;
    this.localRuns = o.localRuns === false ? null : new LocalRuns(o.localRuns);
    const link = parts.link;
    this.metrics = metrics;
    const L = analysis.cuts.length - 1;
    const accounting = o.serverEnergy ?? (this.file.doc.source.serverEnergy === "node" ? "node" : "marginal");
    this.whole = { split: L, cpuFreqMHz: null, gpuFreqMHz: null, deviceTarget: "cpu", codec: { codec: "raw", compression: "none" }, executorKey: `${L}|cpu`, runKey: null };
    // a decision's config is one of the front's own objects: the start's runnable form, found by key once per object
    const byObject = new WeakMap<Config, RunnableConfig>();
    const runnable = (c: Config): RunnableConfig => {
      let r = byObject.get(c);
      if (r === undefined) {
        r = runnables.get(canonicalConfigKey(c)) ?? runnableConfig(c, L);
        byObject.set(c, r);
      }
      return r;
    };
    this.runner = new RequestRunner({
      speed,
      localRuns: this.localRuns,
      executors: parts.executors,
      runnable,
      whole: this.whole,
      localEstimateMs,
      queue: this.queue,
      frequency: parts.frequency,
      gpu: parts.gpu,
      accelerators: this.accelerators,
      meter: parts.meter,
      server: link,
      policies,
      metrics: this.metrics,
      decisions: this.decisions,
      energy: { network, serverProfile: boardProfile(o.serverBoard ?? "generic-x86"), serverAccounting: accounting as ServerAccounting },
      clock,
      graceMs: o.graceMs,
      serverTimeoutMs: o.serverTimeoutMs,
      onInfeasible: o.onInfeasible,
      log: (r) => this.log({ ...r }),
      logRequests: o.logRequests,
    });
    this.routes = [...oipRoutes(this), classifyRoute(this), ...streamRoutes(this), ...opsRoutes(this)];
  }

  /** Load, check and listen (see the module comment); a one-line UsageError for anything the user can fix. */
  static async start(input: DaemonOptionsInput, hooks: DaemonHooks = {}): Promise<Daemon> {
    const sink = hooks.log;
    const log: DaemonLog = (r) => sink?.({ time: new Date().toISOString(), level: "info", ...r });
    const o = resolveDaemonOptions(input);
    const file = loadFront(o.front);
    for (const w of file.warnings) log({ level: "warn", msg: "front", detail: `${w}; only the ${V1_POLICIES.join(" and ")} policies work on it` });
    checkLiveFront(file.doc, o.front);
    const resolved = await resolveModel(o.model);
    const a = await analyzeModel(loadModel(resolved.path), {
      inputShapes: resolved.inputShapes ?? {},
      shapeCache: shapeCache({ dir: join(o.stateDir ?? defaultStateDir(), "analysis"), onWarning: (m) => log({ level: "warn", msg: "analysis cache", detail: m }) }),
    });
    const sha = file.doc.source.modelSha256;
    if (typeof sha !== "string") {
      throw new UsageError(`${o.front} does not say which model it was made for (source.modelSha256): the daemon runs fronts written by splitwatt optimize --model on this board`, { path: o.front });
    }
    if (sha !== a.model.sha256) {
      throw new UsageError(
        `${o.front} was made for another model (sha256 ${sha.slice(0, 12)}...; ${o.model} is ${a.model.sha256.slice(0, 12)}..., front model "${file.doc.model}"): give the model the front was optimized for, or optimize ${o.model} again`,
        { path: o.front },
      );
    }
    const L = a.cuts.length - 1;
    const runnables = new Map<string, RunnableConfig>();
    // every configuration's head: where it runs and what the front measured (inlineHeads.ts)
    const headUses: HeadUse[] = [];
    for (const e of file.doc.archive) {
      const c = runnableConfig(e.config, L);
      runnables.set(canonicalConfigKey(e.config), c);
      headUses.push({ executorKey: c.executorKey, cpu: parseExecutionTarget(c.deviceTarget, "device").kind === "cpu", headMs: e.breakdownMs.head });
    }
    const policies = new PolicyBook(file, o.policyOptions);
    policies.build(o.policy);
    const networkName = o.network ?? file.doc.network;
    const network = networkName === null || networkName === "none" ? null : networkProfile(networkName);
    let image: ImagePreprocessor | null = null;
    const pre = o.preprocess === "auto" ? preprocessorFor(o.model) : o.preprocess === "none" ? null : o.preprocess;
    if (pre !== null) {
      image = imagePreprocessor(pre);
      const input = a.graph.inputs.length === 1 ? a.inputShapes[a.graph.inputs[0] as string] : undefined;
      if (input === undefined || input.join(",") !== image.input.shape.join(",")) {
        throw new UsageError(`preprocess ${pre} fills one input of shape [${image.input.shape.join(",")}], and ${o.model} takes ${a.graph.inputs.map((n) => `${n} [${(a.inputShapes[n] ?? []).join(",")}]`).join(", ")}: use preprocess: none`);
      }
    }
    const parts: Parts = { meter: null, frequency: null, gpu: null, client: null, link: null, executors: null };
    // the metrics exist before the parts they read (the probes count into them from the start)
    const ref: { d: Daemon | null } = { d: null };
    const now = (): number => performance.now();
    const speed = new DeviceSpeed();
    const metrics = daemonMetrics({
      breakerValue: () => parts.link?.breaker.snapshot(now()).value ?? BREAKER_STATE_VALUE.open,
      breakerTrips: () => parts.link?.breaker.snapshot(now()).trips ?? 0,
      queueDepth: () => ref.d?.queue.stats().queued ?? 0,
      queueRunning: () => ref.d?.queue.stats().running ?? 0,
      bandwidthMbps: () => parts.link?.estimator.state(now()).bandwidthMbps ?? null,
      rttMs: () => parts.link?.estimator.state(now()).rttMs ?? null,
      serverWaitMs: () => parts.link?.estimator.state(now()).serverWaitMs ?? null,
      headScale: () => speed.estimate(now()).headScale,
      headCv: () => speed.estimate(now()).headCv,
      cpuFreqMHz: () => parts.frequency?.currentMHz ?? null,
      gpuFreqMHz: () => parts.gpu?.currentMHz ?? null,
      ready: () => ref.d?.ready() ?? false,
    });
    try {
      const meter = await EnergyMeter.open({
        sysfsRoot: o.sysfsRoot,
        board: o.board,
        utilisation: o.utilisation,
        meter: o.meter === undefined ? undefined : { spec: o.meter, periodMs: o.meterPeriodMs },
        onWarning: (w) => log({ level: "warn", msg: "energy meter", detail: w }),
      });
      parts.meter = meter;
      meter.start();
      await meter.ready();
      for (const w of meter.warnings) log({ level: "warn", msg: "energy sources", detail: w });
      const neededMHz = [...new Set([...runnables.values()].map((c) => c.cpuFreqMHz).filter((f): f is number => f !== null))].sort((x, y) => x - y);
      // one Cpufreq, whose restore guard (state file) the GPU clock shares
      const cpufreq = new Cpufreq({ sysfsRoot: o.sysfsRoot, stateDir: o.stateDir, restoreOnExit: false });
      parts.frequency = await FrequencyControl.open({ neededMHz, mode: o.cpufreq, sysfsRoot: o.sysfsRoot, stateDir: o.stateDir, cpufreq, log }, meter);
      const neededGpuMHz = [...new Set([...runnables.values()].map((c) => c.gpuFreqMHz).filter((f): f is number => f !== null))].sort((x, y) => x - y);
      parts.gpu = await GpuClockControl.open({ neededMHz: neededGpuMHz, mode: o.gpufreq, sysfsRoot: o.sysfsRoot, stateDir: o.stateDir, cpufreq, log });
      const serverCodec = o.server !== undefined && o.serverKind === "triton" ? tritonCodecs([...runnables.values()], L, o.front) : null;
      const stream = streamChoice(file.doc, o, { lastCut: L, hasServer: o.server !== undefined, serverCodec });
      if (o.server !== undefined) {
        parts.client = new TailClient({ url: o.server, token: o.serverToken, timeoutMs: o.serverTimeoutMs, shape: hooks.serverShape, ...(o.serverCa === undefined ? {} : { ca: readPem(o.serverCa, "the server's CA certificate") }) });
        const cuts = [...new Set([...runnables.values()].map((c) => c.split).filter((k) => k !== L))].sort((x, y) => x - y).map((k) => a.cuts[k]!);
        parts.link = new ServerLink(parts.client, {
          url: o.server,
          serverModel: o.serverModel,
          cuts,
          clock: () => performance.now(),
          random: mulberry32(Date.now() >>> 0),
          log,
          metrics,
          breaker: o.breaker,
          estimator: o.estimator,
          rttIntervalMs: o.probe.rttIntervalMs ?? 5000,
          bandwidthProbe: o.probe.bandwidth ?? true,
          triton: serverCodec === null ? undefined : { codecOf: serverCodec },
        });
      }
      const inline = inlineHeads(headUses, o.inlineHeadMs);
      parts.executors = await ExecutorSet.open(a, [...runnables.values()], { client: parts.client, serverModel: o.serverModel, label: o.model, serverKind: o.serverKind, inline });
      await parts.executors.warmUp(a);
      const coldAcceleratorMs = parts.executors.coldSwitchMs();
      for (const w of parts.executors.warm.values()) if (w.target !== "cpu" && !w.target.startsWith("cpu:")) log({ msg: "head warmed up", target: w.target, sessionCreateMs: w.sessionCreateMs, firstRunMs: w.firstRunMs, steadyRunMs: w.steadyRunMs });
      const acceleratorMs = await parts.executors.calibrateSwitches(a);
      if (acceleratorMs !== null) {
        policies.setSwitchTimes({ acceleratorSwitchMs: acceleratorMs });
        log({ msg: "accelerator switch measured", acceleratorSwitchMs: acceleratorMs, coldStartMs: coldAcceleratorMs });
      } else {
        // one device target: every head is loaded and warmed now, so no request ever switches the accelerator (not even the first)
        const targets = Object.keys(coldAcceleratorMs);
        if (targets.length === 1) policies.setSwitchTimes({ acceleratorSwitchMs: { [targets[0] as string]: 0 } }, "none: one device target, every head loaded at start");
      }
      const gpuFreqMs = await parts.gpu.calibrate(neededGpuMHz);
      if (gpuFreqMs !== null) {
        policies.setSwitchTimes({ gpuFreqSwitchMs: gpuFreqMs });
        log({ msg: "GPU clock change measured", gpuFreqSwitchMs: gpuFreqMs });
      }
      const localEstimateMs = await wholeModelMs(parts.executors, a, file);
      let switchCost: { timeMs: number; energyJ: number; source: string } | null = null;
      if (!policies.switchCostGiven) {
        switchCost = await parts.frequency.calibrate(neededMHz);
        if (switchCost !== null) {
          policies.setSwitchCost({ timeMs: switchCost.timeMs, energyJ: switchCost.energyJ });
          log({ msg: "frequency switch measured", timeMs: switchCost.timeMs, energyJ: switchCost.energyJ, energySource: switchCost.source });
        }
      }
      const d = new Daemon(
        o,
        log,
        file,
        a,
        parts as Parts & { meter: EnergyMeter; frequency: FrequencyControl; gpu: GpuClockControl; executors: ExecutorSet },
        policies,
        image,
        network,
        localEstimateMs,
        switchCost,
        { acceleratorMs, coldAcceleratorMs, gpuFreqMs },
        metrics,
        stream,
        speed,
        runnables,
      );
      // the warm-up's steady head times, at the clocks of the warm-up (none applied yet)
      for (const [key, w] of parts.executors.warm) d.accelerators.seed(`${key.split("|")[0]}|${w.target}@-/-`, w.steadyRunMs);
      ref.d = d;
      await parts.link?.start();
      await d.listen();
      return d;
    } catch (err) {
      await releaseParts(parts);
      throw err;
    }
  }

  private async listen(): Promise<void> {
    const o = this.options;
    const tls = o.tlsCert === undefined || o.tlsKey === undefined ? undefined : { cert: readPem(o.tlsCert, "the TLS certificate"), key: readPem(o.tlsKey, "the TLS key") };
    try {
      const { server, url } = await listenHttp(
        { host: o.host, port: o.port, tls, requestTimeoutMs: o.requestTimeoutMs, longRequest: (socket) => this.streamSockets.has(socket) },
        (req, res) => this.handle(req, res),
      );
      this.server = server;
      this.url = url;
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new UsageError(code === "EADDRINUSE" ? `port ${o.port} on ${o.host} is in use: pick another with --port` : `cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`);
    }
    process.on("exit", this.exitHook);
    const f = this.parts.frequency;
    this.log({
      msg: "listening",
      url: this.url,
      model: this.name,
      policy: o.policy,
      configurations: this.file.doc.archive.length,
      executors: this.parts.executors.size,
      heads: this.parts.executors.placement(),
      server: o.server ?? null,
      auth: o.token !== undefined,
      frequency: f.controlled ? { policies: f.policies, switchCost: this.policies.currentSwitchCost } : { controlled: false, reason: f.uncontrolledReason },
      gpu: this.parts.gpu.controlled ? { device: this.parts.gpu.device } : { controlled: false, reason: this.parts.gpu.uncontrolledReason },
      switchTimes: this.policies.currentSwitchTimes,
      deviceEnergy: this.parts.meter.estimated ? "estimate" : this.parts.meter.device.map((x) => x.id),
      image: this.image?.name ?? null,
      stream: this.streamStatus(),
    });
  }

  /** Change the client-side link emulation to the tail server (DaemonHooks.serverShape) from the next request on; no-op without a server. */
  setServerShape(shape: LinkShape | undefined): void {
    this.parts.client?.setShape(shape);
  }

  /** The pipeline endpoints' configuration (status, log). */
  private streamStatus(): Record<string, unknown> {
    const c = this.streamConfig;
    return {
      config: c.configKey,
      from: c.from,
      split: c.config.split,
      codec: codecName(c.config.codec),
      deviceBatch: c.deviceBatch,
      serverBatch: c.serverBatch,
      tailConcurrency: c.tailConcurrency,
      batchDelayMs: c.batchDelayMs,
      adaptiveBatch: c.adaptiveBoundMs === null ? false : { latencyBoundMs: Number.isFinite(c.adaptiveBoundMs) ? c.adaptiveBoundMs : null },
      maxStreams: c.maxStreams,
      active: this.streams.size,
    };
  }

  ready(): boolean {
    return this.server !== null && this.closing === null;
  }

  admit(): number {
    const arrival = performance.now();
    if (this.closing !== null) throw new HttpError(503, "the daemon is shutting down: send the request to another instance or retry after it restarts", { "Retry-After": "5" });
    const s = this.queue.stats();
    if (s.queued >= s.maxQueued) {
      this.metrics.queueRejected.inc();
      const retry = this.queue.retryAfterS();
      throw new HttpError(429, `the device queue is full (${s.queued} waiting): retry after ${retry} s`, { "Retry-After": String(retry) });
    }
    return arrival;
  }

  async readBody(req: IncomingMessage): Promise<Uint8Array> {
    const declared = contentLength(req);
    if (declared !== null && declared > this.maxBodyBytes) throw new HttpError(413, `request body of ${declared} bytes is over this daemon's limit of ${this.maxBodyBytes} bytes (maxBodyMb)`);
    let held = 0;
    const hold = (bytes: number): void => {
      if (!this.budget.tryTake(bytes)) throw new HttpError(503, "too many request bytes in flight: retry after 1 s", { "Retry-After": "1" });
      held += bytes;
    };
    // the body (and tensors that are views into it) lives until the answer is sent
    const res = (req as IncomingMessage & { res?: ServerResponse }).res;
    const give = (): void => {
      this.budget.give(held);
      held = 0;
    };
    if (res !== undefined) res.once("close", give);
    else req.once("close", give);
    if (declared !== null) hold(declared);
    return readBody(req, { declared, maxBodyBytes: this.maxBodyBytes, hold });
  }

  async run(feeds: Record<string, ort.Tensor>, params: RequestParams, arrivalMs: number, req: IncomingMessage, res: ServerResponse): Promise<Outcome> {
    const o = this.options;
    const controller = new AbortController();
    const leftMs = arrivalMs + params.deadlineMs + o.graceMs - performance.now();
    const timer = setTimeout(
      () => controller.abort(new HttpError(504, `no result within the deadline (${params.deadlineMs} ms) + grace (${o.graceMs} ms): the device or the server is overloaded; see /v1/status`)),
      Math.max(0, leftMs),
    );
    const gone = (): void => {
      if (!res.writableFinished) controller.abort(new HttpError(499, "the client went away"));
    };
    res.once("close", gone);
    req.once("aborted", gone);
    const work = this.runner.run({ feeds, params, arrivalMs, signal: controller.signal });
    work.catch(() => undefined); // answered by the race below, or its work is moot
    const aborted = new Promise<never>((_, reject) => {
      if (controller.signal.aborted) reject(controller.signal.reason);
      controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
    });
    aborted.catch(() => undefined);
    try {
      const out = await Promise.race([work, aborted]);
      if (o.logRequests) this.log({ msg: "request", ...outcomeLog(out) });
      this.followSwitchCost();
      return out;
    } finally {
      clearTimeout(timer);
      res.off("close", gone);
      req.off("aborted", gone);
    }
  }

  /**
   * Feed the measured switch times to the policies when they have moved by more than 25%: the
   * CPU frequency's every 20 switches, each target's accelerator switch and the GPU clock's
   * every 10 (measured) switches.
   */
  private followSwitchCost(): void {
    const moved = (now: number, used: number | undefined): boolean => used === undefined || (used === 0 ? now > 0 : Math.abs(now - used) > 0.25 * used);
    const s = this.parts.frequency.switchStats();
    if (!this.policies.switchCostGiven && s.meanMs !== null && s.switches > 0 && s.switches % 20 === 0) {
      const cur = this.policies.currentSwitchCost;
      if (moved(s.meanMs, cur.timeMs)) {
        const perMs = cur.timeMs > 0 ? cur.energyJ / cur.timeMs : 0;
        this.policies.setSwitchCost({ timeMs: s.meanMs, energyJ: perMs * s.meanMs });
        this.log({ msg: "frequency switch cost updated", timeMs: s.meanMs, switches: s.switches });
      }
    }
    const times = this.policies.currentSwitchTimes;
    for (const [target, t] of Object.entries(this.accelerators.byTarget())) {
      if (t.meanMs === null || t.measured === 0 || t.measured % 10 !== 0 || this.followed.get(`a:${target}`) === t.measured) continue;
      this.followed.set(`a:${target}`, t.measured);
      if (moved(t.meanMs, times.acceleratorSwitchMs?.[target]) && this.policies.setSwitchTimes({ acceleratorSwitchMs: { [target]: t.meanMs } })) {
        this.log({ msg: "accelerator switch time updated", target, ms: t.meanMs, switches: t.switches });
      }
    }
    const g = this.parts.gpu.switchStats();
    if (g.meanMs !== null && g.switches > 0 && g.switches % 10 === 0 && this.followed.get("gpu") !== g.switches) {
      this.followed.set("gpu", g.switches);
      if (moved(g.meanMs, times.gpuFreqSwitchMs ?? undefined) && this.policies.setSwitchTimes({ gpuFreqSwitchMs: g.meanMs })) {
        this.log({ msg: "GPU clock change time updated", ms: g.meanMs, switches: g.switches });
      }
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const p = this.dispatch(req, res).catch((err: unknown) => this.fail(req, res, err));
    this.active.add(p);
    void p.finally(() => this.active.delete(p));
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    let routeName = "other";
    res.once("finish", () => this.metrics.requests.inc({ route: routeName, status: String(res.statusCode) }));
    const { route, params } = matchRoute(this.routes, req.method ?? "GET", path);
    routeName = route.name;
    if (route.auth && !this.authorized(req)) throw new HttpError(401, "missing or wrong bearer token: send Authorization: Bearer <token>", { ...BEARER_CHALLENGE });
    await route.handle({ req, res, url, params });
  }

  /** What a client is told of `err`: its status, message and headers (an unexpected error is logged and answered 500 without details). */
  errorOf(err: unknown, path?: string): { status: number; message: string; headers: Record<string, string> } {
    const known = clientErrorAnswer(err);
    if (known !== null) return known;
    if (err instanceof QueueFullError) {
      this.metrics.queueRejected.inc();
      return { status: 429, headers: { "Retry-After": String(err.retryAfterS) }, message: err.message };
    }
    if (err instanceof QueueClosedError || err instanceof PipelineClosedError) return { status: 503, headers: { "Retry-After": "5" }, message: err.message };
    if (err instanceof NoCandidateError) return { status: 422, headers: {}, message: err.message };
    if (err instanceof UsageError) return { status: 400, headers: {}, message: err.message };
    this.log({ level: "error", msg: "request failed", path: path ?? null, error: err instanceof SplitwattError ? err.message : ortMessage(err) });
    return { status: 500, headers: {}, message: "internal error while serving this request (the daemon's log has the details)" };
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const { status, message, headers } = this.errorOf(err, req.url);
    if (status === 499) {
      // the client is gone: nothing to answer
      res.destroy();
      return;
    }
    if (res.headersSent) {
      // a stream had started answering: the connection is all that can say it failed
      res.destroy();
      return;
    }
    answerError(req, res, status, message, headers);
  }

  /**
   * A pipeline for one infer-batch or stream request (streamSession.ts), closed (drained) when
   * `f` is done; 429 + Retry-After when `stream.maxStreams` run already.
   */
  async withStream<T>(f: (s: StreamSession) => Promise<T>, req?: IncomingMessage): Promise<T> {
    if (this.closing !== null) throw new HttpError(503, "the daemon is shutting down: send the request to another instance or retry after it restarts", { "Retry-After": "5" });
    if (this.streams.size >= this.streamConfig.maxStreams) throw new HttpError(429, `${this.streams.size} pipeline requests (infer-batch, stream) run already, the most this daemon takes (stream.maxStreams): retry after 1 s`, { "Retry-After": "1" });
    const s = new StreamSession({
      choice: this.streamConfig,
      whole: this.whole,
      executors: this.parts.executors,
      runner: this.runner,
      link: this.parts.link,
      meter: this.parts.meter,
      metrics: this.metrics,
      clock: () => performance.now(),
      log: (r) => this.log(r),
    });
    const socket = req?.socket;
    if (socket !== undefined) this.streamSockets.add(socket);
    const p = (async () => {
      try {
        return await f(s);
      } finally {
        await s.close();
        if (socket !== undefined) this.streamSockets.delete(socket);
      }
    })();
    this.streams.add(p);
    void p.catch(() => undefined).finally(() => this.streams.delete(p));
    return p;
  }

  lingerOnClose(req: IncomingMessage): void {
    const p = lingeringClose(req.socket, LINGER_MS);
    this.lingering.add(p);
    void p.finally(() => this.lingering.delete(p));
  }

  status(): Record<string, unknown> {
    const now = performance.now();
    const f = this.parts.frequency;
    const link = this.parts.link;
    const s = f.switchStats();
    const gs = this.parts.gpu.switchStats();
    const switchTimes = this.policies.currentSwitchTimes;
    return {
      model: { name: this.name, spec: this.options.model, sha256: this.analysis.model.sha256 },
      front: { path: this.options.front, fileVersion: this.file.fileVersion, configurations: this.file.doc.archive.length, front: this.file.doc.front.length },
      policy: this.options.policy,
      ready: this.ready(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 100) / 10,
      current: this.runner.currentConfig,
      frequency: {
        controlled: f.controlled,
        reason: f.uncontrolledReason,
        currentMHz: f.currentMHz,
        policies: f.policies,
        switches: s.switches,
        switchMs: { last: s.lastMs, mean: s.meanMs, max: s.maxMs },
        switchCost: { ...this.policies.currentSwitchCost, measuredAtStart: this.switchCost },
      },
      gpu: {
        controlled: this.parts.gpu.controlled,
        reason: this.parts.gpu.uncontrolledReason,
        device: this.parts.gpu.device,
        currentMHz: this.parts.gpu.currentMHz,
        switches: gs.switches,
        switchMs: { last: gs.lastMs, mean: gs.meanMs, max: gs.maxMs },
        switchTimeMs: { used: switchTimes.gpuFreqSwitchMs, from: switchTimes.from.gpuFreq, measuredAtStart: this.measuredAtStart.gpuFreqMs },
      },
      accelerator: {
        current: this.accelerators.current,
        switches: this.accelerators.switches,
        byTarget: this.accelerators.byTarget(),
        switchTimeMs: {
          used: switchTimes.acceleratorSwitchMs,
          from: switchTimes.from.accelerator,
          measuredAtStart: this.measuredAtStart.acceleratorMs,
          coldStartMs: this.measuredAtStart.coldAcceleratorMs,
        },
      },
      server:
        link === null
          ? null
          : { url: this.options.server, model: this.options.serverModel, kind: this.options.serverKind, up: link.up(now), error: link.error, breaker: link.breaker.snapshot(now), estimates: link.estimator.state(now) },
      queue: this.queue.stats(),
      device: { speed: this.speed.estimate(now), localRuns: this.localRuns === null ? null : Object.fromEntries([...this.localRuns.snapshot(now)].map(([k, r]) => [k, { runs: r.samplesMs.length, meanMs: r.meanMs, spreadMs: r.spreadMs, maxMs: r.samplesMs[r.samplesMs.length - 1] ?? null }])) },
      decisions: { ...this.decisions.summary(), recent: this.decisions.recent() },
      energy: {
        device: this.parts.meter.estimated ? "estimate" : this.parts.meter.device.map((x) => x.id),
        estimated: this.parts.meter.estimated,
        board: this.parts.meter.board.name,
        meter: this.parts.meter.meter?.label ?? null,
      },
      image: this.image?.name ?? null,
      stream: this.streamStatus(),
    };
  }

  /**
   * Stop accepting, finish every accepted request, restore the CPU frequency and release
   * everything (idempotent). Returns the cpufreq policies restored.
   */
  close(): Promise<void> {
    if (this.closing !== null) return this.closing;
    this.closing = (async () => {
      this.log({ msg: "stopping", inFlight: this.active.size, queued: this.queue.stats().queued });
      const server = this.server;
      const closed = server === null ? Promise.resolve() : new Promise<void>((resolve) => server.close(() => resolve()));
      // streams stop reading and finish what they accepted (their device work still needs the queue)
      this.shutdownController.abort();
      while (this.streams.size > 0) await Promise.allSettled([...this.streams]);
      this.queue.close();
      while (this.active.size > 0) await Promise.allSettled([...this.active]);
      await this.queue.drained();
      await this.runner.drained();
      // a stream's client reads its last answers and the summary before its connection is cut
      while (this.lingering.size > 0) await Promise.allSettled([...this.lingering]);
      server?.closeAllConnections();
      await closed;
      const restored = await releaseParts(this.parts);
      process.off("exit", this.exitHook);
      const c = this.decisions.summary();
      this.log({ msg: "stopped", answered: c.total, hitRate: c.hitRate, fallbacks: c.fallbacks, restoredCpufreq: restored.filter((id) => !id.includes(":")), restoredGpu: restored.filter((id) => id.includes(":")) });
    })();
    return this.closing;
  }
}

/**
 * A stock server's tail takes one codec, the one `export-triton --codec` gave it: the codec of
 * each remote cut's configurations, which must agree (and be one a stock server can take).
 */
function tritonCodecs(configs: readonly RunnableConfig[], lastCut: number, front: string): (cut: number) => CodecSpec {
  const byCut = new Map<number, CodecSpec>();
  for (const c of configs) {
    if (c.split === lastCut) continue;
    checkTritonCodec(c.codec);
    const seen = byCut.get(c.split);
    if (seen !== undefined && codecName(seen) !== codecName(c.codec)) {
      throw new UsageError(
        `${front} sends cut ${c.split} both as ${codecName(seen)} and as ${codecName(c.codec)}, but a Triton/KServe tail takes the one codec it was exported with: optimize with one codec per cut (--codec), or use serverKind splitwatt`,
        { path: front },
      );
    }
    byCut.set(c.split, c.codec);
  }
  return (cut) => byCut.get(cut) ?? { codec: "raw", compression: "none" };
}

/**
 * What the local fallback is expected to take, ms: the slowest of the whole model timed now (the
 * median of 3 runs at the current frequency) and the all-on-device configurations' measured p95.
 */
async function wholeModelMs(executors: ExecutorSet, a: ModelAnalysis, file: LoadedParetoFile): Promise<number> {
  const feeds = modelInputs(a, { seed: 2 });
  const times: number[] = [];
  for (let i = 0; i < 3; i++) times.push((await executors.whole.run(feeds)).timings.totalMs);
  times.sort((x, y) => x - y);
  const axis = splitAxis(file.doc.space);
  const local = file.doc.archive.filter((e) => placementOf(e, axis) === "device").map((e) => e.latency.p95 ?? e.latencyMs);
  return Math.max(times[1] as number, ...local);
}
