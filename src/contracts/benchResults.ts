/**
 * `results.json`: what `splitwatt bench` writes and `splitwatt report` renders from alone.
 * Version 1:
 *
 *   { version: 1, generatedAt, mode, seed, workload, front, pool, daemon, conditions,
 *     policyOptions, dimensions, configurations, strategies: [Strategy], timeline, run, live? }
 *
 *   Strategy = { name, requests, meanEnergyJ, medianEnergyJ, energyByPartJ: { device, network,
 *     server }, sourceLabel, energySources, meanLatencyMs, p50LatencyMs, p95LatencyMs,
 *     p99LatencyMs, missed, missedRate, medianMissMs, energyVsCloudPct, infeasible, fallbacks,
 *     decisions: { [configKey]: count }, latencyCdf: { p, latencyMs }, exactQuantiles }
 *
 * A request is missed when its latency exceeds its deadline; `medianMissMs` is the median of
 * latency - deadline over the missed ones. `energyVsCloudPct` = 100 x (mean - cloud-only's mean)
 * / cloud-only's mean, null when the run has no `cloud-only`. `sourceLabel` says where the
 * energy figures come from: `replay` (drawn from a measured pool's runs), `measured` (energy
 * counters or meters, live) or `estimate` (a power model, live, where the board has no counter).
 * `configurations` holds every configuration of the pareto file's archive (config, measured mean
 * latency and energy, whether it is on the front): the decision keys index it and the report
 * draws the front from it. `timeline` (runs with a conditions trace, and live runs) bins the run
 * by time. `live` (live runs only; absent or null otherwise) says how the run was made: the link
 * and its label (`emulated (kernel tbf)`, `app` token bucket, not shaped, or the daemon's own
 * network), the device energy source, the pacing and order of the requests, whether it was
 * interrupted, and the requests that got no answer. Fields may be added, never renamed; another
 * version is refused with a one-line error.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { IoError, UsageError } from "../errors.js";
import { configSchema } from "./measurement.js";

export const BENCH_RESULTS_VERSION = 1;
export const SOURCE_LABELS = ["measured", "estimate", "replay"] as const;
export type SourceLabel = (typeof SOURCE_LABELS)[number];

const nonNeg = z.number().nonnegative();
const nonNegOrNull = nonNeg.nullable();
const count = z.number().int().nonnegative();
const cdf = z.strictObject({ p: z.array(z.number().min(0).max(1)), latencyMs: z.array(nonNeg) });

export const strategyResultSchema = z.strictObject({
  name: z.string().min(1),
  requests: count,
  meanEnergyJ: nonNegOrNull,
  medianEnergyJ: nonNegOrNull,
  /** means per part; null where a part is unknown for some request */
  energyByPartJ: z.strictObject({ device: nonNegOrNull, network: nonNegOrNull, server: nonNegOrNull }),
  sourceLabel: z.enum(SOURCE_LABELS),
  /** the sources behind the figures, e.g. ["meter", "node"] for a DynaSplit pool, ["rapl"] live */
  energySources: z.array(z.string().min(1)),
  meanLatencyMs: nonNegOrNull,
  p50LatencyMs: nonNegOrNull,
  p95LatencyMs: nonNegOrNull,
  p99LatencyMs: nonNegOrNull,
  missed: count,
  missedRate: z.number().min(0).max(1),
  medianMissMs: nonNegOrNull,
  energyVsCloudPct: z.number().nullable(),
  /** decisions where no configuration was expected to meet the deadline (the fastest was run) */
  infeasible: count,
  /** live: requests answered on the device because the server was out */
  fallbacks: count,
  decisions: z.record(z.string(), count),
  /** the latency distribution at probabilities p (for the CDF chart) */
  latencyCdf: cdf,
  /** false when the quantiles come from the bounded histogram (relative error <= 0.1%) */
  exactQuantiles: z.boolean(),
});
export type StrategyResult = z.infer<typeof strategyResultSchema>;

const tracePoint = z.strictObject({ timeMs: nonNeg, bandwidthMbps: z.number().positive().nullable(), rttMs: nonNegOrNull, serverWaitMs: nonNegOrNull });

export const LINK_KINDS = ["kernel-tbf", "app", "none", "external"] as const;
export const PACINGS = ["arrival", "back-to-back"] as const;

/** How a live run was made (mode "live"). */
export const liveRunSchema = z.strictObject({
  /**
   * the link between the daemon and its tail server: `kernel-tbf` (emulated: netns + veth + tbf,
   * the rate set by this run), `app` (emulated by a token bucket in the daemon's client), `none`
   * (loopback, not shaped), `external` (a daemon given by URL: whatever its network is)
   */
  link: z.strictObject({ kind: z.enum(LINK_KINDS), label: z.string().min(1) }),
  /** the daemon's device energy source, e.g. "estimate (board generic-x86, utilisation process)" */
  deviceEnergy: z.string().min(1),
  /** `arrival`: each request at its arrival time (late when the previous ones ran over); `back-to-back`: each as soon as the previous answered */
  pacing: z.enum(PACINGS),
  /** how the strategies' copies of a request are ordered (drift of the machine hits all alike) */
  order: z.string().min(1),
  /** workload requests in the file (for --network) and the ones started */
  plannedRequests: count,
  startedRequests: count,
  /** the largest delay of a request's start past its arrival time, ms (arrival pacing) */
  maxLagMs: nonNegOrNull,
  /** stopped by Ctrl-C: the figures are of the requests answered until then */
  interrupted: z.boolean(),
  /** requests the daemon answered with an error (not in the strategy's figures), per strategy and status */
  errors: z.array(z.strictObject({ strategy: z.string().min(1), status: z.number().int(), count: count.min(1), message: z.string() })),
  /** requests answered without an energy figure (a meter's reading still pending), per strategy: left out of the energy means */
  energyUnknown: z.record(z.string(), count),
  /** the bandwidth trace's rates applied to the link, as { timeMs (workload time), bandwidthMbps } */
  rateChanges: z.array(z.strictObject({ timeMs: nonNeg, bandwidthMbps: z.number().positive(), rttMs: nonNegOrNull })),
});
export type LiveRun = z.infer<typeof liveRunSchema>;

export const benchResultsSchema = z.strictObject({
  version: z.literal(BENCH_RESULTS_VERSION),
  generatedAt: z.iso.datetime({ offset: true }),
  mode: z.enum(["replay", "live"]),
  seed: z.number().int().nonnegative(),
  workload: z.strictObject({
    path: z.string().min(1),
    sha256: z.string().nullable(),
    network: z.string().min(1).nullable(),
    requests: count,
    /** spacing of requests without an ArrivalMs column, ms */
    intervalMs: nonNegOrNull,
    deadlineMs: z.strictObject({ min: nonNegOrNull, p50: nonNegOrNull, mean: nonNegOrNull, max: nonNegOrNull }),
    deadlineCdf: z.strictObject({ p: z.array(z.number().min(0).max(1)), deadlineMs: z.array(nonNeg) }),
  }),
  front: z.strictObject({
    path: z.string().min(1),
    sha256: z.string(),
    model: z.string().min(1),
    mode: z.enum(["replay", "live"]),
    algorithm: z.string(),
    seed: z.number().int().nonnegative(),
    evaluations: count,
    frontSize: count,
    archiveSize: count,
  }),
  pool: z.strictObject({ path: z.string().min(1), sha256: z.string(), runs: count, configurations: count }).nullable(),
  daemon: z.strictObject({ url: z.string().min(1), inProcess: z.boolean() }).nullable(),
  conditions: z.strictObject({
    bandwidthTrace: z.string().nullable(),
    loadTrace: z.string().nullable(),
    /** the merged trace (at most 2000 points kept) */
    points: z.array(tracePoint),
  }),
  policyOptions: z.record(z.string(), z.unknown()),
  dimensions: z.array(z.strictObject({ name: z.string().min(1), values: z.array(z.union([z.string(), z.number(), z.boolean()])) })),
  configurations: z.array(
    z.strictObject({ key: z.string().min(1), config: configSchema, latencyMs: nonNeg, energyJ: nonNeg, onFront: z.boolean(), runs: count.nullable() }),
  ),
  strategies: z.array(strategyResultSchema).min(1),
  timeline: z
    .array(
      z.strictObject({
        startMs: nonNeg,
        endMs: nonNeg,
        strategy: z.string().min(1),
        requests: count,
        missed: count,
        meanEnergyJ: nonNegOrNull,
        meanLatencyMs: nonNegOrNull,
        /** the configuration chosen most often in the bin */
        config: z.string().nullable(),
        bandwidthMbps: z.number().positive().nullable(),
        serverWaitMs: nonNegOrNull,
      }),
    )
    .nullable(),
  run: z.strictObject({ wallMs: nonNeg, peakRssBytes: count.nullable(), note: z.string().nullable() }),
  /** live runs: how the run was made (older files and replay runs: absent or null) */
  live: liveRunSchema.nullable().optional(),
});
export type BenchResults = z.infer<typeof benchResultsSchema>;

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  return i ? `${i.path.join(".") || "(document)"}: ${i.message}` : "invalid document";
}

/** Validate a parsed results document: the schema, then its internal consistency. */
export function checkBenchResults(x: unknown): { ok: true; value: BenchResults } | { ok: false; reason: string } {
  const r = benchResultsSchema.safeParse(x);
  if (!r.success) return { ok: false, reason: firstIssue(r.error) };
  const doc = r.data;
  const names = new Set<string>();
  const keys = new Set(doc.configurations.map((c) => c.key));
  if (doc.mode === "live" && (doc.live ?? null) === null) return { ok: false, reason: "live: a live run must say how it was made (link, energy source, pacing)" };
  for (const [i, s] of doc.strategies.entries()) {
    if (names.has(s.name)) return { ok: false, reason: `strategies.${i}: strategy ${s.name} appears twice` };
    names.add(s.name);
    if (s.missed > s.requests) return { ok: false, reason: `strategies.${i}.missed: ${s.missed} exceeds the ${s.requests} requests` };
    const decided = Object.values(s.decisions).reduce((a, b) => a + b, 0);
    if (decided !== s.requests) return { ok: false, reason: `strategies.${i}.decisions: they add up to ${decided}, not the ${s.requests} requests` };
    const unknown = Object.keys(s.decisions).find((k) => !keys.has(k));
    if (unknown !== undefined) return { ok: false, reason: `strategies.${i}.decisions: configuration ${unknown} is not in configurations` };
    if (s.latencyCdf.p.length !== s.latencyCdf.latencyMs.length) return { ok: false, reason: `strategies.${i}.latencyCdf: p and latencyMs differ in length` };
  }
  return { ok: true, value: doc };
}

export const RESULTS_FILE = "results.json";

/** Read DIR/results.json (or a results.json path), checked; another version is a user error naming what to do. */
export function readBenchResults(dirOrFile: string): BenchResults {
  const file = dirOrFile.endsWith(".json") ? dirOrFile : join(dirOrFile, RESULTS_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`cannot read ${file} (${code}); pass a directory that splitwatt bench --out wrote`, { path: file, cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${file} is not valid JSON; run splitwatt bench again to write it`, { path: file });
  }
  const version = typeof parsed === "object" && parsed !== null ? (parsed as { version?: unknown }).version : undefined;
  if (version !== BENCH_RESULTS_VERSION) {
    throw new UsageError(
      `${file} is results version ${JSON.stringify(version ?? null)}; this splitwatt reads version ${BENCH_RESULTS_VERSION}: run splitwatt bench again with this version (or report it with the splitwatt that wrote it)`,
      { path: file },
    );
  }
  const r = checkBenchResults(parsed);
  if (!r.ok) throw new UsageError(`${file} is invalid at ${r.reason}; run splitwatt bench again to write it`, { path: file });
  return r.value;
}

/** Write a file atomically (temporary file in the same directory, then rename; the directory is created). */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new IoError(`cannot write ${file} (${code}); check that its directory is writable`, { path: file, cause: e });
  }
}

/** Validate and write DIR/results.json. */
export function writeBenchResults(dir: string, doc: BenchResults): void {
  const r = checkBenchResults(doc);
  if (!r.ok) throw new UsageError(`refusing to write invalid results: ${r.reason}`);
  writeFileAtomic(join(dir, RESULTS_FILE), `${JSON.stringify(doc, null, 2)}\n`);
}
