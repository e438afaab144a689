/**
 * NSGA-III (Deb and Jain 2014; constraint handling as Jain and Deb 2014): survival by
 * constraint-domination rank; the last admitted front is cut by niching around Das-Dennis
 * reference directions after normalising the objectives (ideal point, extreme points found by
 * an achievement scalarising function, hyperplane intercepts, falling back to the nadir when
 * the hyperplane is degenerate). Mating: binary tournament on rank, ties random.
 */
import { nonDominatedSort } from "./nonDominatedSort.js";
import { divisionsFor, referenceDirections } from "./referenceDirections.js";
import { randomInt, type Individual, type Strategy, type Survivor } from "./strategy.js";

const directionCache = new Map<string, number[][]>();
function directions(m: number, n: number): number[][] {
  const k = `${m}:${n}`;
  let d = directionCache.get(k);
  if (d === undefined) {
    d = referenceDirections(m, divisionsFor(m, n));
    directionCache.set(k, d);
  }
  return d;
}

/** Solve A x = b (A square, small) by Gaussian elimination with partial pivoting; null when singular. */
function solve(A: number[][], b: number[]): number[] | null {
  const n = b.length;
  const M = A.map((row, i) => [...row, b[i] as number]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (Math.abs(M[p]![c]!) < 1e-12) return null;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k] = M[r]![k]! - f * M[c]![k]!;
    }
  }
  return M.map((row, i) => row[n]! / row[i]!);
}

/** Normalised objective vectors of `members` (ideal -> 0, hyperplane intercepts -> 1). */
export function normalizeForNiching(members: readonly (readonly number[])[]): number[][] {
  const m = (members[0] as readonly number[]).length;
  const ideal = Array.from({ length: m }, (_, k) => Math.min(...members.map((f) => f[k] as number)));
  const t = members.map((f) => f.map((x, k) => x - (ideal[k] as number)));
  const extremes: number[][] = [];
  for (let j = 0; j < m; j++) {
    let best = t[0] as number[];
    let bestAsf = Infinity;
    for (const f of t) {
      const asf = Math.max(...f.map((x, k) => x / (k === j ? 1 : 1e-6)));
      if (asf < bestAsf) {
        bestAsf = asf;
        best = f;
      }
    }
    extremes.push(best);
  }
  const nadir = Array.from({ length: m }, (_, k) => Math.max(...t.map((f) => f[k] as number)));
  let intercepts: number[] | null = null;
  const a = solve(extremes, new Array<number>(m).fill(1));
  if (a !== null) {
    const ic = a.map((x) => 1 / x);
    if (ic.every((x, k) => Number.isFinite(x) && x > 1e-6 && x <= 1e6 * Math.max(1e-12, nadir[k] as number) + 1e-12)) intercepts = ic;
  }
  if (intercepts === null) intercepts = nadir.map((x) => (x > 1e-12 ? x : 1));
  return t.map((f) => f.map((x, k) => x / (intercepts[k] as number)));
}

export const nsga3: Strategy = {
  name: "nsga3",
  survive(candidates: readonly Individual[], n: number, rng: () => number): Survivor[] {
    const fronts = nonDominatedSort(
      candidates.map((c) => c.objectives),
      candidates.map((c) => c.violation),
    );
    const chosen: Survivor[] = [];
    let last: number[] = [];
    let lastRank = 0;
    for (let r = 0; r < fronts.length; r++) {
      const front = fronts[r] as number[];
      if (chosen.length + front.length <= n) {
        for (const i of front) chosen.push({ ind: candidates[i] as Individual, rank: r, crowding: 0 });
        if (chosen.length === n) return chosen;
      } else {
        last = front;
        lastRank = r;
        break;
      }
    }
    if (last.length === 0) return chosen;
    const lastInds = last.map((i) => candidates[i] as Individual);
    const need = n - chosen.length;
    if ((lastInds[0] as Individual).violation > 0) {
      // an infeasible front: equal violations (else they would dominate each other); keep the earliest
      return chosen.concat(
        [...lastInds].sort((a, b) => a.violation - b.violation || a.order - b.order).slice(0, need).map((ind) => ({ ind, rank: lastRank, crowding: 0 })),
      );
    }
    const feasibleChosen = chosen.filter((s) => s.ind.violation <= 0);
    const pool = [...feasibleChosen.map((s) => s.ind.objectives), ...lastInds.map((s) => s.objectives)];
    const m = (pool[0] as readonly number[]).length;
    const dirs = directions(m, n);
    const norm = normalizeForNiching(pool);
    const assoc = norm.map((f) => {
      let best = 0;
      let bestD = Infinity;
      const ff = f.reduce((s, x) => s + x * x, 0);
      dirs.forEach((w, j) => {
        const ww = w.reduce((s, x) => s + x * x, 0);
        const fw = f.reduce((s, x, k) => s + x * (w[k] as number), 0);
        const d = Math.sqrt(Math.max(0, ff - (fw * fw) / ww));
        if (d < bestD - 1e-15) {
          bestD = d;
          best = j;
        }
      });
      return { dir: best, dist: bestD };
    });
    const niche = new Array<number>(dirs.length).fill(0);
    for (let i = 0; i < feasibleChosen.length; i++) niche[assoc[i]!.dir]! += 1;
    const waiting = new Map<number, number[]>(); // direction -> indices into lastInds
    lastInds.forEach((_, i) => {
      const a = assoc[feasibleChosen.length + i]!;
      const list = waiting.get(a.dir) ?? [];
      list.push(i);
      waiting.set(a.dir, list);
    });
    const picked: number[] = [];
    while (picked.length < need && waiting.size > 0) {
      let minCount = Infinity;
      for (const j of waiting.keys()) minCount = Math.min(minCount, niche[j] as number);
      const dirsAtMin = [...waiting.keys()].filter((j) => niche[j] === minCount).sort((x, y) => x - y);
      const j = dirsAtMin[randomInt(rng, dirsAtMin.length)] as number;
      const members = waiting.get(j) as number[];
      let k: number;
      if (niche[j] === 0) {
        k = 0;
        for (let q = 1; q < members.length; q++) {
          if (assoc[feasibleChosen.length + members[q]!]!.dist < assoc[feasibleChosen.length + members[k]!]!.dist) k = q;
        }
      } else {
        k = randomInt(rng, members.length);
      }
      picked.push(members[k] as number);
      members.splice(k, 1);
      if (members.length === 0) waiting.delete(j);
      niche[j] = (niche[j] as number) + 1;
    }
    return chosen.concat(picked.map((i) => ({ ind: lastInds[i] as Individual, rank: lastRank, crowding: 0 })));
  },
  pick(population: readonly Survivor[], rng: () => number): Individual {
    const a = population[randomInt(rng, population.length)] as Survivor;
    const b = population[randomInt(rng, population.length)] as Survivor;
    if (a.rank !== b.rank) return a.rank < b.rank ? a.ind : b.ind;
    if (a.ind.violation !== b.ind.violation) return a.ind.violation < b.ind.violation ? a.ind : b.ind;
    return rng() < 0.5 ? a.ind : b.ind;
  },
};
