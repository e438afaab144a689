/**
 * The optimizer driver: a search (searchEngine.ts) over a Space whose configurations an
 * Evaluator answers, with objectives chosen from latency (mean or p95), energy and accuracy,
 * and constraints handled by constraint-domination. Live and replay modes differ only in the
 * Space and the Evaluator they pass.
 *
 * Internally every objective is minimised: latency in ms, energy in J, accuracy as
 * 1 - accuracy, throughput as ms per item (1000 / items per second; a result without a
 * measured throughput ran one at a time: 1000 / its mean latency). A constraint's violation is
 * relative for latency ((latency - max) / max) and throughput ((min - throughput) / min) and
 * absolute for accuracy (min - accuracy); their sum ranks infeasible configurations.
 *
 * Hypervolume: of the feasible front, after normalising each objective by the ideal (-> 0)
 * and nadir (-> 1) of all feasible evaluated configurations, with reference point 1.1 per
 * objective. The ideal, nadir and reference are returned so it can be recomputed.
 */
import { MalformedError, UsageError } from "../errors.js";
import { canonicalConfigKey, type Config } from "../contracts/measurement.js";
import { anchorGenomes, type AnchorSpec } from "./anchors.js";
import { dominates } from "./dominance.js";
import type { EvaluationResult, Evaluator } from "./evaluator.js";
import { hypervolume, normalizePoints } from "./hypervolume.js";
import { runSearch, type SearchAlgorithm, type SearchOptions, type SearchPhase } from "./searchEngine.js";

import { OBJECTIVES, type ObjectiveName } from "../contracts/optimizeConfig.js";

export { OBJECTIVES, type ObjectiveName };
export type LatencyStat = "mean" | "p95";

export interface Constraints {
  /** on the latency statistic chosen by `latencyStat` */
  maxLatencyMs?: number;
  minAccuracy?: number;
  /** items per second at least */
  minThroughputPerS?: number;
}

export interface Evaluated {
  config: Config;
  /** canonicalConfigKey(config) */
  key: string;
  result: EvaluationResult;
  /** minimised objective vector, in `objectives` order */
  objectives: number[];
  violation: number;
  /** 0-based position in the evaluation sequence */
  order: number;
}

export interface OptimizeProgress {
  evaluations: number;
  budget: number;
  /** of `evaluations`, answered from a cache */
  cached: number;
  /** of `evaluations`, measured now */
  measured: number;
  unevaluable: number;
  /** hypervolume of the current front (normalised as in the result) */
  hypervolume: number;
  elapsedMs: number;
  generation: number;
  phase: SearchPhase;
  config: Config;
  result: EvaluationResult | null;
}

/** The search's own knobs (space, budget, seed, algorithm, memetic step, population, abort) pass through as runSearch documents them. */
export interface OptimizeOptions
  extends Pick<SearchOptions, "space" | "budget" | "seed" | "algorithm" | "memetic" | "localShare" | "localRanks" | "spread" | "populationSize" | "signal"> {
  evaluate: Evaluator;
  /** 1 to 3 distinct objectives */
  objectives: readonly ObjectiveName[];
  latencyStat?: LatencyStat;
  constraints?: Constraints;
  /** the anchors of the first population: a rule over the space, or explicit configs */
  anchors?: AnchorSpec | readonly Config[];
  onProgress?: (p: OptimizeProgress) => void;
}

export interface HypervolumeReference {
  normalisation: "feasible-evaluated-ideal-nadir";
  /** per objective, minimised terms (1 - accuracy for accuracy); null when nothing feasible was evaluated */
  ideal: number[] | null;
  nadir: number[] | null;
  reference: number[];
}

export interface OptimizeResult {
  algorithm: SearchAlgorithm;
  memetic: boolean;
  populationSize: number;
  seed: number;
  budget: number;
  objectives: ObjectiveName[];
  latencyStat: LatencyStat;
  constraints: Constraints;
  /** unique completed evaluations */
  evaluations: number;
  cachedEvaluations: number;
  unevaluable: number;
  validSpaceSize: number | null;
  generations: number;
  /** time in the algorithm's own code (not in evaluations) */
  algorithmMs: number;
  elapsedMs: number;
  aborted: boolean;
  exhausted: boolean;
  evaluated: Evaluated[];
  /** the feasible non-dominated evaluated configurations, by the first objective then the next */
  front: Evaluated[];
  hypervolume: number;
  hypervolumeReference: HypervolumeReference;
}

const HV_REFERENCE = 1.1;

/** Hypervolume of `front` normalised by `ideal`/`nadir`, reference 1.1 per objective. */
export function normalizedHypervolume(front: readonly (readonly number[])[], ideal: readonly number[], nadir: readonly number[]): number {
  if (front.length === 0) return 0;
  return hypervolume(normalizePoints(front, ideal, nadir), ideal.map(() => HV_REFERENCE));
}

function checkObjectives(objectives: readonly ObjectiveName[]): void {
  if (objectives.length < 1 || objectives.length > 3) throw new UsageError(`give 1 to 3 objectives (latency, energy, accuracy, throughput), not ${objectives.length}`);
  const seen = new Set<string>();
  for (const o of objectives) {
    if (!(OBJECTIVES as readonly string[]).includes(o)) throw new UsageError(`unknown objective "${o}"; use latency, energy, accuracy or throughput`);
    if (seen.has(o)) throw new UsageError(`objective "${o}" is listed twice; list each once`);
    seen.add(o);
  }
}

/** Check an evaluator's answer; returns it or throws a one-line MalformedError naming the config. */
function checkResult(r: EvaluationResult, key: string): EvaluationResult {
  const bad = (what: string) => new MalformedError(`the evaluator returned ${what} for ${key}; it must give finite non-negative numbers`);
  const nonNeg = (x: unknown) => typeof x === "number" && Number.isFinite(x) && x >= 0;
  if (!nonNeg(r.latencyMs)) throw bad(`latencyMs ${String(r.latencyMs)}`);
  if (!nonNeg(r.energyJ)) throw bad(`energyJ ${String(r.energyJ)}`);
  if (r.accuracy !== null && !nonNeg(r.accuracy)) throw bad(`accuracy ${String(r.accuracy)}`);
  for (const k of ["p50", "p95", "p99", "max"] as const) {
    const v = r.latency[k];
    if (v !== null && !nonNeg(v)) throw bad(`latency.${k} ${String(v)}`);
  }
  return r;
}

export async function optimize(opts: OptimizeOptions): Promise<OptimizeResult> {
  const { space } = opts;
  checkObjectives(opts.objectives);
  const latencyStat = opts.latencyStat ?? "mean";
  const constraints: Constraints = { ...opts.constraints };
  const m = opts.objectives.length;

  const latencyOf = (r: EvaluationResult, key: string): number => {
    if (latencyStat === "mean") return r.latencyMs;
    const v = r.latency.p95;
    if (v === null) throw new UsageError(`no p95 latency for ${key} (only a mean is known); use --latency-stat mean`);
    return v;
  };
  const accuracyOf = (r: EvaluationResult, key: string): number => {
    if (r.accuracy === null) throw new UsageError(`no accuracy for ${key}; drop accuracy from the objectives and constraints`);
    return r.accuracy;
  };
  /** items per second: measured through the pipeline, else one at a time (1000 / mean latency) */
  const throughputOf = (r: EvaluationResult): number => r.throughputPerS ?? (r.latencyMs > 0 ? 1000 / r.latencyMs : Number.POSITIVE_INFINITY);
  const score = (r: EvaluationResult, key: string): { objectives: number[]; violation: number } => {
    const objectives = opts.objectives.map((o) =>
      o === "latency" ? latencyOf(r, key) : o === "energy" ? r.energyJ : o === "throughput" ? 1000 / throughputOf(r) : 1 - accuracyOf(r, key),
    );
    let violation = 0;
    if (constraints.minThroughputPerS !== undefined) violation += Math.max(0, (constraints.minThroughputPerS - throughputOf(r)) / constraints.minThroughputPerS);
    if (constraints.maxLatencyMs !== undefined) violation += Math.max(0, (latencyOf(r, key) - constraints.maxLatencyMs) / constraints.maxLatencyMs);
    if (constraints.minAccuracy !== undefined) violation += Math.max(0, constraints.minAccuracy - accuracyOf(r, key));
    return { objectives, violation };
  };

  let anchors: number[][] = [];
  if (opts.anchors !== undefined) {
    if (Array.isArray(opts.anchors)) {
      anchors = (opts.anchors as readonly Config[]).map((c) => {
        const g = space.genome(c);
        if (g === null) throw new UsageError(`anchor ${canonicalConfigKey(c)} is not a configuration of the search space; give one value of every dimension`);
        return g;
      });
    } else {
      anchors = anchorGenomes(space, opts.anchors as AnchorSpec);
    }
  }

  const evaluated: Evaluated[] = [];
  // incremental state for progress: feasible front, feasible ideal/nadir
  let front: Evaluated[] = [];
  let ideal: number[] | null = null;
  let nadir: number[] | null = null;
  let hv = 0;
  let frontChanged = false;

  const outcome = await runSearch({
    space,
    budget: opts.budget,
    seed: opts.seed,
    algorithm: opts.algorithm,
    memetic: opts.memetic,
    localShare: opts.localShare,
    spread: opts.spread,
    localRanks: opts.localRanks,
    populationSize: opts.populationSize,
    anchors,
    signal: opts.signal,
    evaluate: async (_genome, config, signal) => {
      const key = canonicalConfigKey(config);
      const r = await opts.evaluate(config, signal === undefined ? {} : { signal });
      if (r === null) return null;
      checkResult(r, key);
      const s = score(r, key);
      const e: Evaluated = { config, key, result: r, objectives: s.objectives, violation: s.violation, order: evaluated.length };
      evaluated.push(e);
      if (e.violation <= 0) {
        const ideal0 = ideal ?? e.objectives;
        const nadir0 = nadir ?? e.objectives;
        const nextIdeal = ideal0.map((x, k) => Math.min(x, e.objectives[k] as number));
        const nextNadir = nadir0.map((x, k) => Math.max(x, e.objectives[k] as number));
        const boundsChanged = ideal === null || nextIdeal.some((x, k) => x !== ideal![k]) || nextNadir.some((x, k) => x !== nadir![k]);
        ideal = nextIdeal;
        nadir = nextNadir;
        if (!front.some((f) => dominates(f.objectives, e.objectives))) {
          front = front.filter((f) => !dominates(e.objectives, f.objectives));
          front.push(e);
          frontChanged = true;
        }
        if (frontChanged || boundsChanged) {
          hv = normalizedHypervolume(front.map((f) => f.objectives), ideal, nadir);
          frontChanged = false;
        }
      }
      return { objectives: s.objectives, violation: s.violation, cached: r.cached === true };
    },
    onEvaluation: opts.onProgress
      ? (ev) => {
          const last = ev.individual ? evaluated[evaluated.length - 1] : undefined;
          opts.onProgress?.({
            evaluations: ev.evaluations,
            budget: ev.budget,
            cached: ev.cached,
            measured: ev.evaluations - ev.cached,
            unevaluable: ev.unevaluable,
            hypervolume: hv,
            elapsedMs: ev.elapsedMs,
            generation: ev.generation,
            phase: ev.phase,
            config: ev.config,
            result: last?.result ?? null,
          });
        }
      : undefined,
  });

  const sortedFront = [...front].sort((a, b) => {
    for (let k = 0; k < m; k++) {
      const d = (a.objectives[k] as number) - (b.objectives[k] as number);
      if (d !== 0) return d;
    }
    return a.order - b.order;
  });
  return {
    algorithm: outcome.algorithm,
    memetic: outcome.memetic,
    populationSize: outcome.populationSize,
    seed: opts.seed,
    budget: opts.budget,
    objectives: [...opts.objectives],
    latencyStat,
    constraints,
    evaluations: outcome.evaluated.length,
    cachedEvaluations: outcome.cached,
    unevaluable: outcome.unevaluable,
    validSpaceSize: outcome.validSpaceSize,
    generations: outcome.generations,
    algorithmMs: outcome.algorithmMs,
    elapsedMs: outcome.elapsedMs,
    aborted: outcome.aborted,
    exhausted: outcome.exhausted,
    evaluated,
    front: sortedFront,
    hypervolume: ideal === null || nadir === null ? 0 : normalizedHypervolume(sortedFront.map((f) => f.objectives), ideal, nadir),
    hypervolumeReference: { normalisation: "feasible-evaluated-ideal-nadir", ideal, nadir, reference: opts.objectives.map(() => HV_REFERENCE) },
  };
}
