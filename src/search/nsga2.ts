/**
 * NSGA-II (Deb, Pratap, Agarwal, Meyarivan 2002): survival by constraint-domination rank, the
 * last admitted front cut by crowding distance; mating by binary tournament on (rank, crowding).
 */
import { crowdingDistance } from "./crowdingDistance.js";
import { nonDominatedSort } from "./nonDominatedSort.js";
import { randomInt, type Individual, type Strategy, type Survivor } from "./strategy.js";

export const nsga2: Strategy = {
  name: "nsga2",
  survive(candidates: readonly Individual[], n: number): Survivor[] {
    const fronts = nonDominatedSort(
      candidates.map((c) => c.objectives),
      candidates.map((c) => c.violation),
    );
    const out: Survivor[] = [];
    fronts.forEach((front, rank) => {
      if (out.length >= n) return;
      const members = front.map((i) => candidates[i] as Individual);
      const crowd = crowdingDistance(members.map((m) => m.objectives));
      const ranked = members.map((ind, i) => ({ ind, rank, crowding: crowd[i] as number }));
      if (out.length + ranked.length > n) ranked.sort((a, b) => b.crowding - a.crowding || a.ind.order - b.ind.order);
      out.push(...ranked.slice(0, n - out.length));
    });
    return out;
  },
  pick(population: readonly Survivor[], rng: () => number): Individual {
    const a = population[randomInt(rng, population.length)] as Survivor;
    const b = population[randomInt(rng, population.length)] as Survivor;
    if (a.rank !== b.rank) return a.rank < b.rank ? a.ind : b.ind;
    if (a.crowding !== b.crowding) return a.crowding > b.crowding ? a.ind : b.ind;
    return a.ind;
  },
};
