/**
 * Variation for integer and categorical genes: uniform crossover (each gene from either parent
 * with probability 1/2), then per-gene mutation with probability `rate`: an ordered gene steps to
 * an adjacent value (inward at the ends), a categorical gene is reset to any other value.
 */
import type { Genome, Space } from "./space.js";
import { randomInt } from "./strategy.js";

export function variation(space: Space, a: Genome, b: Genome, rng: () => number, rate = 1 / space.dimensions.length): number[] {
  const child = a.map((x, i) => (rng() < 0.5 ? x : (b[i] as number)));
  return mutate(space, child, rng, rate);
}

/** Per-gene mutation of `genome` (a copy is returned). */
export function mutate(space: Space, genome: Genome, rng: () => number, rate: number): number[] {
  const g = [...genome];
  space.dimensions.forEach((d, i) => {
    const size = d.values.length;
    if (size < 2 || rng() >= rate) return;
    const x = g[i] as number;
    if (d.ordered) {
      const up = x === 0 ? true : x === size - 1 ? false : rng() < 0.5;
      g[i] = up ? x + 1 : x - 1;
    } else {
      const other = randomInt(rng, size - 1);
      g[i] = other >= x ? other + 1 : other;
    }
  });
  return g;
}
