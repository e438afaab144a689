/**
 * A live benchmark: the workload's deadlines sent for real to a splitwatt daemon, once per
 * strategy (the request's `policy` parameter), and what the daemon measured tallied as a replay
 * tallies its draws (StrategyTally, Timeline), so both write the same results document.
 *
 * - Order: a request's copies go one after another, never overlapping (no strategy queues
 *   behind another in the daemon), in the order of liveOrder (a Williams design: every strategy
 *   first, second, ... and after every other one equally often), so a drift of the machine and
 *   what one strategy leaves behind fall on all alike.
 * - Pacing: `arrival` starts request i's copies at its arrival time (tMs after the start); when
 *   the copies of the ones before ran past it, at once (the lag is kept, its maximum reported).
 *   `back-to-back` starts each as soon as the previous answered.
 * - Conditions: a bandwidth trace is indexed by the workload's arrival times in both pacings
 *   (the same requests see the same rates); the point in force is applied to the link before a
 *   request's copies go.
 * - Answers: an error status (429, 503, 504, ...) is counted per strategy and status, not in
 *   the figures; a refusal that will not change (400, 401, 404), a malformed answer or a daemon
 *   that stops answering ends the run (`stopped`), keeping what was measured; so does the
 *   signal (`interrupted`).
 */
import { setTimeout as sleepMs } from "node:timers/promises";
import { traceIndexAt, type ConditionsTrace, type TracePoint } from "../contracts/conditionsTrace.js";
import type { Config } from "../contracts/measurement.js";
import { SplitwattError, UsageError } from "../errors.js";
import type { OipTensor } from "../transport/oip/index.js";
import { liveAnswer } from "./liveAnswer.js";
import type { LiveDaemonClient } from "./liveDaemonClient.js";
import { liveOrder } from "./liveOrder.js";
import { QuantileSketch } from "./quantileSketch.js";
import { StrategyTally } from "./strategyTally.js";
import { Timeline } from "./timeline.js";
import type { TimedRequest } from "./workloadStream.js";

export type Pacing = "arrival" | "back-to-back";

export interface LiveStrategy {
  /** its name in the results */
  name: string;
  /** the daemon policy it sends */
  policy: string;
}

export interface LiveBenchOptions {
  client: LiveDaemonClient;
  /** the model's name at the daemon */
  model: string;
  inputs: OipTensor[];
  strategies: readonly LiveStrategy[];
  /** the configurations decisions are counted by (the pareto file's) */
  configurationKeys: readonly string[];
  requests: AsyncIterable<TimedRequest[]>;
  trace: ConditionsTrace | null;
  /** apply a trace point to the link (the in-process testbed); null: the trace is not applied */
  applyConditions: ((p: TracePoint) => Promise<void>) | null;
  /** the link's rate without a trace (the shaped rate), for the timeline; null: unknown */
  bandwidthMbps: number | null;
  /** the timeline's first bin width, ms (default 1000) */
  timelineWidthMs?: number | undefined;
  pacing: Pacing;
  minAccuracy?: number | undefined;
  signal: AbortSignal;
  onProgress?: ((requests: number) => void) | undefined;
  /** keep one CSV row per answered request (requests.csv) */
  perRequest: boolean;
}

export interface LiveBenchResult {
  tallies: StrategyTally[];
  /** the configuration keys of the decisions: the pareto file's, then those it lacks */
  keys: string[];
  /** configurations chosen that the pareto file lacks, with this run's figures */
  extra: Map<string, { config: Config; n: number; latencySum: number; energyN: number; energySum: number }>;
  /** the energy sources of each strategy's answers */
  sources: Set<string>[];
  deadlines: QuantileSketch;
  deadlineSumMs: number;
  /** workload requests started */
  requests: number;
  timeline: Timeline;
  errors: { strategy: string; status: number; count: number; message: string }[];
  maxLagMs: number | null;
  interrupted: boolean;
  /** the error that ended the run early (null: it ran to the end or was interrupted) */
  stopped: SplitwattError | null;
  rateChanges: { timeMs: number; bandwidthMbps: number; rttMs: number | null }[];
  /** requests.csv rows (perRequest), without the header */
  rows: string[];
}

/** Statuses that will not change by sending again: the run stops on them. */
const FATAL = new Set([400, 401, 403, 404, 413]);

/** A generous deadline for the warm-up requests (every strategy's cheapest choice). */
const WARM_UP_DEADLINE_MS = 60_000;

/** How long past a request's deadline the client waits for the daemon's answer (the daemon ends it within deadline + its grace). */
const CLIENT_SLACK_MS = 60_000;

/**
 * One unmeasured request per strategy (the daemon builds a policy on first use): a strategy the
 * daemon refuses is a one-line user error before anything is measured.
 */
export async function warmUpStrategies(o: Pick<LiveBenchOptions, "client" | "model" | "inputs" | "strategies" | "signal">): Promise<void> {
  for (const s of o.strategies) {
    const r = await o.client.infer(o.model, o.inputs, { deadline_ms: WARM_UP_DEADLINE_MS, policy: s.policy }, { signal: o.signal, timeoutMs: WARM_UP_DEADLINE_MS + CLIENT_SLACK_MS });
    if (!r.ok) {
      throw new UsageError(
        r.status === 400
          ? `the daemon at ${o.client.url} refuses strategy ${s.name}: ${r.message}`
          : `the daemon at ${o.client.url} answered ${r.status} to a warm-up request of strategy ${s.name} (${r.message}): check its log`,
      );
    }
    liveAnswer(r.parameters);
  }
}

export async function liveBench(o: LiveBenchOptions): Promise<LiveBenchResult> {
  const S = o.strategies.length;
  const keys = [...o.configurationKeys];
  const keyIndex = new Map(keys.map((k, i) => [k, i]));
  const tallies = o.strategies.map((s) => new StrategyTally(s.name, keys.length));
  const sources = o.strategies.map(() => new Set<string>());
  const extra: LiveBenchResult["extra"] = new Map();
  const timeline = new Timeline(o.strategies.map((s) => s.name), { widthMs: o.timelineWidthMs ?? 1000 });
  const deadlines = new QuantileSketch();
  const errors = new Map<string, { strategy: string; status: number; count: number; message: string }>();
  const rateChanges: LiveBenchResult["rateChanges"] = [];
  const rows: string[] = [];
  const points = o.trace?.points ?? null;
  let pointIndex = -1;
  let bandwidthMbps = o.bandwidthMbps;
  let deadlineSum = 0;
  let started = 0;
  let maxLagMs: number | null = null;
  let interrupted = false;
  let stopped: SplitwattError | null = null;
  const t0 = performance.now();
  const aborted = (): boolean => {
    if (o.signal.aborted) interrupted = true;
    return interrupted;
  };

  /** One copy of a request; false when the run must end. */
  const send = async (s: number, req: TimedRequest): Promise<boolean> => {
    const strategy = o.strategies[s] as LiveStrategy;
    const params: Record<string, string | number> = { deadline_ms: req.deadlineMs, policy: strategy.policy };
    if (o.minAccuracy !== undefined) params.min_accuracy = o.minAccuracy;
    let r;
    try {
      r = await o.client.infer(o.model, o.inputs, params, { signal: o.signal, timeoutMs: req.deadlineMs + CLIENT_SLACK_MS });
    } catch (err) {
      if (aborted()) return false;
      if (err instanceof SplitwattError) {
        stopped = err;
        return false;
      }
      throw err;
    }
    if (!r.ok) {
      if (FATAL.has(r.status)) {
        stopped = new UsageError(`the daemon at ${o.client.url} answered ${r.status} to strategy ${strategy.name}'s request ${req.index}: ${r.message}`);
        return false;
      }
      const k = `${strategy.name}\u0000${r.status}`;
      const e = errors.get(k);
      if (e === undefined) errors.set(k, { strategy: strategy.name, status: r.status, count: 1, message: r.message });
      else e.count++;
      return true;
    }
    let a;
    try {
      a = liveAnswer(r.parameters);
    } catch (err) {
      if (err instanceof SplitwattError) {
        stopped = err;
        return false;
      }
      throw err;
    }
    let idx = keyIndex.get(a.configKey);
    if (idx === undefined) {
      idx = keys.length;
      keys.push(a.configKey);
      keyIndex.set(a.configKey, idx);
      extra.set(a.configKey, { config: a.config, n: 0, latencySum: 0, energyN: 0, energySum: 0 });
    }
    const x = extra.get(a.configKey);
    if (x !== undefined) {
      x.n++;
      x.latencySum += a.latencyMs;
      if (a.energyJ === a.energyJ) {
        x.energyN++;
        x.energySum += a.energyJ;
      }
    }
    const tally = tallies[s] as StrategyTally;
    tally.add(req.deadlineMs, idx, a.latencyMs, a.energyJ, a.deviceJ, a.networkJ, a.serverJ, a.feasible);
    if (a.fallback) tally.fallbacks++;
    for (const src of a.sources) sources[s]?.add(src);
    const missed = a.latencyMs > req.deadlineMs;
    timeline.add(req.tMs, s, idx, a.latencyMs, a.energyJ, missed, bandwidthMbps === null ? null : { bandwidthMbps, serverWaitMs: null });
    if (o.perRequest) {
      const n = (v: number): string => (v === v ? String(v) : "");
      rows.push(
        `${req.index},${req.network ?? ""},${req.tMs},${req.deadlineMs},${strategy.name},"${a.configKey.replace(/"/g, '""')}",${a.latencyMs},${n(a.energyJ)},${n(a.deviceJ)},${n(a.networkJ)},${n(a.serverJ)},${missed ? 0 : 1}`,
      );
    }
    return true;
  };

  outer: for await (const batch of o.requests) {
    for (const req of batch) {
      if (aborted()) break outer;
      if (points !== null) {
        const pi = traceIndexAt(points, req.tMs);
        if (pi !== pointIndex) {
          pointIndex = pi;
          const p = points[pi] as TracePoint;
          if (o.applyConditions !== null) await o.applyConditions(p);
          if (p.bandwidthMbps !== null) {
            bandwidthMbps = p.bandwidthMbps;
            rateChanges.push({ timeMs: req.tMs, bandwidthMbps: p.bandwidthMbps, rttMs: p.rttMs });
          }
        }
      }
      if (o.pacing === "arrival") {
        const waitMs = t0 + req.tMs - performance.now();
        if (waitMs > 0) {
          try {
            await sleepMs(waitMs, undefined, { signal: o.signal });
          } catch {
            interrupted = true;
            break outer;
          }
        } else maxLagMs = Math.max(maxLagMs ?? 0, -waitMs);
        if (maxLagMs === null) maxLagMs = 0;
      }
      deadlines.add(req.deadlineMs);
      deadlineSum += req.deadlineMs;
      for (const s of liveOrder(started, S)) {
        if (aborted() || !(await send(s, req))) break outer;
      }
      started++;
      o.onProgress?.(started);
    }
  }
  // a request whose copies were cut short still counts as started
  if ((interrupted || stopped !== null) && deadlines.count > started) started = deadlines.count;
  return {
    tallies,
    keys,
    extra,
    sources,
    deadlines,
    deadlineSumMs: deadlineSum,
    requests: started,
    timeline,
    errors: [...errors.values()],
    maxLagMs,
    interrupted,
    stopped,
    rateChanges,
    rows,
  };
}
