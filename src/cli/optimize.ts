import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, dirname, extname, resolve } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { env } from "../env.js";
import { MalformedError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import type { ObjectiveName, OptimizeProgress } from "../search/optimize.js";
import type { ParetoFile } from "../search/paretoFile.js";
import { addProfilerOptions } from "./profilerOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

/** Live runs measure for real: a small default budget that finishes in minutes. */
export const LIVE_DEFAULT_BUDGET = 24;

export const OptimizeOptions = z.object({
  replay: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  config: z.string().min(1).optional(),
  network: z.string().min(1).optional(),
  budget: cliNumber(z.number().int("--budget takes a whole number of evaluations").positive()).optional(),
  seed: cliNumber(z.number().int("--seed takes a whole number").min(0).max(0xffffffff)).default(1),
  algorithm: z.enum(["nsga2", "nsga3", "random", "exhaustive"], { error: "use nsga2, nsga3, random or exhaustive" }).default("nsga3"),
  memetic: z.boolean().default(true),
  guided: z.boolean().default(false),
  objectives: z.string().default("latency,energy"),
  latencyStat: z.enum(["mean", "p95"], { error: "use mean or p95" }).default("mean"),
  maxLatencyMs: cliNumber(z.number().positive()).optional(),
  minAccuracy: cliNumber(z.number().min(0).max(1, "--min-accuracy is a fraction in [0, 1], e.g. 0.6")).optional(),
  population: cliNumber(z.number().int().min(2)).optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
});
export type OptimizeCliOptions = z.infer<typeof OptimizeOptions>;

const OBJECTIVE_NAMES: readonly string[] = ["latency", "energy", "accuracy"];

/** `--objectives latency,energy[,accuracy]` as a list, checked. */
export function parseObjectives(spec: string): ObjectiveName[] {
  const list = spec.split(",").map((s) => s.trim());
  for (const o of list) {
    if (!OBJECTIVE_NAMES.includes(o)) throw new UsageError(`--objectives: unknown objective "${o}"; use a comma-separated list of latency, energy, accuracy`);
  }
  if (new Set(list).size !== list.length) throw new UsageError(`--objectives: "${spec}" lists an objective twice; list each once`);
  return list as ObjectiveName[];
}

const seconds = (ms: number): string => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

/**
 * Progress of an optimize run on stderr: on a TTY one line rewritten in place (evaluations /
 * budget with a bar, cached vs measured, hypervolume, ETA); otherwise (or with CI=true) a plain
 * line at every 10% of the budget and at least every 5 s.
 */
export function optimizeProgress(opts: { stream?: NodeJS.WriteStream; tty?: boolean; mode?: "replay" | "live" } = {}): { update(p: OptimizeProgress): void; done(): void } {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? (stream.isTTY === true && !env().ci);
  let last: OptimizeProgress | null = null;
  let lastWrite = -Infinity;
  let lastDecile = -1;
  const line = (p: OptimizeProgress): string => {
    const remaining = p.budget - p.evaluations;
    const eta = p.evaluations > 0 && remaining > 0 ? `, ETA ${seconds((p.elapsedMs / p.evaluations) * remaining)}` : "";
    const split = opts.mode === "replay" ? `${p.unevaluable} not in the pool` : `${p.cached} cached, ${p.measured} measured, ${p.unevaluable} unevaluable`;
    return `optimize: ${p.evaluations}/${p.budget} evaluations (${split}), hypervolume ${p.hypervolume.toFixed(4)}, ${seconds(p.elapsedMs)}${eta}`;
  };
  return {
    update(p) {
      last = p;
      const now = performance.now();
      if (tty) {
        if (now - lastWrite < 100) return;
        lastWrite = now;
        const width = 20;
        const filled = Math.round((width * p.evaluations) / p.budget);
        stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${line(p)}\x1b[K`);
        return;
      }
      const decile = Math.floor((10 * p.evaluations) / p.budget);
      if (decile > lastDecile || now - lastWrite >= 5000) {
        lastDecile = decile;
        lastWrite = now;
        stream.write(`${line(p)}\n`);
      }
    },
    done() {
      if (tty && last !== null) stream.write(`\r${line(last)}\x1b[K\n`);
    },
  };
}

/** Write the document to `--out` (default `defaultOut` unless `--json`), print it with `--json`, else a summary. */
export async function emitParetoDocument(doc: ParetoFile, o: Pick<OptimizeCliOptions, "out" | "json">, defaultOut: string): Promise<void> {
  const { writeParetoFile } = await import("../search/paretoFile.js");
  const out = o.out ?? (o.json ? undefined : defaultOut);
  if (out !== undefined) writeParetoFile(resolve(out), doc);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const lines: string[] = [];
  const source = typeof doc.source.pool === "string" ? `replay of ${doc.source.pool}` : doc.mode;
  lines.push(
    `${doc.model} (${source}): ${doc.algorithm}${doc.memetic ? " + memetic local search" : ""}, seed ${doc.seed}, objectives ${doc.objectives.join(", ")}` +
      `${doc.latencyStat === "p95" ? " (latency p95)" : ""}`,
  );
  lines.push(
    `${doc.evaluations} evaluations of a budget of ${doc.budget}` +
      `${doc.space.validConfigurations === null ? "" : ` (valid space ${doc.space.validConfigurations})`}` +
      `${doc.unevaluable > 0 ? `, ${doc.unevaluable} configurations not in the pool skipped` : ""}` +
      `${doc.cachedEvaluations > 0 ? `, ${doc.cachedEvaluations} from the measurement cache` : ""}` +
      `; hypervolume ${doc.hypervolume.toFixed(4)} (normalised, reference 1.1)`,
  );
  lines.push("", `Pareto front (${doc.front.length}):`, "  latency ms   p95 ms    energy J  accuracy  config");
  const num = (x: number | null, d: number) => (x === null ? "-" : x.toFixed(d));
  for (const f of doc.front) {
    const cfg = doc.space.dimensions.map((d) => `${d.name}=${String(f.config[d.name])}`).join(" ");
    lines.push(`  ${num(f.latencyMs, 1).padStart(10)}  ${num(f.latency.p95, 1).padStart(7)}  ${num(f.energyJ, 3).padStart(10)}  ${num(f.accuracy, 3).padStart(8)}  ${cfg}`);
  }
  if (doc.front.length === 0) lines.push("  (none: no evaluated configuration meets the constraints; relax --max-latency-ms or --min-accuracy)");
  if (out !== undefined) lines.push("", `wrote ${resolve(out)}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function runReplayOptimize(o: OptimizeCliOptions, poolPath: string): Promise<void> {
  const objectives = parseObjectives(o.objectives);
  if (o.guided) throw new UsageError("--guided profiles the model on this machine: it is for live mode (--model or --config), not --replay");
  let text: string;
  try {
    text = readFileSync(poolPath, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`cannot read pool ${poolPath} (${code}); give the path of a measured pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
  }
  const [{ importDynasplitCsv }, { poolEvaluator }, { optimize }, { paretoDocument }] = await Promise.all([
    import("../measure/dynasplitCsv.js"),
    import("../replay/poolEvaluator.js"),
    import("../search/optimize.js"),
    import("../search/paretoFile.js"),
  ]);
  const sha256 = createHash("sha256").update(text).digest("hex");
  const model = basename(poolPath, extname(poolPath)) || "pool";
  let pool: ReturnType<typeof importDynasplitCsv>;
  try {
    pool = importDynasplitCsv(text, { model: { name: model, sha256 }, host: { name: "replay" }, fileName: poolPath });
  } catch (e) {
    // the pool is the user's file: a malformed one is a user error (exit 2)
    if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the file or give a pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
    throw e;
  }
  let replay: ReturnType<typeof poolEvaluator>;
  try {
    replay = poolEvaluator(pool);
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
    constraints: { maxLatencyMs: o.maxLatencyMs, minAccuracy: o.minAccuracy },
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
    .option("--network <name>", "network profile (live: default wifi-20mbps, or none; replay: recorded only, the pool's transfer times are used)")
    .option("--budget <n>", `unique completed evaluations (default: replay 20% of the valid space, live ${LIVE_DEFAULT_BUDGET})`)
    .option("--seed <s>", "seed of the search; the same seed gives the same run", "1")
    .option("--algorithm <name>", "nsga2, nsga3, random or exhaustive (a space no larger than the budget is always searched exhaustively)", "nsga3")
    .option("--no-memetic", "NSGA without the Pareto-local-search step")
    .option("--guided", "live: profile-guided search: predict every configuration from per-node timings and the anchors, measure the predicted front first")
    .option("--objectives <list>", "comma-separated: latency, energy, accuracy", "latency,energy")
    .option("--latency-stat <stat>", "latency objective and --max-latency-ms: mean or p95", "mean")
    .option("--max-latency-ms <ms>", "constraint on the latency statistic")
    .option("--min-accuracy <fraction>", "constraint on top-1 accuracy, e.g. 0.6")
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
