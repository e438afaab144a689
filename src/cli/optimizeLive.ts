/**
 * Live optimize: `--model MODEL` (defaults for whatever machine this is) or `--config FILE.yaml`
 * (full control; annotated example in configs/optimize.example.yaml). Every candidate is
 * measured by the profiler and kept in the measurement store, so a killed run restarted with the
 * same arguments replays its evaluations from the store and continues.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { parseDocument } from "yaml";
import { z } from "zod";
import { env } from "../env.js";
import { UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import type { Config } from "../measure/measurement.js";
import type { GuidedSummary } from "../search/guidedSeeds.js";
import type { LiveDimensionsSpec } from "../search/liveSpace.js";
import type { ObjectiveName } from "../search/optimize.js";
import { emitParetoDocument, LIVE_DEFAULT_BUDGET, optimizeProgress, parseObjectives, type OptimizeCliOptions } from "./optimize.js";
import { openProfiler, ProfilerOptions, storePath, type ProfilerCliOptions } from "./profilerOptions.js";

const stringList = z.union([z.string().min(1).transform((s) => s.split(",").map((x) => x.trim())), z.array(z.string().min(1)).min(1)]);

/** The YAML file (see configs/optimize.example.yaml). */
export const OptimizeConfigFile = z.strictObject({
  model: z.string().min(1),
  inputShape: z.record(z.string(), z.array(z.number().int().positive())).optional(),
  inputSize: z.number().int().positive().optional(),
  server: z.url().optional(),
  serverModel: z.string().min(1).optional(),
  network: z.string().min(1).optional(),
  link: z.enum(["auto", "kernel", "app", "none"]).optional(),
  board: z.string().min(1).optional(),
  serverBoard: z.string().min(1).optional(),
  serverEnergy: z.enum(["marginal", "node"]).optional(),
  store: z.string().min(1).optional(),
  dimensions: z
    .strictObject({
      split: z.union([z.enum(["all", "bottlenecks"]), z.array(z.number().int().min(0)).min(2)]).optional(),
      cpuFreqMHz: z.union([z.literal("all"), z.array(z.number().positive()).min(1)]).optional(),
      deviceTarget: stringList.optional(),
      serverTarget: stringList.optional(),
      codec: stringList.optional(),
    })
    .optional(),
  objectives: stringList.optional(),
  latencyStat: z.enum(["mean", "p95"]).optional(),
  constraints: z.strictObject({ maxLatencyMs: z.number().positive().optional(), minAccuracy: z.number().min(0).max(1).optional() }).optional(),
  budget: z.number().int().positive().optional(),
  seed: z.number().int().min(0).max(0xffffffff).optional(),
  algorithm: z.enum(["nsga2", "nsga3", "random", "exhaustive"]).optional(),
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
export type OptimizeConfigFile = z.infer<typeof OptimizeConfigFile>;

/** Read and validate the YAML file; one-line errors naming the file and the field. */
export function readOptimizeConfig(path: string): OptimizeConfigFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"}); give the path of an optimize YAML file (see configs/optimize.example.yaml)`, { path });
  }
  // parseDocument with logLevel "silent": the yaml package would otherwise print its warnings
  // (an unknown tag such as !!js/function) as multi-line Node process warnings; here every error
  // and warning becomes the one line below
  let data: unknown;
  try {
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
  const r = OptimizeConfigFile.safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new UsageError(`${path}: ${i?.path.join(".") || "(file)"}: ${i?.message ?? "invalid"} (see configs/optimize.example.yaml)`, { path });
  }
  return r.data;
}

interface LivePlan {
  model: string;
  profiler: ProfilerCliOptions;
  dimensions: LiveDimensionsSpec;
  objectives: ObjectiveName[];
  latencyStat: "mean" | "p95";
  constraints: { maxLatencyMs?: number; minAccuracy?: number };
  budget: number;
  seed: number;
  algorithm: "nsga2" | "nsga3" | "random" | "exhaustive";
  memetic: boolean;
  guided: boolean;
  population: number | undefined;
  out: string | undefined;
}

/** Options given on the command line win over the file; the file wins over defaults. */
function plan(o: OptimizeCliOptions, raw: Record<string, unknown>, cmd: Command): LivePlan {
  const given = (name: string): boolean => cmd.getOptionValueSource(name) === "cli";
  const file = o.config === undefined ? null : readOptimizeConfig(o.config);
  const pick = <T>(name: string, cli: T, fromFile: T | undefined): T => (given(name) || fromFile === undefined ? cli : fromFile);
  const m = file?.measure ?? {};
  const profiler = ProfilerOptions.parse({
    ...raw,
    network: pick("network", o.network ?? "wifi-20mbps", file?.network),
    ...(file === null
      ? {}
      : {
          inputShape: given("inputShape") ? raw.inputShape : Object.entries(file.inputShape ?? {}).map(([k, v]) => `${k}=${v.join(",")}`),
          inputSize: pick("inputSize", raw.inputSize, file.inputSize),
          server: pick("server", raw.server, file.server),
          serverModel: pick("serverModel", raw.serverModel, file.serverModel),
          link: pick("link", raw.link, file.link),
          board: pick("board", raw.board, file.board),
          serverBoard: pick("serverBoard", raw.serverBoard, file.serverBoard),
          serverEnergy: pick("serverEnergy", raw.serverEnergy, file.serverEnergy),
          store: pick("store", raw.store, file.store),
          accuracy: pick("accuracy", raw.accuracy, m.accuracy),
          accuracyN: pick("accuracyN", raw.accuracyN, m.accuracyN),
          ci: pick("ci", raw.ci, m.ci),
          minRuns: pick("minRuns", raw.minRuns, m.minRuns),
          maxRuns: pick("maxRuns", raw.maxRuns, m.maxRuns),
          maxSeconds: pick("maxSeconds", raw.maxSeconds, m.maxSeconds),
          warmUp: pick("warmUp", raw.warmUp, m.warmUp),
          idleMs: pick("idleMs", raw.idleMs, m.idleMs),
        }),
  });
  const objectives = file?.objectives !== undefined && !given("objectives") ? parseObjectives(file.objectives.join(",")) : parseObjectives(o.objectives);
  const constraints = {
    ...(pick("maxLatencyMs", o.maxLatencyMs, file?.constraints?.maxLatencyMs) === undefined ? {} : { maxLatencyMs: pick("maxLatencyMs", o.maxLatencyMs, file?.constraints?.maxLatencyMs) as number }),
    ...(pick("minAccuracy", o.minAccuracy, file?.constraints?.minAccuracy) === undefined ? {} : { minAccuracy: pick("minAccuracy", o.minAccuracy, file?.constraints?.minAccuracy) as number }),
  };
  if (!profiler.accuracy && (objectives.includes("accuracy") || constraints.minAccuracy !== undefined)) {
    throw new UsageError("accuracy is an objective or a constraint, so it must be measured: drop --no-accuracy (or measure.accuracy: false)");
  }
  const model = o.model ?? file?.model;
  if (model === undefined) throw new UsageError("give --model MODEL or a config file with model:");
  return {
    model,
    profiler,
    dimensions: file?.dimensions ?? {},
    objectives,
    latencyStat: pick("latencyStat", o.latencyStat, file?.latencyStat),
    constraints,
    budget: o.budget ?? file?.budget ?? LIVE_DEFAULT_BUDGET,
    seed: pick("seed", o.seed, file?.seed),
    algorithm: pick("algorithm", o.algorithm, file?.algorithm),
    memetic: pick("memetic", o.memetic, file?.memetic),
    guided: pick("guided", o.guided, file?.guided),
    population: o.population ?? file?.population,
    out: o.out ?? (file?.out === undefined || o.config === undefined ? undefined : resolve(o.config, "..", file.out)),
  };
}

export async function runLiveOptimize(o: OptimizeCliOptions, raw: Record<string, unknown>, cmd: Command): Promise<void> {
  const p = plan(o, raw, cmd);
  if (p.out !== undefined) outputDir(dirname(p.out), "out (the pareto file)");
  const progress = optimizeProgress({ mode: "live" });
  const tty = process.stderr.isTTY === true && !env().ci;
  const { profiler, warnings } = await openProfiler(p.model, p.profiler, tty ? () => {} : undefined);
  for (const w of warnings) process.stderr.write(`splitwatt: warning: measurement store ${w}\n`);
  const controller = new AbortController();
  const onSignal = (): void => controller.abort(new UsageError("interrupted: the measurements so far are in the store; run the same command again to continue"));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const [{ liveSpace }, { optimize }, { paretoDocument }] = await Promise.all([import("../search/liveSpace.js"), import("../search/optimize.js"), import("../search/paretoFile.js")]);
    const live = await liveSpace(profiler, p.dimensions);
    for (const n of profiler.notes) process.stderr.write(`note: ${n}\n`);
    let anchors: typeof live.anchors | Config[] = live.anchors;
    let guided: GuidedSummary | null = null;
    if (p.guided) {
      const { guidedSeeds } = await import("../search/guidedSeeds.js");
      const { networkProfile } = await import("../transport/networkProfile.js");
      const rttMs = p.profiler.network === "none" ? 0 : networkProfile(p.profiler.network).rttMs;
      const g = await guidedSeeds(profiler, live, rttMs, controller.signal);
      process.stderr.write(
        `guided: ${g.summary.nodeProfiles} node profile(s) in ${(g.summary.profiledMs / 1000).toFixed(1)} s; ${g.summary.predicted} configurations predicted; the predicted front (${g.summary.seeds} beyond the anchors) is measured first\n`,
      );
      anchors = g.configs;
      guided = g.summary;
    }
    const result = await optimize({
      space: live.space,
      evaluate: live.evaluate,
      objectives: p.objectives,
      latencyStat: p.latencyStat,
      constraints: p.constraints,
      budget: p.budget,
      seed: p.seed,
      algorithm: p.algorithm,
      memetic: p.memetic,
      populationSize: p.population,
      anchors,
      onProgress: (x) => progress.update(x),
      signal: controller.signal,
    });
    progress.done();
    const doc = paretoDocument(result, {
      mode: "live",
      source: {
        host: profiler.hostName,
        modelSha256: profiler.analysis.model.sha256,
        store: resolve(storePath(p.profiler)),
        server: p.profiler.server ?? "local splitwatt serve child",
        link: profiler.linkDescription,
        serverEnergy: p.profiler.serverEnergy,
        notes: profiler.notes,
        ...(guided === null ? {} : { guided }),
      },
      model: p.model,
      network: p.profiler.network === "none" ? null : p.profiler.network,
      space: live.space,
    });
    const safe = p.model.replace(/[^A-Za-z0-9_.-]+/g, "_");
    await emitParetoDocument(doc, { out: p.out, json: o.json }, `${safe}.pareto.json`);
    if (result.aborted) throw new UsageError(`interrupted after ${result.evaluations} evaluations: they are in the store; run the same command again to continue`);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    await profiler.close();
  }
}

