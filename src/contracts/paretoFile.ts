/**
 * The Pareto set file (`*.pareto.json`): what `splitwatt optimize` writes and the daemon, the
 * benchmarks and the reports read. Version 2 (written now):
 *
 *   { version: 2, generatedAt, mode, source, model, network, space, objectives, latencyStat,
 *     constraints, algorithm, memetic, populationSize, seed, budget, evaluations,
 *     cachedEvaluations, unevaluable, generations, aborted, hypervolume, hypervolumeReference,
 *     front: [Entry], archive: [Entry] }
 *
 *   Entry = { config, key, latencyMs, latency: { p50, p95, p99, max, n, samples },
 *             breakdownMs: { head, encode, transfer, server, decode }, bytes, wireBytes,
 *             energyJ: { device, network, server, total }, energySource: { device, network, server },
 *             accuracy: { value, n, ci95 } | null, conditions,
 *             adapter?: { device, server }, switchCost?: { acceleratorMs, gpuFreqMs } }
 *
 * `front` is the non-dominated feasible set under the conditions measured; `archive` holds
 * every evaluated configuration (front included), because one dominated under the measured
 * bandwidth can be the best under another: with its breakdown, bytes and conditions, a daemon
 * re-predicts it (src/predict/costModel.ts). `latencyMs` is the mean; `latency.samples` is a
 * bounded, sorted sample of the per-inference latencies (at most MAX_LATENCY_SAMPLES evenly
 * spaced order statistics), for deadline-aware policies.
 *
 * `adapter` (which GPU adapter the head and the tail ran on, `software: true` for lavapipe /
 * SwiftShader: not accelerator figures) and `switchCost` (what the daemon counts when it changes
 * accelerator or GPU frequency) are optional additions to version 2: files without them load.
 *
 * Version 1 files (front only, no per-part data) still load: `readParetoFile` upgrades them with
 * the unknown parts null and says so in one warning.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import {
  adaptersSchema,
  canonicalConfigKey,
  conditionsSchema,
  configSchema,
  ENERGY_SOURCES,
  switchCostSchema,
  UNKNOWN_CONDITIONS,
  type Config,
  type Measurement,
} from "./measurement.js";
import { OBJECTIVES, SEARCH_ALGORITHMS } from "./optimizeConfig.js";

/** Latency samples kept per entry (evenly spaced order statistics of the measured ones). */
export const MAX_LATENCY_SAMPLES = 256;

const finiteNonNeg = z.number().nonnegative();
const nonNegOrNull = finiteNonNeg.nullable();
const value = z.union([z.string(), z.number(), z.boolean()]);
const sourceOrNull = z.enum(ENERGY_SOURCES).nullable();

export const paretoEntrySchema = z.strictObject({
  config: configSchema,
  /** the measurement-store key of the record behind it; null in replay */
  key: z.string().min(1).nullable(),
  /** mean per-inference latency, ms */
  latencyMs: finiteNonNeg,
  latency: z.strictObject({
    p50: nonNegOrNull,
    p95: nonNegOrNull,
    p99: nonNegOrNull,
    max: nonNegOrNull,
    /** requests (live) or runs (replay) behind the figures */
    n: z.number().int().nonnegative(),
    /** ascending; at most MAX_LATENCY_SAMPLES; empty where only summary figures are known */
    samples: z.array(finiteNonNeg).max(MAX_LATENCY_SAMPLES),
  }),
  /** mean per-inference stage times, ms; null where not measured separately */
  breakdownMs: z.strictObject({ head: nonNegOrNull, encode: nonNegOrNull, transfer: nonNegOrNull, server: nonNegOrNull, decode: nonNegOrNull }),
  /** cut-tensor bytes as encoded by the codec; null where unknown */
  bytes: z.number().int().nonnegative().nullable(),
  /** request body bytes on the wire (protocol header included); null where unknown */
  wireBytes: z.number().int().nonnegative().nullable(),
  /** J per inference by part; total is the objective */
  energyJ: z.strictObject({ device: nonNegOrNull, network: nonNegOrNull, server: nonNegOrNull, total: finiteNonNeg }),
  energySource: z.strictObject({ device: sourceOrNull, network: sourceOrNull, server: sourceOrNull }),
  accuracy: z
    .strictObject({
      value: z.number().min(0).max(1),
      n: z.number().int().positive().nullable(),
      ci95: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).nullable(),
    })
    .nullable(),
  conditions: conditionsSchema,
  /** items per second: measured through the pipeline, or 1000 / the mean latency one at a time; absent in older files */
  throughputPerS: z.number().positive().nullable().optional(),
  /** the GPU adapters the head and tail ran on (null: a CPU target); absent in files before it was added */
  adapter: adaptersSchema.optional(),
  /** the measured cost of switching to this configuration's accelerator and GPU frequency; absent where not measured */
  switchCost: switchCostSchema.optional(),
});
export type ParetoEntry = z.infer<typeof paretoEntrySchema>;

const common = {
  generatedAt: z.iso.datetime({ offset: true }),
  /** replay: answered from a measured pool; live: measured on the testbed */
  mode: z.enum(["replay", "live"]),
  /** where the measurements came from, e.g. { pool, sha256, runs, configurations } */
  source: z.record(z.string(), z.unknown()),
  model: z.string().min(1),
  /** the network profile named on the command line (replay: recorded only) */
  network: z.string().min(1).nullable(),
  space: z.object({
    dimensions: z.array(z.object({ name: z.string().min(1), values: z.array(value).min(1), ordered: z.boolean() })).min(1),
    /** valid configurations, null when too many to count */
    validConfigurations: z.number().int().nonnegative().nullable(),
  }),
  objectives: z.array(z.enum(OBJECTIVES)).min(1).max(3),
  latencyStat: z.enum(["mean", "p95"]),
  constraints: z.object({
    maxLatencyMs: z.number().positive().nullable(),
    minAccuracy: z.number().min(0).max(1).nullable(),
    /** items per second at least (throughput); absent in older files */
    minThroughputPerS: z.number().positive().nullable().optional(),
  }),
  /** as run: `exhaustive` when the valid space was no larger than the budget */
  algorithm: z.enum(SEARCH_ALGORITHMS),
  memetic: z.boolean(),
  populationSize: z.number().int().positive(),
  seed: z.number().int().nonnegative(),
  budget: z.number().int().positive(),
  /** unique completed evaluations */
  evaluations: z.number().int().nonnegative(),
  /** of those, answered from a measurement cache rather than measured in this run */
  cachedEvaluations: z.number().int().nonnegative(),
  /** configurations that could not be evaluated (absent from the pool); they use no budget */
  unevaluable: z.number().int().nonnegative(),
  generations: z.number().int().nonnegative(),
  /** the run was stopped before its budget was used */
  aborted: z.boolean(),
  hypervolume: finiteNonNeg,
  hypervolumeReference: z.object({
    normalisation: z.literal("feasible-evaluated-ideal-nadir"),
    /** the minimised objective each coordinate stands for, e.g. "latencyMs (mean)", "1 - accuracy" */
    objectiveSpace: z.array(z.string()),
    ideal: z.array(z.number()).nullable(),
    nadir: z.array(z.number()).nullable(),
    reference: z.array(z.number()),
  }),
};

/** Version 1 (read only): the front with summary figures. */
export const paretoFileV1Schema = z.object({
  version: z.literal(1),
  ...common,
  front: z.array(
    z.object({
      config: configSchema,
      latencyMs: finiteNonNeg,
      energyJ: finiteNonNeg,
      accuracy: z.number().min(0).max(1).nullable(),
      latency: z.object({ p50: nonNegOrNull, p95: nonNegOrNull, p99: nonNegOrNull, max: nonNegOrNull, n: z.number().int().nonnegative() }),
    }),
  ),
});
export type ParetoFileV1 = z.infer<typeof paretoFileV1Schema>;

export const paretoFileSchema = z.object({
  version: z.literal(2),
  ...common,
  front: z.array(paretoEntrySchema),
  /** every evaluated configuration, front included, in evaluation order */
  archive: z.array(paretoEntrySchema),
});
export type ParetoFile = z.infer<typeof paretoFileSchema>;

/** What a loaded file lacks when it was upgraded from version 1. */
export interface LoadedParetoFile {
  doc: ParetoFile;
  /** the version on disk */
  fileVersion: 1 | 2;
  /** false for version-1 files: no breakdown, bytes or conditions, so no per-part prediction */
  perPart: boolean;
  warnings: string[];
}

/** Evenly spaced order statistics of `xs` (ascending), at most `max` of them; all of them when there are fewer. */
export function boundedSamples(xs: readonly number[], max = MAX_LATENCY_SAMPLES): number[] {
  const sorted = [...xs].sort((a, b) => a - b);
  if (sorted.length <= max) return sorted;
  return Array.from({ length: max }, (_, i) => sorted[Math.round((i * (sorted.length - 1)) / (max - 1))] as number);
}

/** The entry of one measured configuration (a live Measurement). */
export function entryOfMeasurement(m: Measurement): ParetoEntry {
  const samples = m.latencyMs.samples ?? [];
  return {
    config: { ...m.config },
    key: m.key,
    latencyMs: m.latencyMs.mean,
    latency: {
      p50: m.latencyMs.p50,
      p95: m.latencyMs.p95,
      p99: m.latencyMs.p99,
      max: samples.length === 0 ? null : Math.max(...samples),
      n: m.latencyMs.n,
      samples: boundedSamples(samples),
    },
    breakdownMs: { ...m.breakdownMs },
    bytes: m.bytes,
    wireBytes: m.wireBytes ?? null,
    energyJ: { device: m.energyJ.device, network: m.energyJ.network, server: m.energyJ.server, total: m.energyJ.total ?? 0 },
    energySource: { ...m.energySource },
    accuracy: m.accuracy === null ? null : { value: m.accuracy.value, n: m.accuracy.n, ci95: m.accuracy.ci95 },
    conditions: m.conditions ?? { ...UNKNOWN_CONDITIONS, network: typeof m.host.network === "string" ? m.host.network : null },
    throughputPerS: m.throughputPerS ?? (m.latencyMs.mean > 0 ? 1000 / m.latencyMs.mean : null),
    ...(m.adapter === undefined ? {} : { adapter: { device: m.adapter.device, server: m.adapter.server } }),
    ...(m.switchCost === undefined ? {} : { switchCost: { ...m.switchCost } }),
  };
}

const mean = (xs: readonly number[]): number => xs.reduce((s, x) => s + x, 0) / xs.length;
const meanOrNull = (xs: readonly (number | null)[]): number | null => (xs.some((x) => x === null) || xs.length === 0 ? null : mean(xs as number[]));

/** Percentile q (0..100) of ascending `sorted` by linear interpolation between closest ranks. */
function percentile(sorted: readonly number[], q: number): number {
  const pos = (q / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const a = sorted[lo] as number;
  const b = sorted[Math.ceil(pos)] as number;
  return a + (b - a) * (pos - lo);
}

/**
 * The entry of a configuration measured in several runs (a replayed pool: one Measurement per
 * run, each a mean over its images): means over the runs; `latency` is the distribution of the
 * runs' means (n = runs); breakdown, bytes and energy parts are the runs' means (null where any
 * run lacks them).
 */
export function entryOfRuns(runs: readonly Measurement[], conditions: Partial<z.infer<typeof conditionsSchema>> = {}): ParetoEntry {
  const first = runs[0];
  if (first === undefined) throw new UsageError("a configuration needs at least one run");
  const lat = runs.map((r) => r.latencyMs.mean).sort((a, b) => a - b);
  const part = (f: (m: Measurement) => number | null): number | null => meanOrNull(runs.map(f));
  const acc = runs.flatMap((r) => (r.accuracy === null ? [] : [r.accuracy]));
  const bytes = part((m) => m.bytes);
  return {
    config: { ...first.config },
    key: null,
    latencyMs: mean(lat),
    latency: { p50: percentile(lat, 50), p95: percentile(lat, 95), p99: percentile(lat, 99), max: lat[lat.length - 1] as number, n: runs.length, samples: boundedSamples(lat) },
    breakdownMs: {
      head: part((m) => m.breakdownMs.head),
      encode: part((m) => m.breakdownMs.encode),
      transfer: part((m) => m.breakdownMs.transfer),
      server: part((m) => m.breakdownMs.server),
      decode: part((m) => m.breakdownMs.decode),
    },
    bytes: bytes === null ? null : Math.round(bytes),
    wireBytes: null,
    energyJ: { device: part((m) => m.energyJ.device), network: part((m) => m.energyJ.network), server: part((m) => m.energyJ.server), total: part((m) => m.energyJ.total) ?? 0 },
    energySource: { ...first.energySource },
    accuracy: accuracyOfRuns(acc),
    conditions: { ...UNKNOWN_CONDITIONS, ...conditions },
  };
}

/** Accuracy over runs: the mean value; n and the interval only where every run agrees on them. */
function accuracyOfRuns(acc: readonly NonNullable<Measurement["accuracy"]>[]): ParetoEntry["accuracy"] {
  const a0 = acc[0];
  if (a0 === undefined) return null;
  const same = acc.every((a) => a.value === a0.value && a.n === a0.n);
  return { value: mean(acc.map((a) => a.value)), n: acc.every((a) => a.n === a0.n) ? a0.n : null, ci95: same ? a0.ci95 : null };
}

/** An entry from summary figures alone (a version-1 front entry, an evaluator without per-part data): the parts are null. */
export function summaryEntry(
  config: Config,
  f: { latencyMs: number; latency: { p50: number | null; p95: number | null; p99: number | null; max: number | null; n: number }; energyJ: number; accuracy: number | null },
  network: string | null = null,
): ParetoEntry {
  return {
    config: { ...config },
    key: null,
    latencyMs: f.latencyMs,
    latency: { p50: f.latency.p50, p95: f.latency.p95, p99: f.latency.p99, max: f.latency.max, n: f.latency.n, samples: [] },
    breakdownMs: { head: null, encode: null, transfer: null, server: null, decode: null },
    bytes: null,
    wireBytes: null,
    energyJ: { device: null, network: null, server: null, total: f.energyJ },
    energySource: { device: null, network: null, server: null },
    accuracy: f.accuracy === null ? null : { value: f.accuracy, n: null, ci95: null },
    conditions: { ...UNKNOWN_CONDITIONS, network },
  };
}

/** The version-2 document of a version-1 one (archive = the front: nothing else was kept). */
export function upgradeParetoFile(v1: ParetoFileV1): ParetoFile {
  const { front, version: _v, ...rest } = v1;
  const entries = front.map((f) => summaryEntry(f.config, f, v1.network));
  return { version: 2, ...rest, front: entries, archive: entries };
}

function firstIssue(e: z.ZodError): string {
  const i = e.issues[0];
  return i ? `${i.path.join(".") || "(document)"}: ${i.message}` : "invalid document";
}

function checkConfigs(what: string, entries: readonly { config: Config }[], dims: Map<string, Set<string>>): string | null {
  const seen = new Set<string>();
  for (const [i, f] of entries.entries()) {
    const keys = Object.keys(f.config);
    if (keys.length !== dims.size || keys.some((k) => !dims.has(k))) {
      return `${what}.${i}.config: dimensions ${keys.join(", ")} do not match the space's ${[...dims.keys()].join(", ")}`;
    }
    for (const k of keys) {
      const v = f.config[k]!;
      if (!dims.get(k)!.has(`${typeof v}:${String(v)}`)) return `${what}.${i}.config.${k}: ${JSON.stringify(v)} is not a value of that dimension`;
    }
    const key = canonicalConfigKey(f.config);
    if (seen.has(key)) return `${what}.${i}: configuration ${key} appears twice`;
    seen.add(key);
  }
  return null;
}

/**
 * Validate a parsed document of either version: the schema, then that every config is a point
 * of the space, appears once, and (version 2) that the front is part of the archive and the
 * archive holds exactly the evaluations. Returns the version-2 document or a one-line reason.
 */
export function checkParetoFile(x: unknown): { ok: true; value: ParetoFile; fileVersion: 1 | 2 } | { ok: false; reason: string } {
  const version = typeof x === "object" && x !== null ? (x as { version?: unknown }).version : undefined;
  let doc: ParetoFile;
  let fileVersion: 1 | 2;
  if (version === 1) {
    const r = paretoFileV1Schema.safeParse(x);
    if (!r.success) return { ok: false, reason: firstIssue(r.error) };
    doc = upgradeParetoFile(r.data);
    fileVersion = 1;
  } else if (version === 2) {
    const r = paretoFileSchema.safeParse(x);
    if (!r.success) return { ok: false, reason: firstIssue(r.error) };
    doc = r.data;
    fileVersion = 2;
  } else {
    return { ok: false, reason: `version: ${JSON.stringify(version ?? null)} is not a pareto file version this splitwatt reads (1 or 2)` };
  }
  if (new Set(doc.objectives).size !== doc.objectives.length) return { ok: false, reason: "objectives: an objective is listed twice" };
  if (doc.evaluations > doc.budget) return { ok: false, reason: `evaluations (${doc.evaluations}) exceed the budget (${doc.budget})` };
  const dims = new Map(doc.space.dimensions.map((d) => [d.name, new Set(d.values.map((v) => `${typeof v}:${String(v)}`))]));
  if (dims.size !== doc.space.dimensions.length) return { ok: false, reason: "space.dimensions: a dimension is listed twice" };
  const bad = checkConfigs("front", doc.front, dims) ?? (fileVersion === 2 ? checkConfigs("archive", doc.archive, dims) : null);
  if (bad !== null) return { ok: false, reason: bad };
  if (fileVersion === 2) {
    if (doc.archive.length !== doc.evaluations) return { ok: false, reason: `archive has ${doc.archive.length} configurations but evaluations is ${doc.evaluations}; the archive holds every evaluated configuration` };
    const archived = new Set(doc.archive.map((e) => canonicalConfigKey(e.config)));
    const missing = doc.front.findIndex((f) => !archived.has(canonicalConfigKey(f.config)));
    if (missing >= 0) return { ok: false, reason: `front.${missing}: configuration is not in the archive` };
  }
  return { ok: true, value: doc, fileVersion };
}

/** The one-line warning a version-1 file gets. */
export const V1_WARNING = "is a version-1 pareto file: it has no per-part data (breakdown, bytes, conditions) and only its front, so per-part prediction is unavailable; run splitwatt optimize again to write version 2";

/** Read and validate a pareto file of either version (version 1 is upgraded, with a warning). */
export function readParetoFile(file: string): LoadedParetoFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`cannot read pareto file ${file} (${code}); give the path of a .pareto.json written by splitwatt optimize`, { path: file, cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MalformedError(`pareto file ${file} is not valid JSON; write it again with splitwatt optimize --out`, { path: file });
  }
  const r = checkParetoFile(parsed);
  if (!r.ok) throw new MalformedError(`pareto file ${file} is invalid at ${r.reason}; write it again with splitwatt optimize --out`, { path: file });
  return { doc: r.value, fileVersion: r.fileVersion, perPart: r.fileVersion === 2, warnings: r.fileVersion === 1 ? [`${file} ${V1_WARNING}`] : [] };
}

/** Validate and write a version-2 pareto file atomically (a temporary file in the same directory, then rename; the directory is created). */
export function writeParetoFile(file: string, doc: ParetoFile): void {
  const r = checkParetoFile(doc);
  if (!r.ok) throw new UsageError(`refusing to write an invalid pareto file: ${r.reason}`, { path: file });
  outputDir(dirname(file), "the pareto file (--out)");
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(tmp, `${JSON.stringify(doc, null, 2)}\n`);
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new IoError(`cannot write pareto file ${file} (${code}); check that its directory exists and is writable`, { path: file, cause: e });
  }
}
