/**
 * `splitwatt bench --reproduce dynasplit --data DIR`: DynaSplit's (May et al., 2024) VGG16 and
 * ViT pools replayed with their 50- and 10,000-request deadline traces, our figures next to
 * their published ones.
 *
 * Per model: the front is what `optimize --replay` finds within DynaSplit's budget (20% of the
 * valid space: 184 VGG16, 55 ViT evaluations; one front per --seeds value), plus the pool's
 * exhaustive front for their rule. Strategies, as DynaSplit defined its baselines:
 *   cloud-only          layer 0, cpu-freq 1800, edge accelerator off, server GPU (their "cloud")
 *   edge-only           the last layer, cpu-freq 1800, edge accelerator max (ViT: off), no GPU (their "edge")
 *   static-fastest      the front's fastest (their "latency")
 *   static-min-energy   the front's lowest energy (their "energy")
 *   dynasplit           their online rule over the front (their "splinter:latency")
 *   dynasplit (exhaustive front)
 *   splitwatt           our policy over the archive, as `bench --replay` runs it on a front from
 *                       the same pool: the archive's samples are the replay's whole distribution,
 *                       so P is their empirical share (--min-samples 1)
 *   splitwatt, guarded  the same with the daemon's small-sample guard (the policy's defaults)
 * Published figures: the testbed's 50 requests from their experiment_progress_<model>.csv (when
 * DIR has them: mean energy and deadlines met per strategy), and their 10,000-request
 * simulation (README of the data / the paper: DynaSplit 513 missed on VGG16, 1371 on ViT;
 * cloud-only 114 on VGG16).
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeFileAtomic } from "../contracts/benchResults.js";
import { parseCsv, readDynasplitPool } from "../contracts/dynasplitCsv.js";
import type { ParetoFile } from "../contracts/paretoFile.js";
import { UsageError } from "../errors.js";
import { PoolRuns } from "../replay/poolRuns.js";
import { optimize } from "../search/optimize.js";
import { paretoDocument } from "../search/paretoDocument.js";
import { poolEvaluator } from "../search/poolEvaluator.js";
import type { BenchCliOptions } from "./benchOptions.js";
import { replayBench, type StrategySpec } from "./benchReplayRun.js";

export const DYNASPLIT_MODELS = ["vgg16", "vit"] as const;
const TRACES = [
  { n: 50, file: "network_latency_50_samples.csv" },
  { n: 10_000, file: "network_latency_10000_samples.csv" },
] as const;

/** Their published 10,000-request simulation figures (missed deadlines). */
export const PUBLISHED_SIMULATION: Record<string, Record<string, number>> = {
  vgg16: { dynasplit: 513, "cloud-only": 114 },
  vit: { dynasplit: 1371 },
};

/** Their testbed strategies' names -> ours. */
const TESTBED_NAMES: Record<string, string> = { cloud: "cloud-only", edge: "edge-only", latency: "static-fastest", energy: "static-min-energy", "splinter:latency": "dynasplit" };

/** Their testbed results (experiment_progress_<model>.csv): per strategy, mean energy and deadlines met. */
export function testbedFigures(text: string): Map<string, { energyJ: number; met: number; requests: number }> {
  const rows = parseCsv(text, "experiment_progress");
  const header = rows[0]?.fields ?? [];
  const col = (n: string) => header.indexOf(n);
  const [ie, il, iq, is] = [col("energy"), col("latency"), col("qos"), col("strategy")];
  if ([ie, il, iq, is].some((i) => i < 0)) throw new UsageError("experiment_progress file lacks energy, latency, qos or strategy columns; give DynaSplit's file unchanged");
  const acc = new Map<string, { e: number; met: number; n: number }>();
  for (const r of rows.slice(1)) {
    if (r.fields.length < header.length) continue;
    const name = TESTBED_NAMES[r.fields[is] as string];
    if (name === undefined) continue;
    const a = acc.get(name) ?? { e: 0, met: 0, n: 0 };
    a.e += Number(r.fields[ie]);
    a.met += Number(r.fields[il]) <= Number(r.fields[iq]) ? 1 : 0;
    a.n++;
    acc.set(name, a);
  }
  return new Map([...acc].map(([k, a]) => [k, { energyJ: a.e / a.n, met: a.met, requests: a.n }]));
}

async function front(pool: ReturnType<typeof readDynasplitPool>, poolPath: string, model: string, seed: number, exhaustive: boolean): Promise<ParetoFile> {
  const replay = poolEvaluator(pool.pool, { conditions: { network: null } });
  const valid = replay.space.countValid();
  const result = await optimize({
    space: replay.space,
    evaluate: replay.evaluate,
    objectives: ["latency", "energy"],
    budget: exhaustive ? valid : Math.max(1, Math.ceil(0.2 * valid)),
    seed,
    algorithm: exhaustive ? "exhaustive" : "nsga3",
    memetic: true,
    anchors: replay.anchors,
  });
  return paretoDocument(result, {
    mode: "replay",
    source: { pool: resolve(poolPath), sha256: pool.sha256, runs: replay.runs, configurations: replay.answers.size },
    model,
    network: null,
    space: replay.space,
  });
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

export interface ReproductionRow {
  model: string;
  requests: number;
  strategy: string;
  /** per optimize seed */
  energyJ: number[];
  missed: number[];
  publishedEnergyJ: number | null;
  publishedMissed: number | null;
  publishedSource: string | null;
}

/** The reproduction as a Markdown table (medians over the optimize seeds; ranges when they differ). */
export function reproductionTable(rows: readonly ReproductionRow[], seeds: readonly number[]): string {
  const span = (xs: number[], d: number) => {
    const m = median(xs).toFixed(d);
    const lo = Math.min(...xs).toFixed(d);
    const hi = Math.max(...xs).toFixed(d);
    return lo === hi ? m : `${m} (${lo}-${hi})`;
  };
  const out = [
    `DynaSplit reproduction: replay of their measured pools; front and archive from splitwatt optimize --replay (nsga3, 20% budget), optimize seed${seeds.length > 1 ? `s ${seeds.join(", ")} (median, range)` : ` ${seeds[0]}`}.`,
    "",
    "| model | requests | strategy | energy J/inference | missed | published energy J | published missed | published from |",
    "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    out.push(
      `| ${r.model} | ${r.requests} | ${r.strategy} | ${span(r.energyJ, 2)} | ${span(r.missed, 0)} | ${r.publishedEnergyJ === null ? "-" : r.publishedEnergyJ.toFixed(2)} | ${r.publishedMissed === null ? "-" : r.publishedMissed} | ${r.publishedSource ?? "-"} |`,
    );
  }
  return `${out.join("\n")}\n`;
}

export async function reproduceMode(o: BenchCliOptions, study: string): Promise<void> {
  if (study !== "dynasplit") throw new UsageError(`--reproduce ${study}: unknown study; use --reproduce dynasplit`);
  if (o.data === undefined) throw new UsageError("--reproduce dynasplit needs --data DIR: the directory with DynaSplit's simulation_pool_*.csv and network_latency_*_samples.csv");
  const seeds = (o.seeds ?? String(o.seed)).split(",").map((s) => Number(s.trim()));
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw new UsageError(`--seeds "${o.seeds}": give whole numbers >= 0 separated by commas, e.g. 1,2,3,4,5`);
  const need = [...DYNASPLIT_MODELS.map((m) => `simulation_pool_${m}.csv`), ...TRACES.map((t) => t.file)];
  const missing = need.filter((f) => !existsSync(join(o.data as string, f)));
  if (missing.length > 0) throw new UsageError(`--data ${o.data} lacks ${missing.join(", ")}; pass the directory with DynaSplit's published pools and traces`);
  const out = o.out ?? "reproduce-dynasplit";
  const rows: ReproductionRow[] = [];
  for (const model of DYNASPLIT_MODELS) {
    const poolPath = join(o.data, `simulation_pool_${model}.csv`);
    const pool = readDynasplitPool(poolPath);
    const runs = new PoolRuns(pool.pool);
    const progressFile = join(o.data, `experiment_progress_${model}.csv`);
    const testbed = existsSync(progressFile) ? testbedFigures(readFileSync(progressFile, "utf8")) : new Map();
    const exhaustive = await front(pool, poolPath, model, seeds[0] as number, true);
    const fronts = await Promise.all(seeds.map((s) => front(pool, poolPath, model, s, false)));
    const space = fronts[0]!.space;
    const layers = space.dimensions.find((d) => d.name === "layer")!.values as number[];
    const edgeAcc = space.dimensions.find((d) => d.name === "edge-accelerator")!.values.includes("max") ? "max" : "off";
    const strategies: StrategySpec[] = [
      { name: "cloud-only", policy: "static", options: { config: { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": true } } },
      { name: "edge-only", policy: "static", options: { config: { layer: layers[layers.length - 1]!, "cpu-freq": 1800, "edge-accelerator": edgeAcc, "server-accelerator": false } } },
      { name: "static-fastest", policy: "static-fastest" },
      { name: "static-min-energy", policy: "static-min-energy" },
      { name: "dynasplit", policy: "dynasplit" },
      { name: "splitwatt", policy: "splitwatt", options: { minSamples: 1 } },
      { name: "splitwatt, guarded", policy: "splitwatt" },
    ];
    for (const t of TRACES) {
      const workloadPath = join(o.data, t.file);
      const results = [];
      for (const [k, doc] of fronts.entries()) {
        const text = JSON.stringify(doc);
        results.push(
          await replayBench({
            poolPath,
            workloadPath,
            frontPath: join(out, `${model}-seed${seeds[k]}.pareto.json`),
            network: model,
            strategies,
            seed: o.seed,
            out: join(out, `${model}-${t.n}${seeds.length > 1 ? `-seed${seeds[k]}` : ""}`),
            perRequest: false,
            intervalMs: o.intervalMs,
            policyOptions: {},
            quiet: true,
            loaded: { pool: runs, poolSha256: pool.sha256, front: { doc, fileVersion: 2, perPart: true, warnings: [] }, frontText: text },
            reports: k === 0,
          }),
        );
        writeFileAtomic(join(out, `${model}-seed${seeds[k]}.pareto.json`), `${text}\n`);
      }
      const ex = await replayBench({
        poolPath,
        workloadPath,
        frontPath: join(out, `${model}-exhaustive.pareto.json`),
        network: model,
        strategies: [{ name: "dynasplit", policy: "dynasplit" }],
        seed: o.seed,
        out: join(out, `${model}-${t.n}-exhaustive`),
        perRequest: false,
        intervalMs: o.intervalMs,
        policyOptions: {},
        quiet: true,
        loaded: { pool: runs, poolSha256: pool.sha256, front: { doc: exhaustive, fileVersion: 2, perPart: true, warnings: [] }, frontText: JSON.stringify(exhaustive) },
        reports: false,
      });
      writeFileAtomic(join(out, `${model}-exhaustive.pareto.json`), `${JSON.stringify(exhaustive)}\n`);
      for (const s of strategies) {
        const per = results.map((r) => r.strategies.find((x) => x.name === s.name)!);
        const tb = t.n === 50 ? testbed.get(s.name) : undefined;
        const sim = t.n === 10_000 ? PUBLISHED_SIMULATION[model]?.[s.name] : undefined;
        rows.push({
          model,
          requests: t.n,
          strategy: s.name,
          energyJ: per.map((x) => x.meanEnergyJ ?? 0),
          missed: per.map((x) => x.missed),
          publishedEnergyJ: tb?.energyJ ?? null,
          publishedMissed: tb !== undefined ? tb.requests - tb.met : (sim ?? null),
          publishedSource: tb !== undefined ? "their testbed (experiment_progress)" : sim !== undefined ? "their simulation (paper)" : null,
        });
      }
      const exs = ex.strategies[0]!;
      rows.push({ model, requests: t.n, strategy: "dynasplit, exhaustive front", energyJ: [exs.meanEnergyJ ?? 0], missed: [exs.missed], publishedEnergyJ: null, publishedMissed: null, publishedSource: null });
    }
  }
  const table = reproductionTable(rows, seeds);
  writeFileAtomic(join(out, "reproduction.md"), table);
  if (o.json) process.stdout.write(`${JSON.stringify({ seeds, rows }, null, 2)}\n`);
  else process.stdout.write(`${table}\nwrote ${out}/reproduction.md and one results directory per model and trace\n`);
}
