import { dirname, resolve } from "node:path";
import { Command } from "commander";
import { MalformedError, UsageError } from "../errors.js";
import { emitParetoDocument, LIVE_DEFAULT_BUDGET, OptimizeOptions, optimizeProgress, parseObjectives, type OptimizeCliOptions } from "./optimizeOutput.js";
import { outputDir } from "../outputDir.js";
import { addProfilerOptions } from "./profilerOptions.js";
import { run } from "./run.js";

async function runReplayOptimize(o: OptimizeCliOptions, poolPath: string): Promise<void> {
  const objectives = parseObjectives(o.objectives);
  if (o.guided) throw new UsageError("--guided profiles the model on this machine: it is for live mode (--model or --config), not --replay");
  if (o.deviceTargets !== undefined || o.serverTargets !== undefined) {
    throw new UsageError("--device-targets and --server-targets choose live targets: in --replay the pool's edge-accelerator and server-accelerator columns are the targets");
  }
  const [{ readDynasplitPool }, { poolEvaluator }, { optimize }, { paretoDocument }] = await Promise.all([
    import("../contracts/dynasplitCsv.js"),
    import("../search/poolEvaluator.js"),
    import("../search/optimize.js"),
    import("../search/paretoDocument.js"),
  ]);
  const { pool, sha256, model } = readDynasplitPool(poolPath);
  let replay: ReturnType<typeof poolEvaluator>;
  try {
    replay = poolEvaluator(pool, { conditions: { network: o.network ?? null } });
  } catch (e) {
    if (e instanceof MalformedError || e instanceof UsageError) throw new UsageError(`pool ${poolPath}: ${e.message}`, { path: poolPath, cause: e });
    throw e;
  }
  if (!replay.hasAccuracy && (objectives.includes("accuracy") || o.minAccuracy !== undefined)) {
    throw new UsageError(`pool ${poolPath} has no accuracy for every configuration; drop accuracy from --objectives and --min-accuracy`);
  }
  if (o.network !== undefined) {
    process.stderr.write(`splitwatt: warning: replay uses the transfer times measured in the pool; --network ${o.network} is recorded in the output but changes nothing\n`);
  }
  const validSize = replay.space.countValid();
  // DynaSplit's budget: 20% of the valid space
  const budget = o.budget ?? Math.max(1, Math.ceil(0.2 * validSize));
  const progress = optimizeProgress({ mode: "replay" });
  const result = await optimize({
    space: replay.space,
    evaluate: replay.evaluate,
    objectives,
    latencyStat: o.latencyStat,
    constraints: { maxLatencyMs: o.maxLatencyMs, minAccuracy: o.minAccuracy, ...(o.minThroughputPerS === undefined ? {} : { minThroughputPerS: o.minThroughputPerS }) },
    budget,
    seed: o.seed,
    algorithm: o.algorithm,
    memetic: o.memetic,
    populationSize: o.population,
    anchors: replay.anchors,
    onProgress: (p) => progress.update(p),
  });
  progress.done();
  const doc = paretoDocument(result, {
    mode: "replay",
    source: { pool: resolve(poolPath), sha256, runs: replay.runs, configurations: replay.answers.size },
    model,
    network: o.network ?? null,
    space: replay.space,
  });
  await emitParetoDocument(doc, o, `${model}.pareto.json`);
}

export function optimizeCommand(): Command {
  const c = new Command("optimize")
    .description("multi-objective search (NSGA-II/III + local search) for the Pareto set of latency, energy and accuracy")
    .option("--replay <pool.csv>", "replay mode: answer every configuration from a measured pool (DynaSplit's CSV format)")
    .option("--model <model>", "live mode: measure every candidate of MODEL on this machine (a path, zoo name or paddle:cls)")
    .option("--config <file.yaml>", "live mode with full control from a YAML file (see configs/optimize.example.yaml)")
    .option("--device-targets <list>", "live: device targets to search, comma-separated (default: what this machine runs: cpu, cpu:N and webgpu when it has a WebGPU adapter)")
    .option("--server-targets <list>", "live: server targets to search (default: the local server's, as --device-targets; with --server, what that server runs)")
    .option("--network <name>", "network profile (live: default wifi-20mbps, or none; replay: recorded only, the pool's transfer times are used)")
    .option("--budget <n>", `unique completed evaluations (default: replay 20% of the valid space, live ${LIVE_DEFAULT_BUDGET})`)
    .option("--seed <s>", "seed of the search; the same seed gives the same run", "1")
    .option("--algorithm <name>", "nsga2, nsga3, random or exhaustive (a space no larger than the budget is always searched exhaustively)", "nsga3")
    .option("--no-memetic", "NSGA without the Pareto-local-search step")
    .option("--guided", "live: profile-guided search: predict every configuration from per-node timings and the anchors, measure the predicted front first")
    .option("--objectives <list>", "comma-separated: latency, energy, accuracy, throughput (items/s, maximised)", "latency,energy")
    .option("--latency-stat <stat>", "latency objective and --max-latency-ms: mean or p95", "mean")
    .option("--max-latency-ms <ms>", "constraint on the latency statistic")
    .option("--min-accuracy <fraction>", "constraint on top-1 accuracy, e.g. 0.6")
    .option("--min-throughput-per-s <n>", "constraint on throughput, items/s (a target rate)")
    .option("--population <n>", "population size (default max(40, anchors + 10))")
    .option("--out <file.pareto.json>", "where to write the Pareto set (default <pool name>.pareto.json unless --json)")
    .option("--json", "print the Pareto set document to stdout");
  // live mode measures: the profiler's options, with a shorter time cap per configuration than measure's
  return addProfilerOptions(c, { maxSeconds: 10 }).action(
    run(async (raw: Record<string, unknown>, cmd: Command) => {
      const o = OptimizeOptions.parse(raw);
      const modes = [o.replay, o.model ?? o.config].filter((x) => x !== undefined).length;
      if (modes !== 1) throw new UsageError("give exactly one of --replay POOL.csv, --model MODEL or --config FILE.yaml");
      parseObjectives(o.objectives);
      // the output directory is checked before the search, not after it
      if (o.out !== undefined) outputDir(dirname(resolve(o.out)), "--out");
      if (o.replay !== undefined) await runReplayOptimize(o, o.replay);
      else {
        const { runLiveOptimize } = await import("./optimizeLive.js");
        await runLiveOptimize(o, raw, cmd);
      }
    }),
  );
}
