/**
 * The Pareto set document (version 2, src/contracts/paretoFile.ts) of an optimize run: the
 * front and the archive of every evaluated configuration, each with the per-part data its
 * evaluator gave (a live Measurement, or a pool's runs), plus how the run was made.
 */
import { summaryEntry, type ParetoEntry, type ParetoFile } from "../contracts/paretoFile.js";
import type { Evaluated, OptimizeResult } from "./optimize.js";
import type { Space } from "./space.js";

export interface ParetoProvenance {
  mode: "replay" | "live";
  source: Record<string, unknown>;
  model: string;
  network: string | null;
  space: Space;
  generatedAt?: string;
}

/** An evaluated configuration as an entry: its evaluator's entry where it gave one, else the summary figures with the parts unknown. */
export function entryOf(e: Evaluated): ParetoEntry {
  const r = e.result;
  return r.entry !== undefined ? { ...r.entry, config: { ...e.config } } : summaryEntry(e.config, r);
}

/** The pareto document of an optimize run. */
export function paretoDocument(result: OptimizeResult, p: ParetoProvenance): ParetoFile {
  const objectiveSpace = result.objectives.map((o) =>
    o === "latency" ? `latencyMs (${result.latencyStat})` : o === "energy" ? "energyJ" : o === "throughput" ? "msPerItem (1000 / throughputPerS)" : "1 - accuracy",
  );
  return {
    version: 2,
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
    constraints: {
      maxLatencyMs: result.constraints.maxLatencyMs ?? null,
      minAccuracy: result.constraints.minAccuracy ?? null,
      ...(result.constraints.minThroughputPerS === undefined ? {} : { minThroughputPerS: result.constraints.minThroughputPerS }),
    },
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
    front: result.front.map(entryOf),
    archive: result.evaluated.map(entryOf),
  };
}
