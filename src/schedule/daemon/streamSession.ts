/**
 * One infer-batch or stream request of the daemon: the stream configuration (streamChoice.ts)
 * in a pipeline of its own (runtime/pipelineExecutor.ts) over the daemon's loaded executor.
 *
 * - Device work (head batches, and local tails after a server failure) goes through the daemon's
 *   device queue at the configuration's CPU frequency, behind every request with a deadline
 *   (stream jobs have none), so interactive requests still go first.
 * - Bounded: the pipeline's capacity (a fixed number of items per stage); `submit` resolves only
 *   once an item is accepted, so a caller that waits for it reads no more input than the
 *   pipeline can take.
 * - The tail server: every remote answer feeds the link estimator and the breaker; a server
 *   failure sends the items in flight and every later one to a tail run here (the pipeline's
 *   fallback) and counts as a failure for the breaker. A stream that starts while the breaker is
 *   open runs the whole model on the device.
 * - Adaptive batch (BPS, `stream.adaptiveBatch`): the head batch waited for follows the arrival
 *   rate (schedule/adaptiveBatcher.ts).
 * - Energy per item: the device energy of the whole request's window over its items (other
 *   requests running meanwhile are in that window too), with its source.
 */
import type * as ort from "onnxruntime-node";
import type { EnergyMeter } from "../../hw/energyMeter.js";
import type { PipelineResult } from "../../runtime/pipeline.js";
import { PipelineExecutor, type Feeds } from "../../runtime/pipelineExecutor.js";
import { codecName } from "../../transport/codecs/codecs.js";
import { AdaptiveBatcher } from "../adaptiveBatcher.js";
import type { DaemonMetrics } from "./daemonMetrics.js";
import { deviceEnergy } from "./energyParts.js";
import type { ExecutorSet } from "./executors.js";
import type { RequestRunner } from "./requestRunner.js";
import type { RunnableConfig } from "./runnableConfig.js";
import type { ServerLink } from "./serverLink.js";
import type { StreamChoice } from "./streamChoice.js";

export interface StreamDeps {
  choice: StreamChoice;
  /** the whole model on the device (a stream that starts while the server is out) */
  whole: RunnableConfig;
  executors: ExecutorSet;
  runner: RequestRunner;
  link: ServerLink | null;
  meter: EnergyMeter;
  metrics: DaemonMetrics;
  clock: () => number;
  log: (record: Record<string, unknown>) => void;
}

/** The summary of a finished request, as flat scalars (OIP parameters, and the stream's last line). */
export type StreamSummary = Record<string, string | number | boolean | null>;

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d;

export class StreamSession {
  readonly executor: PipelineExecutor;
  readonly config: RunnableConfig;
  private readonly startMs: number;
  private readonly mark: ReturnType<EnergyMeter["mark"]>;
  private readonly notes: string[] = [];
  private ok = 0;
  private failed = 0;
  private fellBack = 0;

  constructor(private readonly d: StreamDeps) {
    const c = d.choice;
    const now = d.clock();
    let config = c.config;
    let exec = d.executors.of(config);
    const sends = config.split !== d.executors.lastCut;
    if (sends && (d.link === null || exec === null || !d.link.up(now))) {
      config = d.whole;
      exec = d.executors.whole;
      this.notes.push(`the tail server is out (${d.link?.error ?? "none configured"}): this request runs the whole model on the device`);
    }
    this.config = config;
    const batcher = c.adaptiveBoundMs === null ? null : new AdaptiveBatcher({ maxBatch: c.deviceBatch, latencyBoundMs: c.adaptiveBoundMs });
    const link = d.link;
    this.executor = new PipelineExecutor(exec ?? d.executors.whole, {
      deviceBatch: c.deviceBatch,
      serverBatch: c.serverBatch,
      tailConcurrency: c.tailConcurrency,
      batchDelayMs: c.batchDelayMs,
      codec: config.codec,
      now: d.clock,
      runDevice: (job) => d.runner.device(config, job, { deadlineMs: Number.POSITIVE_INFINITY, kind: "stream" }),
      onTail: (r, _items, local) => {
        if (local || r.server === null || link === null) return;
        const t = d.clock();
        link.outcome(t, "success");
        link.observe(t, r);
      },
      onFallback: (cause) => {
        const msg = (cause as Error).message.split("\n")[0] ?? "error";
        link?.outcome(d.clock(), "error", msg);
        d.log({ level: "warn", msg: "tail server failed mid-stream: the items in flight and every later one run their tail on the device", error: msg });
      },
      ...(batcher === null
        ? {}
        : { onArrival: (t: number) => batcher.arrival(t), onHeadBatch: (items: number, ms: number) => batcher.batch(items, ms), headBatchTarget: () => batcher.target() }),
    });
    this.notes.push(...this.executor.notes);
    this.startMs = now;
    this.mark = d.meter.mark();
  }

  /** One item (batch 1): resolves once accepted, with its result's promise (see Pipeline.submit). */
  async submit(feeds: Record<string, ort.Tensor>, signal?: AbortSignal): Promise<{ result: Promise<PipelineResult<Feeds>> }> {
    const { result } = await this.executor.submit(feeds, signal);
    const counted = result.then(
      (r) => {
        if (r.fallback) this.fellBack++;
        else this.ok++;
        this.d.metrics.streamItems.inc({ result: r.fallback ? "fallback" : "ok" });
        return r;
      },
      (err: unknown) => {
        this.failed++;
        this.d.metrics.streamItems.inc({ result: "failed" });
        throw err;
      },
    );
    counted.catch(() => undefined);
    return { result: counted };
  }

  /** No more items; resolves once every accepted one has its result. */
  close(): Promise<void> {
    return this.executor.close();
  }

  /** What happened, once closed: items, throughput, the configuration, bounds and energy per item. */
  summary(extraNotes: readonly string[] = []): StreamSummary {
    const seconds = Math.max(1e-9, (this.d.clock() - this.startMs) / 1000);
    const st = this.executor.pipeline.stats();
    const items = this.ok + this.fellBack;
    const w = this.d.meter.since(this.mark);
    const dev = deviceEnergy(w, this.d.meter.meter !== null);
    const notes = [...new Set([...this.notes, ...this.executor.notes.filter((n) => !this.notes.includes(n)), ...extraNotes])];
    if (this.d.meter.estimated) notes.push("device energy is an estimate (board profile x CPU utilisation): this board has no energy counter");
    return {
      items,
      failed: this.failed,
      fell_back: this.fellBack,
      seconds: round(seconds),
      throughput_per_s: round(items / seconds),
      config_split: this.config.split,
      config_codec: codecName(this.config.codec),
      config_cpu_freq_mhz: this.config.cpuFreqMHz,
      config_key: this.config === this.d.choice.config ? this.d.choice.configKey : "whole model on the device",
      device_batch: this.executor.deviceBatch,
      server_batch: this.executor.serverBatch,
      tail_concurrency: this.executor.pipeline.tailConcurrency,
      peak_in_flight: st.peak.total,
      capacity: st.capacity.total,
      energy_per_item_j: dev.j === null || items === 0 ? null : round(dev.j / items, 6),
      energy_source: dev.j === null ? null : dev.source,
      notes: notes.join("; "),
    };
  }
}
