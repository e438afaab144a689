/**
 * What the daemon knows of its tail server and how it keeps knowing it:
 *
 * - at start, every tail the front needs is asked of the server (its model metadata): a missing
 *   tail, a tail with other inputs (another model) or a refused token stop the start (one line,
 *   exit 2); a server that cannot be reached does not: the breaker starts open and the server
 *   is probed with backoff;
 * - the circuit breaker (circuitBreaker.ts) counts request outcomes; while it is not closed the
 *   policies choose among all-on-device configurations only;
 * - re-admission: when the breaker allows a probe, the server must answer ready and have every
 *   tail; the probe's outcome closes the breaker or opens it with the backoff doubled;
 * - the estimator (linkEstimator.ts) takes every remote answer; an idle probe keeps it fresh:
 *   the RTT by timing health requests at start (on the idle link) and every rttIntervalMs
 *   (the quickest of three: a busy machine only adds to a round trip), the bandwidth by a small inference
 *   (zeros of the smallest cut tensor of at least minBytes) when it is stale and no request
 *   has gone to the server meanwhile.
 */
import { UnreachableError, UsageError } from "../../errors.js";
import type { CutPoint } from "../../model/cutPoints.js";
import type { ExecutionResult } from "../../runtime/splitExecutor.js";
import { codecName, type CodecSpec } from "../../transport/codecs/codecs.js";
import type { OipTensor } from "../../transport/oip/index.js";
import { scaleInputName, tritonTensors, zeroPointInputName } from "../../transport/tritonCodec.js";
import { TailServerError, type TailClient } from "../../transport/tailClient.js";
import { CircuitBreaker, type CircuitBreakerOptions, type Outcome } from "../circuitBreaker.js";
import { LinkEstimator, type LinkEstimatorOptions } from "../estimators/linkEstimator.js";
import type { DaemonMetrics } from "./daemonMetrics.js";

export interface ServerLinkOptions {
  url: string;
  serverModel: string;
  /** the cuts whose tails the daemon sends to */
  cuts: readonly CutPoint[];
  clock: () => number;
  random: () => number;
  log: (record: Record<string, unknown>) => void;
  metrics: DaemonMetrics;
  breaker: Partial<CircuitBreakerOptions>;
  estimator: Partial<LinkEstimatorOptions>;
  rttIntervalMs: number;
  bandwidthProbe: boolean;
  /**
   * a stock server (Triton, KServe) serving `export-triton --codec` tails: the warm-up and the
   * probes send each cut's zeros in that codec's plain form, and a tail's extra inputs (scale,
   * zero point) are expected. The codec per cut (default raw).
   */
  triton?: { codecOf: (cut: number) => CodecSpec } | undefined;
}

/** `p`, or a rejection after `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TailServerError(504, `${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Zeros in the shape of a cut's tensors (float32 ones only are sent: bandwidthCut picks such cuts; others travel as zeros of their type). */
function zeros(cut: CutPoint): OipTensor[] {
  return cut.tensors.map((t) => {
    const n = t.shape.reduce((a, d) => a * d, 1);
    if (t.dtype === "int64") return { name: t.name, datatype: "INT64", shape: t.shape, data: new BigInt64Array(n) };
    if (t.dtype === "int32") return { name: t.name, datatype: "INT32", shape: t.shape, data: new Int32Array(n) };
    return { name: t.name, datatype: "FP32", shape: t.shape, data: new Float32Array(n) };
  });
}

export class ServerLink {
  readonly breaker: CircuitBreaker;
  readonly estimator: LinkEstimator;
  private timer: NodeJS.Timeout | null = null;
  private probing = false;
  private lastRemoteMs = Number.NEGATIVE_INFINITY;
  private lastRttProbeMs = Number.NEGATIVE_INFINITY;
  /** why the server was last refused (null while it is in) */
  private lastError: string | null = null;
  private readonly bandwidthCut: CutPoint | null;

  constructor(
    readonly client: TailClient,
    private readonly o: ServerLinkOptions,
  ) {
    this.breaker = new CircuitBreaker(o.random, o.breaker);
    this.estimator = new LinkEstimator(o.estimator);
    const minBytes = this.estimator.options.minBytes;
    this.bandwidthCut = [...o.cuts].filter((c) => c.bytes >= minBytes && c.tensors.every((t) => t.dtype === "float32")).sort((a, b) => a.bytes - b.bytes)[0] ?? null;
  }

  /** A cut's zeros as the server takes them (a stock server: in its exported codec's plain form). */
  private probeTensors(cut: CutPoint): OipTensor[] {
    const z = zeros(cut);
    const t = this.o.triton;
    if (t === undefined) return z;
    return z.flatMap((x) => (x.datatype === "FP32" ? tritonTensors(x, t.codecOf(cut.index), x.shape[0] === 1) : [x]));
  }

  private tailName(cut: number): string {
    return `${this.o.serverModel}.tail.${cut}`;
  }

  /**
   * Ask the server for every needed tail. A missing tail, another model's tail or a refused
   * token is a UsageError; a server that cannot be reached rethrows (UnreachableError, 5xx).
   */
  async checkTails(timeoutMs = 10_000): Promise<void> {
    for (const cut of this.o.cuts) {
      const name = this.tailName(cut.index);
      let meta: unknown;
      try {
        meta = await within(this.client.metadata(name), timeoutMs, `the tail server's metadata of ${name}`);
      } catch (err) {
        if (err instanceof TailServerError && err.status === 404) {
          const how =
            this.o.triton === undefined
              ? `(splitwatt serve --model ${this.o.serverModel}=MODEL)`
              : `(splitwatt export-triton MODEL --name ${this.o.serverModel} --cuts ${cut.index} --codec ${codecName(this.o.triton.codecOf(cut.index))} into its model repository)`;
          throw new UsageError(`the tail server at ${this.o.url} lacks tail ${name} (it answered 404: ${err.message.replace(/^tail server answered 404: /, "")}): serve the front's model there as ${this.o.serverModel} ${how}, or give --server-model`);
        }
        if (err instanceof TailServerError && (err.status === 401 || err.status === 403)) {
          throw new UsageError(`the tail server at ${this.o.url} refused the token (${err.status}): give its token with --server-token (or serverToken: in the config file)`);
        }
        throw err;
      }
      const inputs = (meta as { inputs?: Array<{ name?: unknown }> }).inputs?.map((i) => String(i.name)) ?? [];
      const codec = this.o.triton?.codecOf(cut.index).codec;
      // an exported int8 tail takes each float cut tensor's scale and zero point as inputs too
      const extra = codec === "int8" || codec === "int8-channel" ? cut.tensors.filter((t) => t.dtype === "float32").flatMap((t) => [scaleInputName(t.name), zeroPointInputName(t.name)]) : [];
      const want = [...cut.tensors.map((t) => t.name), ...extra];
      if (inputs.length !== want.length || want.some((n) => !inputs.includes(n))) {
        throw new UsageError(
          `the tail server at ${this.o.url} serves ${name} with inputs ${inputs.join(", ") || "(none)"}, but cut ${cut.index} of this model sends ${want.join(", ")}: it serves another model as ${this.o.serverModel}; serve the front's model there`,
        );
      }
    }
  }

  /**
   * Load every needed tail on the server (one inference of zeros each) and open the connection,
   * so that neither the first requests nor the first probes measure the server's lazy loading.
   */
  private async warmUp(): Promise<void> {
    for (const cut of this.o.cuts) await this.client.infer(this.tailName(cut.index), this.probeTensors(cut), { binary: true, timeoutMs: 30_000 });
    await this.client.ready();
  }

  /** Check the tails (see checkTails), then start the probes. A server that cannot be reached leaves the breaker open. */
  async start(): Promise<void> {
    try {
      await this.checkTails();
      await this.warmUp();
      // the first RTT sample on the idle link, before any request queues behind another on it
      if (this.o.rttIntervalMs > 0) {
        this.lastRttProbeMs = this.o.clock();
        await this.rttProbe();
      }
      this.o.log({ level: "info", msg: "tail server ready", url: this.o.url, tails: this.o.cuts.map((c) => this.tailName(c.index)) });
    } catch (err) {
      if (err instanceof UsageError && !(err instanceof UnreachableError)) throw err;
      this.lastError = (err as Error).message;
      this.breaker.trip(this.o.clock());
      this.o.log({ level: "warn", msg: "tail server out at start: answering from the device, probing with backoff", url: this.o.url, error: this.lastError });
    }
    this.timer = setInterval(() => void this.tick(), 100);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Whether requests may go to the server now (breaker closed). */
  up(nowMs: number): boolean {
    return this.breaker.serverUp(nowMs);
  }

  get error(): string | null {
    return this.lastError;
  }

  /** A request's outcome at the server (logging when the breaker opens). */
  outcome(nowMs: number, outcome: Outcome, error?: string): void {
    const before = this.breaker.snapshot(nowMs).state;
    this.breaker.record(nowMs, outcome);
    if (outcome !== "success") this.lastError = error ?? outcome;
    const after = this.breaker.snapshot(nowMs);
    if (before === "closed" && after.state === "open") {
      this.o.log({ level: "warn", msg: "tail server out: circuit breaker open, answering from the device", url: this.o.url, error: this.lastError, nextProbeInMs: Math.round((after.nextProbeAtMs ?? nowMs) - nowMs) });
    }
  }

  /** What a remote answer tells the estimator. */
  observe(nowMs: number, r: ExecutionResult): void {
    this.lastRemoteMs = nowMs;
    if (r.server === null) return;
    this.estimator.observeResponse(nowMs, { bytesSent: r.wireBytes, transferMs: r.timings.transferMs, serverMs: r.server.serverMs, computeMs: r.server.computeMs, load: r.server.load });
  }

  private async tick(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const now = this.o.clock();
      const snap = this.breaker.snapshot(now);
      if (snap.state === "open" && snap.nextProbeAtMs !== null && now >= snap.nextProbeAtMs) {
        if (this.breaker.admit(now) === "probe") await this.readmissionProbe();
        return;
      }
      if (snap.state !== "closed") return;
      if (this.o.rttIntervalMs > 0 && now - this.lastRttProbeMs >= this.o.rttIntervalMs) {
        this.lastRttProbeMs = now;
        await this.rttProbe();
        return;
      }
      const est = this.estimator.state(now);
      if (this.o.bandwidthProbe && est.probeDue && this.bandwidthCut !== null && now - this.lastRemoteMs >= this.estimator.options.probeAfterMs) await this.bandwidthProbe(this.bandwidthCut);
    } catch (err) {
      this.o.log({ level: "error", msg: "probe failed unexpectedly", error: (err as Error).message });
    } finally {
      this.probing = false;
    }
  }

  private async readmissionProbe(): Promise<void> {
    const timeoutMs = this.breaker.options.probeTimeoutMs;
    try {
      const ready = await within(this.client.ready(), timeoutMs, "the tail server's readiness");
      if (!ready) throw new TailServerError(503, "not ready");
      await this.checkTails(timeoutMs);
      this.breaker.record(this.o.clock(), "success", true);
      this.lastError = null;
      this.o.metrics.probes.inc({ kind: "readmission", outcome: "success" });
      this.o.log({ level: "info", msg: "tail server re-admitted", url: this.o.url });
    } catch (err) {
      const now = this.o.clock();
      this.breaker.record(now, err instanceof TailServerError && err.status === 504 ? "timeout" : "error", true);
      this.lastError = (err as Error).message;
      this.o.metrics.probes.inc({ kind: "readmission", outcome: "failure" });
      const s = this.breaker.snapshot(now);
      this.o.log({ level: err instanceof UsageError && !(err instanceof UnreachableError) ? "error" : "info", msg: "tail server still out", url: this.o.url, error: this.lastError, nextProbeInMs: Math.round((s.nextProbeAtMs ?? now) - now) });
    }
  }

  /** Three health requests back to back; the quickest is the sample (delays at either end only add to a round trip). */
  private async rttProbe(): Promise<void> {
    let best = Number.POSITIVE_INFINITY;
    let ok = true;
    for (let i = 0; i < 3 && ok; i++) {
      const t0 = this.o.clock();
      ok = await this.client.ready();
      best = Math.min(best, this.o.clock() - t0);
    }
    const t1 = this.o.clock();
    if (ok) {
      this.estimator.observeRtt(t1, best);
      this.o.metrics.probes.inc({ kind: "rtt", outcome: "success" });
    } else {
      this.o.metrics.probes.inc({ kind: "rtt", outcome: "failure" });
      this.outcome(t1, "error", "the tail server's health check failed");
    }
  }

  private async bandwidthProbe(cut: CutPoint): Promise<void> {
    try {
      const r = await this.client.infer(this.tailName(cut.index), this.probeTensors(cut), { binary: true, timeoutMs: this.breaker.options.probeTimeoutMs });
      const now = this.o.clock();
      this.lastRemoteMs = now;
      this.estimator.observeResponse(now, r);
      this.o.metrics.probes.inc({ kind: "bandwidth", outcome: "success" });
    } catch (err) {
      this.o.metrics.probes.inc({ kind: "bandwidth", outcome: "failure" });
      this.outcome(this.o.clock(), err instanceof TailServerError && err.status === 504 ? "timeout" : "error", (err as Error).message);
    }
  }
}
