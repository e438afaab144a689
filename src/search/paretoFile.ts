/**
 * The Pareto set file (`*.pareto.json`, version 1): what `splitwatt optimize` produces and the
 * daemon reads. Shape:
 *
 *   { version, model, space: { dimensions: [{ name, values, ordered }] }, objectives, algorithm,
 *     seed, budget, evaluations, hypervolume, front: [{ config, latencyMs, energyJ, accuracy,
 *     latency: { p50, p95, p99, max, n } }], ...provenance }
 *
 * `latencyMs` is the mean; `latency` keeps the distribution deadline-aware policies need. In
 * replay mode config keys are the pool's columns and values are as in the pool; objectives are
 * per-config means over its runs. Fields may be added in version 1, never renamed.
 */
import { randomBytes } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { canonicalConfigKey, configSchema } from "../measure/measurement.js";
import { OBJECTIVES, type OptimizeResult } from "./optimize.js";
import { SEARCH_ALGORITHMS } from "./searchEngine.js";
import type { Space } from "./space.js";

const finiteNonNeg = z.number().nonnegative();
const value = z.union([z.string(), z.number(), z.boolean()]);

export const paretoFileSchema = z.object({
  version: z.literal(1),
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
  constraints: z.object({ maxLatencyMs: z.number().positive().nullable(), minAccuracy: z.number().min(0).max(1).nullable() }),
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
  front: z.array(
    z.object({
      config: configSchema,
      latencyMs: finiteNonNeg,
      energyJ: finiteNonNeg,
      accuracy: z.number().min(0).max(1).nullable(),
      latency: z.object({
        p50: finiteNonNeg.nullable(),
        p95: finiteNonNeg.nullable(),
        p99: finiteNonNeg.nullable(),
        max: finiteNonNeg.nullable(),
        n: z.number().int().nonnegative(),
      }),
    }),
  ),
});

export type ParetoFile = z.infer<typeof paretoFileSchema>;

export interface ParetoProvenance {
  mode: "replay" | "live";
  source: Record<string, unknown>;
  model: string;
  network: string | null;
  space: Space;
  generatedAt?: string;
}

/** The pareto document of an optimize run. */
export function paretoDocument(result: OptimizeResult, p: ParetoProvenance): ParetoFile {
  const objectiveSpace = result.objectives.map((o) => (o === "latency" ? `latencyMs (${result.latencyStat})` : o === "energy" ? "energyJ" : "1 - accuracy"));
  return {
    version: 1,
    generatedAt: p.generatedAt ?? new Date().toISOString(),
    mode: p.mode,
    source: p.source,
    model: p.model,
    network: p.network,
    space: {
      dimensions: p.space.dimensions.map((d) => ({ name: d.name, values: [...d.values], ordered: d.ordered })),
      validConfigurations: result.validSpaceSize,
    },
    objectives: [...result.objectives],
    latencyStat: result.latencyStat,
    constraints: { maxLatencyMs: result.constraints.maxLatencyMs ?? null, minAccuracy: result.constraints.minAccuracy ?? null },
    algorithm: result.algorithm,
    memetic: result.memetic,
    populationSize: result.populationSize,
    seed: result.seed,
    budget: result.budget,
    evaluations: result.evaluations,
    cachedEvaluations: result.cachedEvaluations,
    unevaluable: result.unevaluable,
    generations: result.generations,
    aborted: result.aborted,
    hypervolume: result.hypervolume,
    hypervolumeReference: { ...result.hypervolumeReference, objectiveSpace },
    front: result.front.map((f) => ({
      config: { ...f.config },
      latencyMs: f.result.latencyMs,
      energyJ: f.result.energyJ,
      accuracy: f.result.accuracy,
      latency: { ...f.result.latency },
    })),
  };
}

/** Validate a parsed document: the schema, then that every front config is a point of the space. Returns a one-line reason or null. */
export function checkParetoFile(x: unknown): { ok: true; value: ParetoFile } | { ok: false; reason: string } {
  const r = paretoFileSchema.safeParse(x);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, reason: i ? `${i.path.join(".") || "(document)"}: ${i.message}` : "invalid document" };
  }
  const doc = r.data;
  if (new Set(doc.objectives).size !== doc.objectives.length) return { ok: false, reason: "objectives: an objective is listed twice" };
  if (doc.evaluations > doc.budget) return { ok: false, reason: `evaluations (${doc.evaluations}) exceed the budget (${doc.budget})` };
  const dims = new Map(doc.space.dimensions.map((d) => [d.name, new Set(d.values.map((v) => `${typeof v}:${String(v)}`))]));
  if (dims.size !== doc.space.dimensions.length) return { ok: false, reason: "space.dimensions: a dimension is listed twice" };
  for (const [i, f] of doc.front.entries()) {
    const keys = Object.keys(f.config);
    if (keys.length !== dims.size || keys.some((k) => !dims.has(k))) {
      return { ok: false, reason: `front.${i}.config: dimensions ${keys.join(", ")} do not match the space's ${[...dims.keys()].join(", ")}` };
    }
    for (const k of keys) {
      const v = f.config[k]!;
      if (!dims.get(k)!.has(`${typeof v}:${String(v)}`)) return { ok: false, reason: `front.${i}.config.${k}: ${JSON.stringify(v)} is not a value of that dimension` };
    }
  }
  const seen = new Set<string>();
  for (const [i, f] of doc.front.entries()) {
    const key = canonicalConfigKey(f.config);
    if (seen.has(key)) return { ok: false, reason: `front.${i}: configuration ${key} appears twice` };
    seen.add(key);
  }
  return { ok: true, value: doc };
}

/** Read and validate a pareto file. */
export function readParetoFile(file: string): ParetoFile {
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
  return r.value;
}

/** Validate and write a pareto file atomically (a temporary file in the same directory, then rename; the directory is created). */
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
