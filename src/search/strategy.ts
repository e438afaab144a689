/**
 * What the genetic strategies (NSGA-II, NSGA-III) share: the evaluated individual, and the two
 * decisions a strategy makes each generation, who survives and who mates.
 */
import type { Scored } from "./dominance.js";

export interface Individual extends Scored {
  genome: readonly number[];
  /** `Space.id(genome)` */
  id: string;
  /** 0-based position in the evaluation sequence (ties are broken by it, so runs are reproducible) */
  order: number;
}

export interface Survivor {
  ind: Individual;
  /** 0-based non-dominated rank under constraint-domination */
  rank: number;
  /** larger = more isolated (NSGA-II crowding distance; NSGA-III leaves it 0) */
  crowding: number;
}

export interface Strategy {
  readonly name: "nsga2" | "nsga3";
  /** Environmental selection: keep `n` of `candidates` (all of them when there are no more than `n`). */
  survive(candidates: readonly Individual[], n: number, rng: () => number): Survivor[];
  /** Mating selection: one parent from the current population. */
  pick(population: readonly Survivor[], rng: () => number): Individual;
}

/** a uniform integer in [0, n) */
export const randomInt = (rng: () => number, n: number): number => Math.min(n - 1, Math.floor(rng() * n));
