/**
 * The optimize YAML file (`splitwatt optimize --config FILE.yaml`; annotated example in
 * configs/optimize.example.yaml) and the names the search records in its output: objectives
 * and algorithms.
 *
 * The file is a grouped view of the command line: `optimizeConfigAsOptions` flattens it to the
 * command's own option names, so a command merges defaults < file < command line as three
 * plain objects and validates the result with one schema (no per-option merging).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { MeterConfig } from "./meterSpec.js";

/** throughput (items/s) is maximised: the search minimises ms per item, 1000 / throughput */
export const OBJECTIVES = ["latency", "energy", "accuracy", "throughput"] as const;
export type ObjectiveName = (typeof OBJECTIVES)[number];

/** Every algorithm a run can record (`local` = Pareto local search alone, for benchmarks). */
export const SEARCH_ALGORITHMS = ["nsga2", "nsga3", "random", "exhaustive", "local"] as const;
export type SearchAlgorithm = (typeof SEARCH_ALGORITHMS)[number];
/** The algorithms a user picks. */
export const USER_ALGORITHMS = ["nsga2", "nsga3", "random", "exhaustive"] as const;

const stringList = z.union([z.string().min(1).transform((s) => s.split(",").map((x) => x.trim())), z.array(z.string().min(1)).min(1)]);

export const optimizeConfigSchema = z.strictObject({
  model: z.string().min(1),
  inputShape: z.record(z.string(), z.array(z.number().int().positive())).optional(),
  /** per input, one item's values (row-major) instead of synthetic ones */
  inputValues: z.record(z.string(), z.union([z.number(), z.array(z.number()).min(1)])).optional(),
  /** FILE.json or NAME=FILE.npy, relative to the YAML file */
  inputFile: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  inputSize: z.number().int().positive().optional(),
  server: z.url().optional(),
  serverModel: z.string().min(1).optional(),
  serverKind: z.enum(["splitwatt", "triton"]).optional(),
  network: z.string().min(1).optional(),
  link: z.enum(["auto", "kernel", "app", "none"]).optional(),
  board: z.string().min(1).optional(),
  ...MeterConfig.shape,
  serverBoard: z.string().min(1).optional(),
  serverEnergy: z.enum(["marginal", "node"]).optional(),
  store: z.string().min(1).optional(),
  dimensions: z
    .strictObject({
      split: z.union([z.enum(["all", "bottlenecks"]), z.array(z.number().int().min(0)).min(2)]).optional(),
      cpuFreqMHz: z.union([z.literal("all"), z.array(z.number().positive()).min(1)]).optional(),
      gpuFreqMHz: z.union([z.literal("all"), z.array(z.number().positive()).min(1)]).optional(),
      deviceTarget: stringList.optional(),
      serverTarget: stringList.optional(),
      codec: stringList.optional(),
      /** device batch sizes b_d: configurations are measured as a stream through the pipeline */
      deviceBatch: z.array(z.number().int().min(1).max(4096)).min(1).optional(),
      /** server batch sizes b_s (items per tail request) */
      serverBatch: z.array(z.number().int().min(1).max(4096)).min(1).optional(),
    })
    .optional(),
  objectives: stringList.optional(),
  latencyStat: z.enum(["mean", "p95"]).optional(),
  constraints: z
    .strictObject({ maxLatencyMs: z.number().positive().optional(), minAccuracy: z.number().min(0).max(1).optional(), minThroughputPerS: z.number().positive().optional() })
    .optional(),
  budget: z.number().int().positive().optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  algorithm: z.enum(USER_ALGORITHMS).optional(),
  memetic: z.boolean().optional(),
  guided: z.boolean().optional(),
  population: z.number().int().min(2).optional(),
  measure: z
    .strictObject({
      ci: z.number().positive().max(1).optional(),
      minRuns: z.number().int().min(2).optional(),
      maxRuns: z.number().int().min(1).optional(),
      maxSeconds: z.number().positive().optional(),
      warmUp: z.number().int().min(0).optional(),
      idleMs: z.number().int().min(0).optional(),
      accuracy: z.boolean().optional(),
      accuracyN: z.number().int().min(1).optional(),
    })
    .optional(),
  out: z.string().min(1).optional(),
});
export type OptimizeConfigFile = z.infer<typeof optimizeConfigSchema>;

/** Read and validate the YAML file; one-line errors naming the file and the field. */
export function readOptimizeConfig(path: string): OptimizeConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"}); give the path of an optimize YAML file (see configs/optimize.example.yaml)`, { path });
  }
  let data: unknown;
  try {
    // parseDocument with logLevel "silent": the yaml package would otherwise print its warnings
    // (an unknown tag such as !!js/function) as multi-line Node process warnings; here every error
    // and warning becomes the one line below
    const doc = parseDocument(text, { logLevel: "silent" });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) {
      const what = (problem.message.split("\n")[0] ?? "").replace(/:\s*$/, "");
      throw new UsageError(
        problem.code === "TAG_RESOLVE_FAILED"
          ? `${path}: ${what.replace(/^Unresolved tag/, "unknown YAML tag")}; optimize files use plain YAML without tags (see configs/optimize.example.yaml)`
          : `${path} is not valid YAML: ${what}`,
        { path },
      );
    }
    data = doc.toJS();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`, { path });
  }
  const r = optimizeConfigSchema.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UsageError(`${path}: ${i?.path.join(".") || "(file)"}: ${i?.message ?? "invalid"} (see configs/optimize.example.yaml)`, { path });
  }
  return r.data;
}

/**
 * The file as the command's options (commander's camelCase names), leaving out what the file
 * does not set. `out` and `inputFile` are resolved against the file's directory; `inputShape`
 * and `inputValues` become the command line's `NAME=D1,D2,...` lists;
 * `dimensions.deviceTarget` / `serverTarget` become `--device-targets` / `--server-targets`
 * (comma lists); the other dimensions have no command-line form and stay grouped.
 */
export function optimizeConfigAsOptions(file: OptimizeConfigFile, fileDir: string): Record<string, unknown> {
  const { measure, constraints, inputShape, inputValues, inputFile, out, objectives, ...flat } = file;
  const o: Record<string, unknown> = { ...flat, ...measure, ...constraints };
  if (inputShape !== undefined) o.inputShape = Object.entries(inputShape).map(([k, v]) => `${k}=${v.join(",")}`);
  if (inputValues !== undefined) o.inputValues = Object.entries(inputValues).map(([k, v]) => `${k}=${(typeof v === "number" ? [v] : v).map(String).join(",")}`);
  if (inputFile !== undefined) {
    o.inputFile = (typeof inputFile === "string" ? [inputFile] : inputFile).map((f) => {
      const npy = /^(.+)=(.+\.npy)$/i.exec(f);
      return npy === null ? resolve(fileDir, f) : `${npy[1]}=${resolve(fileDir, npy[2] as string)}`;
    });
  }
  if (objectives !== undefined) o.objectives = objectives.join(",");
  if (out !== undefined) o.out = resolve(fileDir, out);
  if (file.dimensions?.deviceTarget !== undefined) o.deviceTargets = file.dimensions.deviceTarget.join(",");
  if (file.dimensions?.serverTarget !== undefined) o.serverTargets = file.dimensions.serverTarget.join(",");
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}
