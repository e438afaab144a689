/**
 * Seeded pseudo-random numbers for the evaluation sets: sfc32 seeded through splitmix32, integer
 * arithmetic only, so a (seed, stream) pair gives the same sequence on every platform and Node version.
 */

/** splitmix32 step: a well-mixed 32-bit hash of `x`. */
export function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

export interface Rng {
  /** uniform in [0, 1) with 32 bits of resolution */
  next(): number;
  /** uniform in [lo, hi) */
  uniform(lo: number, hi: number): number;
  /** uniform integer in [lo, hi] (both inclusive) */
  int(lo: number, hi: number): number;
  /** true with probability p */
  chance(p: number): boolean;
  /** one element of a non-empty array */
  pick<T>(xs: readonly T[]): T;
  /** approximately standard normal (Irwin–Hall sum of 4 uniforms, rescaled; no transcendental functions) */
  normal(): number;
}

/** An independent generator for stream `stream` of `seed` (e.g. one stream per sample). */
export function makeRng(seed: number, stream = 0): Rng {
  let a = mix32(seed >>> 0);
  let b = mix32((a ^ Math.imul(stream >>> 0, 0x27d4eb2d)) >>> 0);
  let c = mix32((b + 0x165667b1) >>> 0);
  let d = 1;
  const u32 = (): number => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = (b ^ (b >>> 9)) >>> 0;
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) u32();
  const next = (): number => u32() / 4294967296;
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick<T>(xs: readonly T[]): T {
      if (xs.length === 0) throw new RangeError("pick from an empty array");
      return xs[Math.floor(next() * xs.length)] as T;
    },
    // sum of 4 U(0,1) has mean 2 and variance 4/12 = 1/3
    normal: () => (next() + next() + next() + next() - 2) * Math.sqrt(3),
  };
}
