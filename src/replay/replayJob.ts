/**
 * One replay as a self-contained job: paths and options in, each strategy's figures out (all of
 * it plain data, so a job runs in this thread or in a worker thread alike: parallelReplay.ts
 * splits the strategies over threads, every thread streaming the workload itself).
 */
import { createWriteStream } from "node:fs";
import { once } from "node:events";
import type { BenchResults, StrategyResult } from "../contracts/benchResults.js";
import type { ConditionsTrace } from "../contracts/conditionsTrace.js";
import { readDynasplitPool } from "../contracts/dynasplitCsv.js";
import { canonicalConfigKey } from "../contracts/measurement.js";
import { checkParetoFile, readParetoFile, type LoadedParetoFile } from "../contracts/paretoFile.js";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { createPolicy } from "../schedule/policies/index.js";
import { configurationKeys, type DeadlineStats } from "./benchDocument.js";
import { benchReplay, type ReplayStrategy, type RequestSink } from "./benchReplay.js";
import { PoolRuns, type RunOutcome } from "./poolRuns.js";
import { CDF_POINTS } from "./strategyTally.js";
import { workloadStream, type TimedRequest, type WorkloadSummary } from "./workloadStream.js";

/** A strategy to run: its name in the results, the policy behind it, and options of its own (merged over the shared ones). */
export interface StrategySpec {
  name: string;
  policy: string;
  options?: Record<string, unknown> | undefined;
}

export interface ReplayJob {
  poolPath: string;
  frontPath: string;
  /** the front's JSON when it is not (yet) a file */
  frontText?: string | undefined;
  workloadPath: string;
  network?: string | undefined;
  intervalMs: number;
  strategies: StrategySpec[];
  policyOptions: Record<string, unknown>;
  minAccuracy?: number | undefined;
  seed: number;
  trace: ConditionsTrace | null;
  /** write one CSV row per request and strategy here (with the header when `perRequestHeader`) */
  perRequestFile: string | null;
  perRequestHeader?: boolean;
}

export interface ReplayJobResult {
  strategies: StrategyResult[];
  timeline: NonNullable<BenchResults["timeline"]> | null;
  deadlines: DeadlineStats;
  requests: number;
  workloadSha256: string;
  pool: { sha256: string; runs: number; configurations: number; energySources: string[]; runsPerKey: Record<string, number> };
}

/** A pareto file for a benchmark: the user's file, so an invalid one is a user error. */
export function loadFront(path: string, text?: string): LoadedParetoFile {
  if (text === undefined) {
    try {
      return readParetoFile(path);
    } catch (e) {
      if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
      throw e;
    }
  }
  const r = checkParetoFile(JSON.parse(text) as unknown);
  if (!r.ok) throw new UsageError(`pareto file ${path} is invalid at ${r.reason}`);
  return { doc: r.value, fileVersion: r.fileVersion, perPart: r.fileVersion === 2, warnings: [] };
}

/** The pool and the front must describe the same space. */
export function checkPoolMatchesFront(pool: PoolRuns, poolPath: string, front: LoadedParetoFile, frontPath: string): void {
  const fd = front.doc.space.dimensions.map((d) => d.name).sort();
  if (fd.join("\u0000") !== pool.dimensions.join("\u0000")) {
    throw new UsageError(
      `pool ${poolPath} has configuration dimensions ${pool.dimensions.join(", ")} but front ${frontPath} has ${fd.join(", ")}; pass the pool the front was optimised on (or write a front for this pool: splitwatt optimize --replay ${poolPath})`,
    );
  }
}

/** The job's strategies built over the front (a bad name or option, or a configuration the pool lacks, is a user error here, before any request). */
export function buildStrategies(job: Pick<ReplayJob, "strategies" | "policyOptions">, front: LoadedParetoFile, pool: PoolRuns): ReplayStrategy[] {
  return job.strategies.map((s) => {
    const policy = createPolicy(s.policy, front, { ...job.policyOptions, ...s.options });
    const missing = policy.candidates.find((e) => pool.runsOf(canonicalConfigKey(e.config)) === undefined);
    if (missing !== undefined) {
      throw new UsageError(`strategy ${s.name} may choose configurations the pool has no runs of (e.g. ${canonicalConfigKey(missing.config)}); pass the pool the front was optimised on (splitwatt optimize --replay POOL)`);
    }
    return { name: s.name, policy };
  });
}

/** --per-request rows: one CSV row per request and strategy. */
function requestsCsv(file: string, header: boolean, strategies: readonly string[], keys: readonly string[]): RequestSink & { close(): Promise<void> } {
  const stream = createWriteStream(file);
  let error: NodeJS.ErrnoException | null = null;
  stream.on("error", (e) => (error = e));
  let buf = header ? `${PER_REQUEST_HEADER}\n` : "";
  const n = (x: number) => (x === x ? String(x) : "");
  const quoted = keys.map((k) => `"${k.replace(/"/g, '""')}"`);
  const fail = () => new IoError(`cannot write ${file} (${error?.code ?? "error"}); check the output directory`, { path: file, cause: error });
  return {
    add(s: number, r: TimedRequest, config: number, o: RunOutcome) {
      buf += `${r.index},${r.network ?? ""},${r.tMs},${r.deadlineMs},${strategies[s]},${quoted[config]},${o.latencyMs},${o.energyJ},${n(o.deviceJ)},${n(o.networkJ)},${n(o.serverJ)},${o.latencyMs <= r.deadlineMs ? 1 : 0}\n`;
    },
    async flush() {
      if (error !== null) throw fail();
      if (buf.length === 0) return;
      const ok = stream.write(buf);
      buf = "";
      if (!ok) await once(stream, "drain");
    },
    async close() {
      await this.flush();
      stream.end();
      await once(stream, "finish").catch(() => undefined);
      if (error !== null) throw fail();
    },
  };
}

export const PER_REQUEST_HEADER = "Index,Network,ArrivalMs,DeadlineMs,Strategy,Config,LatencyMs,EnergyJ,DeviceJ,NetworkJ,ServerJ,Met";

/** Run a job in this thread. `loaded` passes a pool and front already read (the reproduction replays them many times). */
export async function runReplayJob(
  job: ReplayJob,
  hooks: { onProgress?: (requests: number) => void; loaded?: { pool: PoolRuns; poolSha256: string; front: LoadedParetoFile } } = {},
): Promise<ReplayJobResult> {
  let pool: PoolRuns;
  let poolSha256: string;
  if (hooks.loaded !== undefined) {
    pool = hooks.loaded.pool;
    poolSha256 = hooks.loaded.poolSha256;
  } else {
    const p = readDynasplitPool(job.poolPath);
    pool = new PoolRuns(p.pool);
    poolSha256 = p.sha256;
  }
  const front = hooks.loaded?.front ?? loadFront(job.frontPath, job.frontText);
  checkPoolMatchesFront(pool, job.poolPath, front, job.frontPath);
  const strategies = buildStrategies(job, front, pool);
  const keys = configurationKeys(front);
  const sink = job.perRequestFile === null ? undefined : requestsCsv(job.perRequestFile, job.perRequestHeader ?? true, job.strategies.map((s) => s.name), keys);
  const summary: WorkloadSummary = { sha256: "", requests: 0, networks: new Map() };
  let r;
  try {
    r = await benchReplay({
      strategies,
      pool,
      configurationKeys: keys,
      requests: workloadStream(job.workloadPath, { network: job.network, intervalMs: job.intervalMs, summary }),
      trace: job.trace,
      seed: job.seed,
      minAccuracy: job.minAccuracy,
      sink,
      timeline: job.trace !== null,
      onProgress: hooks.onProgress,
    });
  } finally {
    await sink?.close();
  }
  const runsPerKey: Record<string, number> = {};
  for (const k of keys) runsPerKey[k] = pool.runsOf(k)?.length ?? 0;
  return {
    strategies: r.tallies.map((t) => t.result(keys, "replay", pool.energySources)),
    timeline: r.timeline?.rows(keys) ?? null,
    deadlines: { min: r.deadlines.min, p50: r.deadlines.quantile(0.5), max: r.deadlines.max, sumMs: r.deadlineSumMs, cdf: r.requests > 0 ? (r.deadlines.quantiles(CDF_POINTS) as number[]) : [] },
    requests: r.requests,
    workloadSha256: summary.sha256,
    pool: { sha256: poolSha256, runs: pool.runs, configurations: pool.configurations, energySources: pool.energySources, runsPerKey },
  };
}
