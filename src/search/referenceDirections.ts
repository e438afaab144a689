/**
 * Das and Dennis's structured reference directions for NSGA-III: every point of the unit
 * simplex in M dimensions whose coordinates are multiples of 1/p; there are C(p + M - 1, M - 1).
 */
export function referenceDirections(m: number, p: number): number[][] {
  if (!Number.isInteger(m) || m < 1) throw new RangeError(`reference directions need a whole number of objectives >= 1, not ${m}`);
  if (!Number.isInteger(p) || p < 1) throw new RangeError(`reference directions need a whole number of divisions >= 1, not ${p}`);
  const out: number[][] = [];
  const walk = (prefix: number[], left: number): void => {
    if (prefix.length === m - 1) {
      out.push([...prefix, left].map((x) => x / p));
      return;
    }
    for (let i = 0; i <= left; i++) walk([...prefix, i], left - i);
  };
  walk([], p);
  return out;
}

const binom = (n: number, k: number): number => {
  let r = 1;
  for (let i = 1; i <= k; i++) r = (r * (n - k + i)) / i;
  return Math.round(r);
};

/** The largest number of divisions whose direction count does not exceed `population` (at least 1). */
export function divisionsFor(m: number, population: number): number {
  let p = 1;
  while (binom(p + 1 + m - 1, m - 1) <= population) p++;
  return p;
}
