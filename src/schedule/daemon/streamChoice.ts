/**
 * The configuration the daemon's pipeline endpoints (infer-batch, stream) run, chosen once at
 * start: the `stream` options' cut (the highest-throughput configuration of the front's archive
 * at that cut) or else the front's highest-throughput entry; a configuration that sends is only
 * a candidate when the daemon has a tail server. Throughput is the entry's measured one (a
 * batched configuration, measured as a stream) or else 1000 / its mean latency (one at a time).
 * Batch sizes: the options', else the configuration's (deviceBatch / serverBatch dimensions),
 * else 1. Anything that cannot be run is a one-line UsageError at start.
 */
import type { DaemonOptions } from "../../contracts/daemonConfig.js";
import { canonicalConfigKey } from "../../contracts/measurement.js";
import type { ParetoEntry, ParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import { codecName, parseCodec, type CodecSpec } from "../../transport/codecs/codecs.js";
import { runnableConfig, type RunnableConfig } from "./runnableConfig.js";

export interface StreamChoice {
  config: RunnableConfig;
  /** the front entry's canonical key */
  configKey: string;
  deviceBatch: number;
  serverBatch: number;
  tailConcurrency: number;
  batchDelayMs: number;
  /** adaptive device batch (BPS): its per-item latency bound, ms (Infinity: none); null: off */
  adaptiveBoundMs: number | null;
  maxStreams: number;
  /** where the choice came from, for the log */
  from: string;
}

const throughputOf = (e: ParetoEntry): number => e.throughputPerS ?? (e.latencyMs > 0 ? 1000 / e.latencyMs : 0);

const batchOf = (v: unknown): number | null => (typeof v === "number" && Number.isInteger(v) && v >= 1 ? v : null);

/**
 * The stream configuration of `doc` under the daemon's options. `lastCut`: the model's (all on
 * the device); `hasServer`: configurations that send can run; `serverCodec`: a stock server's
 * codec per cut (its tails take only that one), null for splitwatt serve.
 */
export function streamChoice(doc: ParetoFile, o: DaemonOptions, c: { lastCut: number; hasServer: boolean; serverCodec: ((cut: number) => CodecSpec) | null }): StreamChoice {
  const s = o.stream;
  const L = c.lastCut;
  const runnable = (e: ParetoEntry): boolean => c.hasServer || e.config.split === L;
  if (s.codec !== undefined) {
    try {
      parseCodec(s.codec);
    } catch (e) {
      throw new UsageError(`stream.codec: ${(e as Error).message}`);
    }
  }
  let pool: ParetoEntry[];
  let from: string;
  if (s.split !== undefined) {
    pool = doc.archive.filter((e) => e.config.split === s.split);
    const cuts = [...new Set(doc.archive.map((e) => e.config.split))].sort((a, b) => Number(a) - Number(b));
    if (pool.length === 0) throw new UsageError(`stream.split ${s.split}: the front has no configuration there (its cuts: ${cuts.join(", ")}); pick one of them, or leave stream.split out`);
    // the options' codec overrides the configuration's (an executor runs any codec); its own configurations first
    const sameCodec = s.codec === undefined ? [] : pool.filter((e) => String(e.config.codec) === s.codec);
    if (sameCodec.length > 0) pool = sameCodec;
    if (!pool.some(runnable)) throw new UsageError(`stream.split ${s.split} sends its tail to a server, and this daemon has none: give --server, or stream.split ${L} (all on the device)`);
    pool = pool.filter(runnable);
    from = `stream.split ${s.split}`;
  } else {
    pool = doc.front.filter(runnable);
    if (pool.length === 0) pool = doc.archive.filter(runnable);
    if (pool.length === 0) throw new UsageError(`the front has no configuration this daemon can stream: every one sends its tail to a server; give --server`);
    from = "the front's highest throughput";
  }
  const best = pool.reduce((a, b) => (throughputOf(b) > throughputOf(a) ? b : a));
  const base = runnableConfig(best.config, L);
  const codec = s.codec === undefined ? base.codec : parseCodec(s.codec);
  if (c.serverCodec !== null && base.split !== L) {
    const exported = c.serverCodec(base.split);
    if (codecName(exported) !== codecName(codec)) {
      throw new UsageError(`stream.codec ${codecName(codec)}: the Triton/KServe tail of cut ${base.split} takes ${codecName(exported)} (the codec it was exported with); leave stream.codec out or give ${codecName(exported)}`);
    }
  }
  return {
    config: { ...base, codec },
    configKey: canonicalConfigKey(best.config),
    deviceBatch: s.deviceBatch ?? batchOf(best.config.deviceBatch) ?? 1,
    serverBatch: s.serverBatch ?? batchOf(best.config.serverBatch) ?? 1,
    tailConcurrency: s.tailConcurrency ?? 4,
    batchDelayMs: s.batchDelayMs ?? 0,
    adaptiveBoundMs: s.adaptiveBatch === true ? (s.latencyBoundMs ?? Number.POSITIVE_INFINITY) : null,
    maxStreams: s.maxStreams ?? 4,
    from: `${from} (${throughputOf(best).toFixed(1)} items/s)`,
  };
}
