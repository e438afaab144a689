/**
 * Trace-driven replay of strategies over a measured pool, streaming: for each request of the
 * workload, each strategy (a policy) chooses a configuration under the state at the request's
 * arrival (the simulated clock; the conditions trace's figures; the configuration it ran last),
 * and the outcome is one of that configuration's measured runs drawn uniformly (DynaSplit's
 * simulator samples one row of the configuration's rows), re-predicted by the cost model when a
 * trace changes the conditions. The draw is a seeded hash of (seed, request, configuration)
 * (drawUniform): the same seed gives the same figures, a strategy draws the same runs whichever
 * others run beside it, and strategies that agree on a request get the same run. Memory is bounded: tallies, sketches and the timeline do not grow with the
 * number of requests.
 *
 * A decision that moves the device to another configuration pays the switch, as it would in the
 * daemon: with `switches` given, the time and energy of the switch from the strategy's previous
 * configuration (CPU frequency, accelerator, GPU clock; the same pricing the policies count,
 * policies/switchPricing.ts, under the run's shared policy options) are added to the drawn run's
 * latency and device energy, for every strategy alike (whether or not it counts switches when
 * it decides).
 */
import { canonicalConfigKey, type Config } from "../contracts/measurement.js";
import { traceIndexAt, type ConditionsTrace, type TracePoint } from "../contracts/conditionsTrace.js";
import { UsageError } from "../errors.js";
import type { ParetoFile } from "../contracts/paretoFile.js";
import type { PolicyOptions } from "../schedule/policies/policyOptions.js";
import { SwitchPricing } from "../schedule/policies/switchPricing.js";
import type { Policy, PolicyState } from "../schedule/policy.js";
import type { PoolRuns, RunOutcome } from "./poolRuns.js";
import { QuantileSketch } from "./quantileSketch.js";
import { StrategyTally } from "./strategyTally.js";
import { Timeline } from "./timeline.js";
import type { TimedRequest } from "./workloadStream.js";
import { fmix32 } from "../fmix32.js";

export interface ReplayStrategy {
  name: string;
  policy: Policy;
}

/** Receives every replayed request (for --per-request output); `flush` is awaited after each batch. */
export interface RequestSink {
  add(strategy: number, req: TimedRequest, config: number, o: RunOutcome): void;
  flush(): Promise<void>;
}

export interface BenchReplayOptions {
  strategies: readonly ReplayStrategy[];
  pool: PoolRuns;
  /** the configurations decisions are counted by (the pareto file's archive keys) */
  configurationKeys: readonly string[];
  requests: AsyncIterable<TimedRequest[]>;
  trace: ConditionsTrace | null;
  seed: number;
  minAccuracy?: number | undefined;
  sink?: RequestSink | undefined;
  /** bin the run by time (runs with a trace) */
  timeline?: boolean;
  /** charge each switch's time and energy to the request that makes it (the front's space and the shared policy options); absent: switches cost nothing */
  switches?: { space: ParetoFile["space"]; options: Pick<PolicyOptions, "switchCost" | "acceleratorSwitchMs" | "gpuFreqSwitchMs"> } | undefined;
  onProgress?: (requests: number) => void;
}

export interface BenchReplayResult {
  tallies: StrategyTally[];
  deadlines: QuantileSketch;
  deadlineSumMs: number;
  requests: number;
  timeline: Timeline | null;
}

/**
 * The draw for request number `request` (0-based, in the stream) and configuration index
 * `config`: uniform in [0, 1), a seeded hash, the same for every strategy (common random
 * numbers: two strategies that choose the same configuration for the same request get the same
 * run, so what separates their figures is their choices, not the luck of the draws).
 */
export function drawUniform(seed: number, request: number, config: number): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  h = fmix32(h ^ (request >>> 0));
  h = fmix32(h ^ Math.floor(request / 4294967296));
  h = fmix32(h ^ (config >>> 0));
  return h / 4294967296;
}

interface Prepared {
  policy: Policy;
  /** candidate index -> configuration index */
  config: Int32Array;
  /** candidate index -> its runs in the pool */
  runs: Int32Array[];
  current: Config | null;
  tally: StrategyTally;
  /** prices the switches of this strategy's candidates (null: not charged) */
  pricing: SwitchPricing | null;
}

/** Index the configurations a policy may choose; refuses candidates the pool lacks. */
function prepare(s: ReplayStrategy, pool: PoolRuns, keyIndex: Map<string, number>, switches: BenchReplayOptions["switches"]): Prepared {
  const config = new Int32Array(s.policy.candidates.length);
  const runs: Int32Array[] = [];
  const missing: string[] = [];
  s.policy.candidates.forEach((e, i) => {
    const key = canonicalConfigKey(e.config);
    const k = keyIndex.get(key);
    const r = pool.runsOf(key);
    if (k === undefined || r === undefined) {
      missing.push(key);
      runs.push(new Int32Array(0));
      return;
    }
    config[i] = k;
    runs.push(r);
  });
  if (missing.length > 0) {
    throw new UsageError(
      `strategy ${s.name} may choose ${missing.length} configuration(s) the pool has no runs of (e.g. ${missing[0]}); pass the pool the front was optimised on (splitwatt optimize --replay POOL)`,
    );
  }
  const pricing = switches === undefined ? null : new SwitchPricing(s.policy.candidates, switches.space, switches.options);
  return { policy: s.policy, config, runs, current: null, tally: new StrategyTally(s.name, keyIndex.size), pricing: pricing?.active === true ? pricing : null };
}

export async function benchReplay(o: BenchReplayOptions): Promise<BenchReplayResult> {
  const keyIndex = new Map(o.configurationKeys.map((k, i) => [k, i]));
  const prepared = o.strategies.map((s) => prepare(s, o.pool, keyIndex, o.switches));
  const deadlines = new QuantileSketch();
  const timeline = o.timeline === true ? new Timeline(o.strategies.map((s) => s.name)) : null;
  const points: readonly TracePoint[] | null = o.trace?.points ?? null;
  const out: RunOutcome = { latencyMs: 0, energyJ: 0, deviceJ: 0, networkJ: 0, serverJ: 0 };
  // no trace: every figure unknown, so each configuration is predicted as it was measured
  const state: PolicyState = { nowMs: 0, link: { bandwidthMbps: null, rttMs: null, serverWaitMs: null }, serverUp: true, current: null };
  const request = { deadlineMs: 0, minAccuracy: o.minAccuracy };
  let pointIndex = -1;
  let point: TracePoint | null = null;
  let n = 0;
  let deadlineSum = 0;
  for await (const batch of o.requests) {
    for (const req of batch) {
      if (points !== null) {
        const pi = traceIndexAt(points, req.tMs);
        if (pi !== pointIndex) {
          pointIndex = pi;
          point = points[pi] as TracePoint;
          // figures the trace leaves unknown: each configuration as it was measured
          state.link = { bandwidthMbps: point.bandwidthMbps, rttMs: point.rttMs, serverWaitMs: point.serverWaitMs };
        }
      }
      state.nowMs = req.tMs;
      request.deadlineMs = req.deadlineMs;
      deadlines.add(req.deadlineMs);
      deadlineSum += req.deadlineMs;
      for (let s = 0; s < prepared.length; s++) {
        const p = prepared[s] as Prepared;
        state.current = p.current;
        const d = p.policy.decide(request, state);
        const runs = p.runs[d.index] as Int32Array;
        const cfg = p.config[d.index] as number;
        const run = runs[Math.floor(drawUniform(o.seed, n, cfg) * runs.length)] as number;
        o.pool.outcome(run, point, pointIndex, out);
        if (p.pricing !== null) {
          p.pricing.from(p.current);
          const switchMs = p.pricing.timeMs(d.index);
          const switchJ = p.pricing.energyJ(d.index);
          out.latencyMs += switchMs;
          out.energyJ += switchJ;
          out.deviceJ += switchJ;
        }
        p.tally.add(req.deadlineMs, cfg, out.latencyMs, out.energyJ, out.deviceJ, out.networkJ, out.serverJ, d.feasible);
        p.current = d.entry.config;
        if (timeline !== null) timeline.add(req.tMs, s, cfg, out.latencyMs, out.energyJ, out.latencyMs > req.deadlineMs, point === null ? null : { bandwidthMbps: point.bandwidthMbps, serverWaitMs: point.serverWaitMs });
        o.sink?.add(s, req, cfg, out);
      }
      n++;
    }
    if (o.sink !== undefined) await o.sink.flush();
    o.onProgress?.(n);
  }
  return { tallies: prepared.map((p) => p.tally), deadlines, deadlineSumMs: deadlineSum, requests: n, timeline };
}
