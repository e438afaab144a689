/**
 * `splitwatt bench --replay`: read the traces, check the inputs, run the replay job (on up to
 * --threads threads), write results.json, summary.md, report.html (and requests.csv with
 * --per-request).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import type { BenchResults } from "../contracts/benchResults.js";
import { mergeTraces, parseConditionsTrace, type ConditionsTrace } from "../contracts/conditionsTrace.js";
import type { LoadedParetoFile } from "../contracts/paretoFile.js";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { benchDocument } from "../replay/benchDocument.js";
import { parallelReplay } from "../replay/parallelReplay.js";
import type { PoolRuns } from "../replay/poolRuns.js";
import { runReplayJob, type ReplayJob, type StrategySpec } from "../replay/replayJob.js";
import { benchProgress } from "./benchOptions.js";

export type { StrategySpec } from "../replay/replayJob.js";

export interface ReplayBenchInput {
  poolPath: string;
  workloadPath: string;
  frontPath: string;
  network?: string | undefined;
  strategies: readonly (string | StrategySpec)[];
  seed: number;
  out: string;
  perRequest: boolean;
  bandwidthTrace?: string | undefined;
  loadTrace?: string | undefined;
  intervalMs: number;
  policyOptions: Record<string, unknown>;
  minAccuracy?: number | undefined;
  /** threads to share the strategies over (default: the machine's cores) */
  threads?: number | undefined;
  /** no progress lines */
  quiet?: boolean;
  /** a pool and front already in memory (the reproduction): replayed in this thread */
  loaded?: { pool: PoolRuns; poolSha256: string; front: LoadedParetoFile; frontText: string } | undefined;
  /** write summary.md and report.html too (default true) */
  reports?: boolean;
}

/** A conditions trace file (a user's: unreadable or malformed is a one-line user error). */
export function readTrace(path: string, what: string): ConditionsTrace {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? "error"}); give a CSV with TimeMs and BandwidthMbps / ServerWaitMs columns (splitwatt workload --bandwidth writes one)`, { path, cause: e });
  }
  try {
    return parseConditionsTrace(text, path);
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
    throw e;
  }
}

export async function replayBench(i: ReplayBenchInput): Promise<BenchResults> {
  const t0 = performance.now();
  const bw = i.bandwidthTrace === undefined ? null : readTrace(i.bandwidthTrace, "bandwidth trace");
  if (bw !== null && !bw.figures.includes("BandwidthMbps")) throw new UsageError(`bandwidth trace ${i.bandwidthTrace} has no BandwidthMbps column; pass a server-load trace with --load-trace`);
  const load = i.loadTrace === undefined ? null : readTrace(i.loadTrace, "server-load trace");
  if (load !== null && !load.figures.includes("ServerWaitMs")) throw new UsageError(`server-load trace ${i.loadTrace} has no ServerWaitMs column; pass a bandwidth trace with --bandwidth-trace`);
  const trace = bw !== null && load !== null ? mergeTraces(bw, load) : (bw ?? load);
  const specs = i.strategies.map((s): StrategySpec => (typeof s === "string" ? { name: s, policy: s } : s));
  try {
    mkdirSync(i.out, { recursive: true });
  } catch (e) {
    throw new IoError(`cannot create ${i.out} (${(e as NodeJS.ErrnoException).code ?? "error"}); pass a writable --out directory`, { path: i.out, cause: e });
  }
  const job: ReplayJob = {
    poolPath: i.poolPath,
    frontPath: i.frontPath,
    workloadPath: i.workloadPath,
    network: i.network,
    intervalMs: i.intervalMs,
    strategies: specs,
    policyOptions: i.policyOptions,
    minAccuracy: i.minAccuracy,
    seed: i.seed,
    trace,
    perRequestFile: i.perRequest ? join(i.out, "requests.csv") : null,
  };
  const progress = i.quiet === true ? null : benchProgress("bench");
  const onProgress = progress === null ? undefined : (n: number) => progress.update(n);
  let r;
  let front: LoadedParetoFile;
  let frontText: string;
  if (i.loaded !== undefined) {
    r = await runReplayJob(job, { onProgress, loaded: i.loaded });
    front = i.loaded.front;
    frontText = i.loaded.frontText;
  } else {
    // check the inputs here (one line, before any thread starts), then replay
    const { loadFront, checkPoolMatchesFront, buildStrategies } = await import("../replay/replayJob.js");
    const { readDynasplitPool } = await import("../contracts/dynasplitCsv.js");
    const { PoolRuns } = await import("../replay/poolRuns.js");
    front = loadFront(i.frontPath);
    if (i.quiet !== true) for (const w of front.warnings) process.stderr.write(`splitwatt: warning: ${w}\n`);
    const pool = new PoolRuns(readDynasplitPool(i.poolPath).pool);
    checkPoolMatchesFront(pool, i.poolPath, front, i.frontPath);
    buildStrategies(job, front, pool);
    frontText = readFileSync(i.frontPath, "utf8");
    r = await parallelReplay(job, i.threads ?? availableParallelism(), onProgress);
  }
  progress?.done(r.requests);
  const wallMs = performance.now() - t0;
  const doc = benchDocument({
    mode: "replay",
    seed: i.seed,
    workload: { path: resolve(i.workloadPath), sha256: r.workloadSha256, network: i.network ?? null, intervalMs: i.intervalMs },
    front: { path: resolve(i.frontPath), text: frontText, file: front },
    pool: { path: resolve(i.poolPath), sha256: r.pool.sha256, runs: r.pool.runs, configurations: r.pool.configurations },
    daemon: null,
    traces: { bandwidth: i.bandwidthTrace === undefined ? null : resolve(i.bandwidthTrace), load: i.loadTrace === undefined ? null : resolve(i.loadTrace), merged: trace },
    policyOptions: { ...i.policyOptions, ...Object.fromEntries(specs.filter((s) => s.options !== undefined).map((s) => [s.name, s.options])) },
    strategies: r.strategies,
    runsOf: (key) => r.pool.runsPerKey[key] ?? null,
    deadlines: r.deadlines,
    requests: r.requests,
    timeline: r.timeline,
    wallMs,
    note: `replayed ${r.requests} requests x ${specs.length} strategies in ${(wallMs / 1000).toFixed(2)} s`,
  });
  const { writeBenchResults } = await import("../contracts/benchResults.js");
  writeBenchResults(i.out, doc);
  if (i.reports !== false) {
    const { writeReport } = await import("../report/writeReport.js");
    await writeReport(i.out, doc);
  }
  return doc;
}
