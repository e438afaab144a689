/**
 * Live optimize: `--model MODEL` (defaults for whatever machine this is) or `--config FILE.yaml`
 * (full control; annotated example in configs/optimize.example.yaml). Every candidate is
 * measured by the profiler and kept in the measurement store, so a killed run restarted with the
 * same arguments replays its evaluations from the store and continues.
 */
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { softwareAdapterLabel, type Config } from "../contracts/measurement.js";
import { optimizeConfigAsOptions, readOptimizeConfig, type ObjectiveName } from "../contracts/optimizeConfig.js";
import { env } from "../env.js";
import { InterruptedError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { onInterrupt } from "../shutdown.js";
import type { GuidedSummary } from "../search/guidedSeeds.js";
import type { LiveDimensionsSpec } from "../search/liveSpace.js";
import { emitParetoDocument, LIVE_DEFAULT_BUDGET, OptimizeOptions, optimizeProgress, parseObjectives, type OptimizeCliOptions } from "./optimizeOutput.js";
import { openProfiler, ProfilerOptions, storePath, type ProfilerCliOptions } from "./profilerOptions.js";

const targetList = z
  .string()
  .min(1)
  .transform((s) => s.split(",").map((x) => x.trim()))
  .refine((l) => l.every((x) => x.length > 0), "give a comma-separated list of targets, e.g. cpu,cpu:1,webgpu");

/** Live mode's options: the search's and the profiler's, validated together. */
const LiveOptions = OptimizeOptions.extend(ProfilerOptions.shape).extend({
  network: ProfilerOptions.shape.network,
  deviceTargets: targetList.optional(),
  serverTargets: targetList.optional(),
});

interface LivePlan {
  model: string;
  profiler: ProfilerCliOptions;
  dimensions: LiveDimensionsSpec;
  objectives: ObjectiveName[];
  latencyStat: "mean" | "p95";
  constraints: { maxLatencyMs?: number; minAccuracy?: number; minThroughputPerS?: number };
  budget: number;
  seed: number;
  algorithm: OptimizeCliOptions["algorithm"];
  memetic: boolean;
  guided: boolean;
  population: number | undefined;
  out: string | undefined;
}

/**
 * The run's options: defaults < the YAML file < the command line, merged as whole option
 * objects (the file flattened to the command's option names) and validated once.
 */
function plan(raw: Record<string, unknown>, cmd: Command): LivePlan {
  const configPath = typeof raw.config === "string" ? raw.config : undefined;
  const file = configPath === undefined ? null : readOptimizeConfig(configPath);
  const fromCli = Object.fromEntries(Object.entries(raw).filter(([k]) => cmd.getOptionValueSource(k) === "cli"));
  const o = LiveOptions.parse({ ...raw, ...(file === null ? {} : optimizeConfigAsOptions(file, dirname(resolve(configPath as string)))), ...fromCli });
  const objectives = parseObjectives(o.objectives);
  const constraints = {
    ...(o.maxLatencyMs === undefined ? {} : { maxLatencyMs: o.maxLatencyMs }),
    ...(o.minAccuracy === undefined ? {} : { minAccuracy: o.minAccuracy }),
    ...(o.minThroughputPerS === undefined ? {} : { minThroughputPerS: o.minThroughputPerS }),
  };
  if (!o.accuracy && (objectives.includes("accuracy") || constraints.minAccuracy !== undefined)) {
    throw new UsageError("accuracy is an objective or a constraint, so it must be measured: drop --no-accuracy (or measure.accuracy: false)");
  }
  if (o.model === undefined) throw new UsageError("give --model MODEL or a config file with model:");
  return {
    model: o.model,
    profiler: ProfilerOptions.parse(o),
    // the file's dimensions, with the target lists as merged above (the command line wins)
    dimensions: {
      ...(file?.dimensions ?? {}),
      ...(o.deviceTargets === undefined ? {} : { deviceTarget: o.deviceTargets }),
      ...(o.serverTargets === undefined ? {} : { serverTarget: o.serverTargets }),
    },
    objectives,
    latencyStat: o.latencyStat,
    constraints,
    budget: o.budget ?? LIVE_DEFAULT_BUDGET,
    seed: o.seed,
    algorithm: o.algorithm,
    memetic: o.memetic,
    guided: o.guided,
    population: o.population,
    out: o.out,
  };
}

/**
 * Run a live search. A signal (Ctrl-C, SIGTERM; src/shutdown.ts) aborts the search: the front so
 * far is written like a finished one, the run ends with an InterruptedError that says how to
 * continue, and the profiler's close (server child, emulated link, CPU frequency) follows.
 */
export async function runLiveOptimize(o: OptimizeCliOptions, raw: Record<string, unknown>, cmd: Command): Promise<void> {
  const p = plan(raw, cmd);
  if (p.out !== undefined) outputDir(dirname(p.out), "out (the pareto file)");
  // targets asked for that this machine cannot run are refused first, in one line (before the model is built or a server started)
  const [{ parseExecutionTarget }, { ensureTargetAvailable }] = await Promise.all([import("../runtime/executionTarget.js"), import("../runtime/targetAvailability.js")]);
  for (const t of p.dimensions.deviceTarget ?? []) await ensureTargetAvailable(parseExecutionTarget(t, "device"), "device");
  if (p.profiler.server === undefined) for (const t of p.dimensions.serverTarget ?? []) await ensureTargetAvailable(parseExecutionTarget(t, "server"), "server");
  const progress = optimizeProgress({ mode: "live" });
  const tty = process.stderr.isTTY === true && !env().ci;
  const controller = new AbortController();
  const removeInterrupt = onInterrupt((signal) =>
    controller.abort(new InterruptedError(signal, `interrupted by ${signal}: the measurements so far are in the store; run the same command again to continue`)),
  );
  let opened: Awaited<ReturnType<typeof openProfiler>>;
  try {
    opened = await openProfiler(p.model, p.profiler, tty ? () => {} : undefined);
  } catch (err) {
    removeInterrupt();
    throw err;
  }
  const { profiler, warnings } = opened;
  for (const w of warnings) process.stderr.write(`splitwatt: warning: measurement store ${w}\n`);
  const elsewhere = profiler.otherTestbedNote();
  if (elsewhere !== null) process.stderr.write(`note: ${elsewhere}\n`);
  try {
    controller.signal.throwIfAborted();
    const [{ liveSpace }, { optimize }, { paretoDocument }] = await Promise.all([import("../search/liveSpace.js"), import("../search/optimize.js"), import("../search/paretoDocument.js")]);
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
    // points measured on a software GPU adapter (lavapipe, SwiftShader) say so in the file's notes too
    const softwareNotes = [...new Set(result.evaluated.map((e) => softwareAdapterLabel(e.result.entry?.adapter)).filter((l): l is string => l !== null))];
    const doc = paretoDocument(result, {
      mode: "live",
      source: {
        host: profiler.hostName,
        modelSha256: profiler.analysis.model.sha256,
        store: resolve(storePath(p.profiler)),
        server: p.profiler.server ?? "local splitwatt serve child",
        link: profiler.linkDescription,
        testbed: profiler.testbed,
        serverEnergy: p.profiler.serverEnergy,
        deviceEnergy: profiler.deviceEnergyLabel,
        notes: [...profiler.notes, ...softwareNotes],
        ...(guided === null ? {} : { guided }),
      },
      model: p.model,
      network: p.profiler.network === "none" ? null : p.profiler.network,
      space: live.space,
    });
    const safe = p.model.replace(/[^A-Za-z0-9_.-]+/g, "_");
    const out = p.out ?? (o.json ? undefined : `${safe}.pareto.json`);
    await emitParetoDocument(doc, { out: p.out, json: o.json }, `${safe}.pareto.json`);
    const reason = controller.signal.reason as unknown;
    if (result.aborted && reason instanceof InterruptedError) {
      throw new InterruptedError(
        reason.signal,
        `interrupted by ${reason.signal} after ${result.evaluations} evaluations: the front so far is ${out === undefined ? "on standard output" : `in ${resolve(out)}`}, every measurement in the store; run the same command again to continue`,
      );
    }
  } finally {
    removeInterrupt();
    await profiler.close();
  }
}

