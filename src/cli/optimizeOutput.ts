/**
 * What both optimize modes share: the command's options, the objectives list, progress on
 * stderr and the output (the pareto file and its summary).
 */
import { resolve } from "node:path";
import { z } from "zod";
import { OBJECTIVES, USER_ALGORITHMS, type ObjectiveName } from "../contracts/optimizeConfig.js";
import { onSoftwareAdapter, softwareAdapterLabel } from "../contracts/measurement.js";
import type { ParetoFile } from "../contracts/paretoFile.js";
import { env } from "../env.js";
import { UsageError } from "../errors.js";
import type { OptimizeProgress } from "../search/optimize.js";
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
  algorithm: z.enum(USER_ALGORITHMS, { error: "use nsga2, nsga3, random or exhaustive" }).default("nsga3"),
  memetic: z.boolean().default(true),
  guided: z.boolean().default(false),
  objectives: z.string().default("latency,energy"),
  latencyStat: z.enum(["mean", "p95"], { error: "use mean or p95" }).default("mean"),
  maxLatencyMs: cliNumber(z.number().positive()).optional(),
  minAccuracy: cliNumber(z.number().min(0).max(1, "--min-accuracy is a fraction in [0, 1], e.g. 0.6")).optional(),
  minThroughputPerS: cliNumber(z.number().positive()).optional(),
  population: cliNumber(z.number().int().min(2)).optional(),
  /** live only (optimizeLive.ts parses the lists) */
  deviceTargets: z.string().optional(),
  serverTargets: z.string().optional(),
  out: z.string().min(1).optional(),
  json: z.boolean().default(false),
});
export type OptimizeCliOptions = z.infer<typeof OptimizeOptions>;

const OBJECTIVE_NAMES: readonly string[] = OBJECTIVES;

/** `--objectives latency,energy[,accuracy|throughput]` as a list, checked. */
export function parseObjectives(spec: string): ObjectiveName[] {
  const list = spec.split(",").map((s) => s.trim());
  for (const o of list) {
    if (!OBJECTIVE_NAMES.includes(o)) throw new UsageError(`--objectives: unknown objective "${o}"; use a comma-separated list of latency, energy, accuracy, throughput`);
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
  const { writeParetoFile } = await import("../contracts/paretoFile.js");
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
  lines.push("", `Pareto front (${doc.front.length}):`, "  latency ms   p95 ms    energy J  accuracy   items/s  config");
  const num = (x: number | null | undefined, d: number) => (x === null || x === undefined ? "-" : x.toFixed(d));
  const software = new Set<string>();
  for (const f of doc.front) {
    const cfg = doc.space.dimensions.map((d) => `${d.name}=${String(f.config[d.name])}`).join(" ");
    // a point on a software adapter is never shown as an accelerator figure
    const label = softwareAdapterLabel(f.adapter);
    if (label !== null) software.add(label);
    lines.push(
      `  ${num(f.latencyMs, 1).padStart(10)}  ${num(f.latency.p95, 1).padStart(7)}  ${num(f.energyJ.total, 3).padStart(10)}  ${num(f.accuracy?.value, 3).padStart(8)}  ${num(f.throughputPerS, 1).padStart(8)}  ${cfg}${label === null ? "" : "  [software GPU]"}`,
    );
  }
  if (doc.front.length === 0) lines.push("  (none: no evaluated configuration meets the constraints; relax --max-latency-ms, --min-accuracy or --min-throughput-per-s)");
  const archived = doc.archive.filter((e) => onSoftwareAdapter(e.adapter)).length;
  if (archived > 0) {
    for (const l of software) lines.push(`  [software GPU] ${l}`);
    lines.push(`${archived} of ${doc.archive.length} evaluated configurations ran on a software GPU adapter: their figures are not accelerator figures`);
  }
  if (out !== undefined) lines.push("", `wrote ${resolve(out)}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

