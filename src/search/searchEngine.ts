/**
 * The search loop over a Space with a budget of unique completed evaluations. It knows
 * objective vectors and constraint violations only (optimize.ts maps measurements onto them).
 *
 * - Every genome is tried at most once: duplicates are rejected against everything evaluated
 *   and everything found unevaluable (the evaluator answered null); unevaluable genomes do not
 *   use budget.
 * - `nsga2` / `nsga3`: the first population holds the anchors, then untried genomes drawn by
 *   best-candidate sampling (spread out, see UntriedSampler.spread); each generation makes
 *   offspring by binary tournament, uniform crossover and per-gene mutation and keeps the
 *   population by the strategy's survival. With `memetic` (the default for both) each
 *   generation first spends up to `localShare` (0.75) of the population size on Pareto local
 *   search (paretoLocalSearch.ts) around the archive's first `localRanks` (4) non-dominated
 *   ranks, the genetic offspring get the rest (at least a quarter), and both join the survival.
 *   A generation whose local search runs dry is all genetic.
 * - `local`: Pareto local search alone, with a spread-out restart whenever its neighbourhoods
 *   are exhausted.
 * - `random`: uniform random order without replacement. `exhaustive`: enumeration order.
 *   Whatever was asked, a space whose valid configurations number no more than the budget is
 *   searched exhaustively.
 * - Deterministic: the same seed and the same evaluator answers give the same sequence of
 *   evaluated genomes (nothing depends on time), which is how a run backed by a measurement
 *   cache resumes: it replays the cached answers and continues.
 */
import type { Config } from "../contracts/measurement.js";
import { mulberry32 } from "../mulberry32.js";
import { nsga2 } from "./nsga2.js";
import { nsga3 } from "./nsga3.js";
import { DEFAULT_LOCAL_RANKS, ParetoLocalSearch } from "./paretoLocalSearch.js";
import type { Genome, Space } from "./space.js";
import { randomInt, type Individual, type Strategy, type Survivor } from "./strategy.js";
import { variation } from "./variation.js";

import { SEARCH_ALGORITHMS, type SearchAlgorithm } from "../contracts/optimizeConfig.js";

export { SEARCH_ALGORITHMS, type SearchAlgorithm };
export type SearchPhase = "anchor" | "initial" | "local" | "genetic" | "random" | "exhaustive";

/** What the search needs from one evaluation. */
export interface Scoring {
  /** minimised */
  objectives: number[];
  /** total constraint violation, 0 when feasible */
  violation: number;
  /** answered from a cache, not measured now (counted for progress only) */
  cached?: boolean;
}

export interface SearchEvent {
  /** the evaluated individual; null when the config could not be evaluated */
  individual: Individual | null;
  genome: readonly number[];
  config: Config;
  phase: SearchPhase;
  generation: number;
  /** unique completed evaluations so far (what the budget counts) */
  evaluations: number;
  /** the budget, or the valid space's size when that is smaller (an exhaustive search) */
  budget: number;
  unevaluable: number;
  cached: number;
  elapsedMs: number;
}

export interface SearchOptions {
  space: Space;
  evaluate: (genome: Genome, config: Config, signal: AbortSignal | undefined) => Promise<Scoring | null>;
  /** unique completed evaluations */
  budget: number;
  seed: number;
  algorithm: SearchAlgorithm;
  /** Pareto local search each generation (nsga2/nsga3); default true */
  memetic?: boolean;
  /** most of a generation spent on local search in memetic mode, 0..1; default 0.75 */
  localShare?: number;
  /** non-dominated ranks of the archive whose neighbours local search expands; default 4 */
  localRanks?: number;
  /** default: max(40, number of anchors + 10), at most the budget */
  populationSize?: number;
  /**
   * Draw the first population's non-anchor members and restarts by best-candidate sampling
   * (far from everything tried) rather than uniformly; default true
   */
  spread?: boolean;
  /** genomes evaluated first (invalid ones are skipped) */
  anchors?: readonly Genome[];
  onEvaluation?: (e: SearchEvent) => void;
  /** stop before the next evaluation (an evaluation it aborts part-way is dropped); the outcome says `aborted` */
  signal?: AbortSignal;
}

export interface SearchOutcome {
  /** as run: `exhaustive` when the valid space was no larger than the budget */
  algorithm: SearchAlgorithm;
  memetic: boolean;
  populationSize: number;
  /** every evaluated individual in evaluation order */
  evaluated: Individual[];
  unevaluable: number;
  cached: number;
  /** number of valid configurations, or null when the space is too large to count */
  validSpaceSize: number | null;
  generations: number;
  /** time spent in the algorithm itself (proposals, survival), not in evaluations */
  algorithmMs: number;
  elapsedMs: number;
  aborted: boolean;
  /** every valid configuration was tried */
  exhausted: boolean;
}

/** spaces with at most this many combinations are enumerated (counted, shuffled for random order) */
const ENUMERATE_LIMIT = 200_000;
/** tries to make a new offspring by variation before drawing an untried genome instead */
const CHILD_TRIES = 30;
/** candidates drawn for each best-candidate (spread) sample */
const SPREAD_CANDIDATES = 20;

/** Untried valid genomes in uniform random order (without replacement), or spread out. */
class UntriedSampler {
  private order: number[][] | null = null;
  private pos = 0;
  constructor(
    private readonly space: Space,
    private readonly rng: () => number,
    private readonly taken: (id: string) => boolean,
  ) {}

  /** the next `k` untried genomes in random order (not consumed) */
  private peek(k: number): number[][] {
    const out: number[][] = [];
    if (this.space.cartesianSize <= ENUMERATE_LIMIT) {
      if (this.order === null) {
        const all = [...this.space.enumerate()];
        for (let i = all.length - 1; i > 0; i--) {
          const j = randomInt(this.rng, i + 1);
          [all[i], all[j]] = [all[j] as number[], all[i] as number[]];
        }
        this.order = all;
      }
      while (this.pos < this.order.length && this.taken(this.space.id(this.order[this.pos] as number[]))) this.pos++;
      for (let i = this.pos; i < this.order.length && out.length < k; i++) {
        const g = this.order[i] as number[];
        if (!this.taken(this.space.id(g))) out.push(g);
      }
      return out;
    }
    const ids = new Set<string>();
    for (let t = 0; t < 10_000 && out.length < k; t++) {
      const g = this.space.dimensions.map((d) => randomInt(this.rng, d.values.length));
      const id = this.space.id(g);
      if (!ids.has(id) && !this.taken(id) && this.space.isValid(g)) {
        ids.add(id);
        out.push(g);
      }
    }
    return out;
  }

  /** a uniformly drawn untried genome, or null when none is left */
  next(): number[] | null {
    return this.peek(1)[0] ?? null;
  }

  /**
   * Best-candidate sampling: of `k` uniformly drawn untried genomes, the one farthest from
   * every genome in `covered` (distance: per dimension |i - j| / (size - 1) for ordered ones,
   * 0 or 1 for categorical ones, summed), so fresh samples fill the gaps between what is known.
   */
  spread(covered: readonly (readonly number[])[], k = SPREAD_CANDIDATES): number[] | null {
    const cands = this.peek(k);
    if (cands.length <= 1 || covered.length === 0) return cands[0] ?? null;
    const dims = this.space.dimensions;
    const dist = (a: readonly number[], b: readonly number[]): number => {
      let s = 0;
      for (let i = 0; i < dims.length; i++) {
        const d = dims[i] as { values: readonly unknown[]; ordered: boolean };
        const x = a[i] as number;
        const y = b[i] as number;
        if (x === y) continue;
        s += d.ordered ? Math.abs(x - y) / (d.values.length - 1) : 1;
      }
      return s;
    };
    let best = cands[0] as number[];
    let bestD = -1;
    for (const c of cands) {
      let m = Infinity;
      for (const g of covered) {
        m = Math.min(m, dist(c, g));
        if (m <= bestD) break;
      }
      if (m > bestD) {
        bestD = m;
        best = c;
      }
    }
    return best;
  }
}

export async function runSearch(opts: SearchOptions): Promise<SearchOutcome> {
  const { space, budget } = opts;
  if (!Number.isInteger(budget) || budget < 1) throw new RangeError(`budget must be a whole number >= 1, not ${budget}`);
  const t0 = performance.now();
  const rng = mulberry32(opts.seed);
  const tried = new Map<string, Individual | null>();
  const triedGenomes: number[][] = [];
  const pending = new Set<string>();
  const taken = (id: string) => tried.has(id) || pending.has(id);
  const evaluated: Individual[] = [];
  let unevaluable = 0;
  let cached = 0;
  let generation = 0;
  let algorithmMs = 0;
  let aborted = false;

  const validSpaceSize = space.cartesianSize <= ENUMERATE_LIMIT ? space.countValid() : null;
  const validUpToBudget = validSpaceSize ?? space.countValid(budget);
  const small = validUpToBudget <= budget;
  // what progress counts towards: the whole space when it is searched exhaustively
  const reachable = small ? validUpToBudget : budget;
  const algorithm: SearchAlgorithm = small ? "exhaustive" : opts.algorithm;
  const memetic = (algorithm === "nsga2" || algorithm === "nsga3") && (opts.memetic ?? true);
  const anchors = (opts.anchors ?? []).filter((g) => space.isValid(g));
  const populationSize = Math.max(2, opts.populationSize ?? Math.min(budget, Math.max(40, anchors.length + 10)));
  const localShare = Math.min(1, Math.max(0, opts.localShare ?? 0.75));
  const sampler = new UntriedSampler(space, rng, taken);
  const pls = memetic || algorithm === "local" ? new ParetoLocalSearch(space, taken, (id) => tried.get(id) === null, opts.localRanks ?? DEFAULT_LOCAL_RANKS) : null;

  /** an untried genome for the first population or a restart: spread out (default) or uniform */
  const draw = (): number[] | null => ((opts.spread ?? true) ? sampler.spread(triedGenomes) : sampler.next());

  const stopped = (): boolean => {
    if (evaluated.length >= budget || aborted) return true;
    if (opts.signal?.aborted) aborted = true;
    return aborted;
  };

  /** Evaluate one genome unless taken or invalid: the individual, null (unevaluable) or undefined (skipped / stopped). */
  const tryEval = async (genome: readonly number[], phase: SearchPhase): Promise<Individual | null | undefined> => {
    if (stopped()) return undefined;
    const id = space.id(genome);
    if (tried.has(id) || !space.isValid(genome)) return undefined;
    const config = space.config(genome);
    let s: Scoring | null;
    try {
      s = await opts.evaluate(genome, config, opts.signal);
    } catch (err) {
      // aborted part-way through this evaluation: the run stops with what was evaluated before it
      if (opts.signal?.aborted === true) {
        aborted = true;
        return undefined;
      }
      throw err;
    }
    let ind: Individual | null = null;
    if (s === null) {
      unevaluable++;
      pls?.unevaluable();
    } else {
      ind = { genome: [...genome], id, order: evaluated.length, objectives: [...s.objectives], violation: Math.max(0, s.violation) };
      evaluated.push(ind);
      if (s.cached === true) cached++;
      pls?.add(ind);
    }
    tried.set(id, ind);
    triedGenomes.push([...genome]);
    opts.onEvaluation?.({
      individual: ind,
      genome,
      config,
      phase,
      generation,
      evaluations: evaluated.length,
      budget: reachable,
      unevaluable,
      cached,
      elapsedMs: performance.now() - t0,
    });
    return ind;
  };

  /** Time the algorithm's own work. */
  const timed = <T>(f: () => T): T => {
    const s = performance.now();
    try {
      return f();
    } finally {
      algorithmMs += performance.now() - s;
    }
  };

  if (algorithm === "exhaustive") {
    for (const g of space.enumerate()) {
      if (stopped()) break;
      await tryEval(g, "exhaustive");
    }
  } else if (algorithm === "random") {
    while (!stopped()) {
      const g = timed(() => sampler.next());
      if (g === null) break;
      await tryEval(g, "random");
    }
  } else {
    // first population: anchors, then uniformly drawn untried genomes
    let initial: Individual[] = [];
    for (const g of anchors) {
      const ind = await tryEval(g, "anchor");
      if (ind) initial.push(ind);
    }
    while (initial.length < populationSize && !stopped()) {
      const g = timed(() => draw());
      if (g === null) break;
      const ind = await tryEval(g, "initial");
      if (ind) initial.push(ind);
    }
    const strategy: Strategy | null = algorithm === "nsga2" ? nsga2 : algorithm === "nsga3" ? nsga3 : null;
    let population: Survivor[] = strategy ? timed(() => strategy.survive(initial, populationSize, rng)) : [];
    initial = [];

    let fresh: Individual[] = [];
    let progressed = false;
    /** Evaluate Pareto-local-search proposals until `cap` were evaluated or none is left. */
    const runLocal = async (cap: number): Promise<number> => {
      let done = 0;
      while (pls && done < cap && !stopped()) {
        const g = timed(() => pls.next());
        if (g === null) break;
        progressed = true;
        const ind = await tryEval(g, "local");
        if (ind) {
          fresh.push(ind);
          done++;
        }
      }
      return done;
    };
    while (!stopped()) {
      generation++;
      fresh = [];
      progressed = false;
      const localDone = await runLocal(strategy ? Math.ceil(localShare * populationSize) : Infinity);
      if (strategy && population.length > 0) {
        let needed = populationSize - localDone;
        for (let round = 0; round < 5 && needed > 0 && !stopped(); round++) {
          const children = timed(() => {
            const out: number[][] = [];
            for (let c = 0; c < needed; c++) {
              let child: number[] | null = null;
              for (let t = 0; t < CHILD_TRIES && child === null; t++) {
                const a = strategy.pick(population, rng);
                const b = strategy.pick(population, rng);
                const g = variation(space, a.genome, b.genome, rng);
                if (!taken(space.id(g)) && space.isValid(g)) child = g;
              }
              child ??= draw();
              if (child === null) break;
              pending.add(space.id(child));
              out.push(child);
            }
            return out;
          });
          if (children.length === 0) break;
          progressed = true;
          for (const g of children) {
            pending.delete(space.id(g));
            const ind = await tryEval(g, "genetic");
            if (ind) {
              fresh.push(ind);
              needed--;
            }
          }
          pending.clear();
        }
      } else if (!strategy) {
        // local search alone: its neighbourhoods are exhausted, so draw one untried genome
        const g = timed(() => draw());
        if (g !== null) {
          progressed = true;
          await tryEval(g, "random");
        }
      }
      if (strategy && fresh.length > 0) {
        const candidates = [...population.map((s) => s.ind), ...fresh];
        population = timed(() => strategy.survive(candidates, populationSize, rng));
      }
      if (!progressed) break;
    }
  }

  const exhausted = validSpaceSize !== null ? tried.size >= validSpaceSize : false;
  return {
    algorithm,
    memetic,
    populationSize,
    evaluated,
    unevaluable,
    cached,
    validSpaceSize,
    generations: generation,
    algorithmMs,
    elapsedMs: performance.now() - t0,
    aborted,
    exhausted,
  };
}
