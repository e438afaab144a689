/**
 * NSGA-II and NSGA-III on the standard test problems, discretised: every continuous variable
 * becomes an ordered dimension of evenly spaced levels in [0, 1].
 *
 * - ZDT1, ZDT2: 10 variables; x1 has 101 levels (step 0.01), x2..x10 have 21 (step 0.05).
 *   True-front hypervolume at reference (1, 1): 2/3 (ZDT1), 1/3 (ZDT2); the discretised optimum
 *   reaches 0.992 and 0.985 of it (a staircase of 101 points).
 * - DTLZ2 (3 objectives, k = 5): 7 variables; x1, x2 have 21 levels, x3..x7 have 11 (0.5, the
 *   optimum of the distance variables, is a level). True-front hypervolume at (1, 1, 1):
 *   1 - pi/6 (the unit cube minus the sphere's octant).
 *
 * The fractions asserted below are what seeds 1-3 reach with a margin (measured: ZDT1 plain
 * NSGA-II >= 0.979, NSGA-III >= 0.936 at 3000 evaluations; ZDT2 plain with population 100 at
 * 5000: NSGA-II >= 0.91, NSGA-III >= 0.73; default memetic search at 1000: >= 0.92 on both;
 * DTLZ2 plain at 3000: NSGA-II >= 0.90, NSGA-III >= 0.917).
 */
import { describe, expect, it } from "vitest";
import { dominates } from "../../src/search/dominance.js";
import { hypervolume } from "../../src/search/hypervolume.js";
import { runSearch, type SearchAlgorithm } from "../../src/search/searchEngine.js";
import { Space } from "../../src/search/space.js";

const levels = (k: number) => Array.from({ length: k }, (_, i) => i / (k - 1));
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);

interface Problem {
  space: Space;
  f: (x: number[]) => number[];
  reference: number[];
  trueHv: number;
}

function zdt(concave: boolean): Problem {
  const n = 10;
  return {
    space: new Space(Array.from({ length: n }, (_, i) => ({ name: `x${i}`, values: levels(i === 0 ? 101 : 21), ordered: true }))),
    f: (x) => {
      const g = 1 + (9 / (n - 1)) * sum(x.slice(1));
      const r = x[0]! / g;
      return [x[0]!, g * (1 - (concave ? r * r : Math.sqrt(r)))];
    },
    reference: [1, 1],
    trueHv: concave ? 1 / 3 : 2 / 3,
  };
}

const dtlz2: Problem = {
  space: new Space(Array.from({ length: 7 }, (_, i) => ({ name: `x${i}`, values: levels(i < 2 ? 21 : 11), ordered: true }))),
  f: (x) => {
    const g = sum(x.slice(2).map((v) => (v - 0.5) ** 2));
    const a = (x[0]! * Math.PI) / 2;
    const b = (x[1]! * Math.PI) / 2;
    return [(1 + g) * Math.cos(a) * Math.cos(b), (1 + g) * Math.cos(a) * Math.sin(b), (1 + g) * Math.sin(a)];
  },
  reference: [1, 1, 1],
  trueHv: 1 - Math.PI / 6,
};

async function hvFraction(p: Problem, algorithm: SearchAlgorithm, budget: number, seed: number, extra: { memetic?: boolean; populationSize?: number } = {}): Promise<number> {
  const r = await runSearch({
    space: p.space,
    budget,
    seed,
    algorithm,
    ...extra,
    evaluate: async (_g, config) => ({ objectives: p.f(Object.values(config) as number[]), violation: 0 }),
  });
  expect(r.evaluated).toHaveLength(budget);
  expect(new Set(r.evaluated.map((i) => i.id)).size).toBe(budget);
  const pts = r.evaluated.map((i) => i.objectives);
  const front = pts.filter((q) => !pts.some((o) => dominates(o, q)));
  return hypervolume(front, p.reference) / p.trueHv;
}

const seeds = [1, 2, 3];

describe("NSGA-II and NSGA-III on discretised ZDT1, ZDT2 and DTLZ2", () => {
  it.each([
    ["nsga2", 0.95],
    ["nsga3", 0.9],
  ] as const)("ZDT1, plain %s, 3000 evaluations: >= %s of the true front's hypervolume (2/3)", async (alg, frac) => {
    for (const seed of seeds) expect(await hvFraction(zdt(false), alg, 3000, seed, { memetic: false })).toBeGreaterThanOrEqual(frac);
  });

  it.each([
    ["nsga2", 0.85],
    ["nsga3", 0.65],
  ] as const)("ZDT2, plain %s, population 100, 5000 evaluations: >= %s of the true front's hypervolume (1/3)", async (alg, frac) => {
    for (const seed of seeds) expect(await hvFraction(zdt(true), alg, 5000, seed, { memetic: false, populationSize: 100 })).toBeGreaterThanOrEqual(frac);
  });

  it.each(["nsga2", "nsga3"] as const)("ZDT1 and ZDT2, %s with the memetic step (the default), 1000 evaluations: >= 0.9 of the true hypervolume", async (alg) => {
    for (const seed of seeds) {
      expect(await hvFraction(zdt(false), alg, 1000, seed)).toBeGreaterThanOrEqual(0.9);
      expect(await hvFraction(zdt(true), alg, 1000, seed)).toBeGreaterThanOrEqual(0.9);
    }
  });

  it.each([
    ["nsga2", 0.88],
    ["nsga3", 0.9],
  ] as const)("DTLZ2 with 3 objectives, plain %s, 3000 evaluations: >= %s of the true hypervolume (1 - pi/6)", async (alg, frac) => {
    for (const seed of seeds) expect(await hvFraction(dtlz2, alg, 3000, seed, { memetic: false })).toBeGreaterThanOrEqual(frac);
  });

  it("random search stays well below NSGA on ZDT1 at the same budget (the tests can tell them apart)", async () => {
    const random = await hvFraction(zdt(false), "random", 3000, 1);
    const nsga = await hvFraction(zdt(false), "nsga2", 3000, 1, { memetic: false });
    expect(random).toBeLessThan(0.8);
    expect(nsga).toBeGreaterThan(random + 0.1);
  });
});
