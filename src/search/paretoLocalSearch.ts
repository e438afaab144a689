/**
 * Pareto local search over everything evaluated so far (the archive): proposes the untried
 * one-gene neighbours (`Space.neighbours`) of the members of the archive's first `ranks`
 * non-dominated ranks under constraint-domination (default 4; the reference run
 * used 2, see the benchmark in the README for what the depth earns). Neighbours of
 * better-ranked members come first; within a rank, those of the most isolated members
 * (crowding distance; the extremes first); then the order they were found in.
 *
 * The ranks are recomputed only when a new evaluation enters them: a point's rank is at most
 * K exactly when no current K-th-rank member dominates it (constraint-domination is
 * transitive). Only the members of the first K ranks are kept for that: adding points never
 * improves a rank, so a point that fell below rank K never comes back, and it cannot change
 * the rank of a better point.
 *
 * A step along an ordered dimension walks over configurations that are invalid or known to be
 * unevaluable (absent from a replayed pool) to the next value that may be evaluated, so holes
 * in a measured pool do not cut the neighbourhood.
 */
import { crowdingDistance } from "./crowdingDistance.js";
import { constraintDominates } from "./dominance.js";
import type { Genome, Space } from "./space.js";
import type { Individual } from "./strategy.js";

/** the non-dominated members of `items` (constraint-domination), in evaluation order */
function nonDominated(items: readonly Individual[]): Individual[] {
  const nd: Individual[] = [];
  outer: for (const x of items) {
    let w = 0;
    for (let r = 0; r < nd.length; r++) {
      const y = nd[r] as Individual;
      if (constraintDominates(y, x)) continue outer; // nothing was removed yet: nd[w..r) == nd[0..r)
      if (!constraintDominates(x, y)) nd[w++] = y;
    }
    nd.length = w;
    nd.push(x);
  }
  return nd.sort((a, b) => a.order - b.order);
}

export const DEFAULT_LOCAL_RANKS = 4;

/** one member's neighbours and how far they have been proposed */
interface Expansion {
  genomes: number[][];
  ids: string[];
  cursor: number;
}

export class ParetoLocalSearch {
  /** the members of the first `depth` ranks as last computed, plus newcomers that may enter them */
  private top: Individual[] = [];
  private readonly depth: number;
  private ranks: Individual[][] = [];
  private dirty = false;
  /** members of the expanded ranks in priority order, and the first one not known to be exhausted */
  private order: Individual[] = [];
  private pos = 0;
  /** per member id: its neighbours (computed once; redone when the skip set grows) */
  private expansions = new Map<string, Expansion>();

  /**
   * `isTried(id)`: the genome was evaluated, found unevaluable, or is otherwise taken;
   * `isUnevaluable(id)`: it was found unevaluable. `ranks`: how many non-dominated ranks to expand.
   */
  constructor(
    private readonly space: Space,
    private readonly isTried: (id: string) => boolean,
    private readonly isUnevaluable: (id: string) => boolean = () => false,
    ranks = DEFAULT_LOCAL_RANKS,
  ) {
    if (!Number.isInteger(ranks) || ranks < 1) throw new RangeError(`local search ranks must be a whole number >= 1, not ${ranks}`);
    this.depth = ranks;
  }

  /** Record an evaluated individual (every one, whoever proposed it). */
  add(ind: Individual): void {
    const deepest = this.ranks.length < this.depth ? undefined : this.ranks[this.depth - 1];
    if (deepest !== undefined && deepest.some((y) => constraintDominates(y, ind))) return; // below rank K for good
    this.top.push(ind);
    this.dirty = true;
  }

  /** Record that a genome could not be evaluated: steps that met it walk on past it. */
  unevaluable(): void {
    this.expansions = new Map();
    this.dirty = true;
  }

  /** the archive's first ranks (recomputed when stale) */
  fronts(): readonly (readonly Individual[])[] {
    this.refresh();
    return this.ranks;
  }

  /** The next untried neighbour of the expanded ranks, or null when their neighbourhoods are exhausted. */
  next(): number[] | null {
    this.refresh();
    for (let i = this.pos; i < this.order.length; i++) {
      const e = this.expansion(this.order[i] as Individual);
      while (e.cursor < e.ids.length && this.isTried(e.ids[e.cursor] as string)) e.cursor++;
      if (e.cursor < e.ids.length) return e.genomes[e.cursor++] as number[];
      if (i === this.pos) this.pos++;
    }
    return null;
  }

  private expansion(x: Individual): Expansion {
    let e = this.expansions.get(x.id);
    if (e === undefined) {
      const skip = (g: Genome) => !this.space.isValid(g) || this.isUnevaluable(this.space.id(g));
      const genomes = this.space.neighbours(x.genome, skip);
      e = { genomes, ids: genomes.map((g) => this.space.id(g)), cursor: 0 };
      this.expansions.set(x.id, e);
    }
    return e;
  }

  private refresh(): void {
    if (!this.dirty) return;
    this.dirty = false;
    this.ranks = [];
    let rest: readonly Individual[] = this.top;
    while (this.ranks.length < this.depth && rest.length > 0) {
      const nd = nonDominated(rest);
      this.ranks.push(nd);
      const ids = new Set(nd.map((x) => x.id));
      rest = rest.filter((x) => !ids.has(x.id));
    }
    this.top = this.ranks.flat();
    const live = new Set(this.top.map((x) => x.id));
    for (const id of this.expansions.keys()) if (!live.has(id)) this.expansions.delete(id);
    this.order = this.ranks.flatMap((members) => {
      const crowd = crowdingDistance(members.map((x) => x.objectives));
      return members
        .map((x, i) => ({ x, c: crowd[i] as number }))
        .sort((a, b) => b.c - a.c || a.x.order - b.x.order)
        .map((m) => m.x);
    });
    this.pos = 0;
  }
}
