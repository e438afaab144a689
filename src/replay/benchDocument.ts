/**
 * The results.json document of a benchmark run from its tallies (replay and live runs alike).
 */
import { createHash } from "node:crypto";
import { BENCH_RESULTS_VERSION, type BenchResults, type LiveRun, type StrategyResult } from "../contracts/benchResults.js";
import type { ConditionsTrace } from "../contracts/conditionsTrace.js";
import { canonicalConfigKey } from "../contracts/measurement.js";
import type { LoadedParetoFile } from "../contracts/paretoFile.js";
import { CDF_POINTS, withCloudComparison } from "./strategyTally.js";

/** The configurations decisions are counted by: the archive's, in its order (the front's first for a version-1 file). */
export function configurationKeys(file: LoadedParetoFile): string[] {
  const keys = file.doc.archive.map((e) => canonicalConfigKey(e.config));
  for (const f of file.doc.front) {
    const k = canonicalConfigKey(f.config);
    if (!keys.includes(k)) keys.push(k);
  }
  return keys;
}

/** The workload's deadlines, summed up. */
export interface DeadlineStats {
  min: number | null;
  p50: number | null;
  max: number | null;
  sumMs: number;
  /** the deadlines at CDF_POINTS (empty without requests) */
  cdf: number[];
}

export interface BenchDocumentInput {
  mode: "replay" | "live";
  seed: number;
  workload: { path: string; sha256: string | null; network: string | null; intervalMs: number | null };
  front: { path: string; text: string; file: LoadedParetoFile };
  pool: BenchResults["pool"];
  daemon: BenchResults["daemon"];
  traces: { bandwidth: string | null; load: string | null; merged: ConditionsTrace | null };
  policyOptions: Record<string, unknown>;
  /** each strategy's figures (StrategyTally.result), energyVsCloudPct still to fill in */
  strategies: readonly StrategyResult[];
  /** runs per configuration key (replay), for the configurations table */
  runsOf?: (key: string) => number | null;
  deadlines: DeadlineStats;
  requests: number;
  timeline: NonNullable<BenchResults["timeline"]> | null;
  wallMs: number;
  note: string | null;
  /** live runs: how the run was made */
  live?: LiveRun | undefined;
  /** configurations chosen that the pareto file lacks (a live daemon's whole-model fallback): appended with this run's figures */
  extraConfigurations?: NonNullable<BenchResults["configurations"]> | undefined;
}

export function benchDocument(i: BenchDocumentInput): BenchResults {
  const { doc } = i.front.file;
  const keys = configurationKeys(i.front.file);
  const frontKeys = new Set(doc.front.map((f) => canonicalConfigKey(f.config)));
  const entries = new Map([...doc.archive, ...doc.front].map((e) => [canonicalConfigKey(e.config), e]));
  const strategies = withCloudComparison([...i.strategies]);
  const { min, p50, max } = i.deadlines;
  const points = i.traces.merged?.points ?? [];
  const step = Math.max(1, Math.ceil(points.length / 2000));
  return {
    version: BENCH_RESULTS_VERSION,
    generatedAt: new Date().toISOString(),
    mode: i.mode,
    seed: i.seed,
    workload: {
      path: i.workload.path,
      sha256: i.workload.sha256,
      network: i.workload.network,
      requests: i.requests,
      intervalMs: i.workload.intervalMs,
      deadlineMs: { min, p50, mean: i.requests > 0 ? i.deadlines.sumMs / i.requests : null, max },
      deadlineCdf: i.requests > 0 ? { p: CDF_POINTS, deadlineMs: i.deadlines.cdf } : { p: [], deadlineMs: [] },
    },
    front: {
      path: i.front.path,
      sha256: createHash("sha256").update(i.front.text).digest("hex"),
      model: doc.model,
      mode: doc.mode,
      algorithm: doc.algorithm,
      seed: doc.seed,
      evaluations: doc.evaluations,
      frontSize: doc.front.length,
      archiveSize: doc.archive.length,
    },
    pool: i.pool,
    daemon: i.daemon,
    conditions: { bandwidthTrace: i.traces.bandwidth, loadTrace: i.traces.load, points: points.filter((_, j) => j % step === 0) },
    policyOptions: i.policyOptions,
    dimensions: doc.space.dimensions.map((d) => ({ name: d.name, values: [...d.values] })),
    configurations: keys.map((key) => {
      const e = entries.get(key);
      return { key, config: e?.config ?? {}, latencyMs: e?.latencyMs ?? 0, energyJ: e?.energyJ.total ?? 0, onFront: frontKeys.has(key), runs: i.runsOf?.(key) ?? null };
    }).concat(i.extraConfigurations ?? []),
    strategies,
    timeline: i.timeline,
    run: { wallMs: i.wallMs, peakRssBytes: peakRssBytes(), note: i.note },
    ...(i.live === undefined ? {} : { live: i.live }),
  };
}

/** This process's peak resident set size, bytes (null where the platform does not say). */
export function peakRssBytes(): number | null {
  const kib = process.resourceUsage().maxRSS;
  return Number.isFinite(kib) && kib > 0 ? kib * 1024 : null;
}
