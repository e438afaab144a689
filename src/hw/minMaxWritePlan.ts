/**
 * Order of writes that keeps scaling_min_freq <= scaling_max_freq at every step when moving
 * from `current` to `target` (the kernel may reject, or silently clamp, a min above max).
 */
export function minMaxWritePlan(
  current: { minKHz: number; maxKHz: number },
  target: { minKHz: number; maxKHz: number },
): Array<["scaling_min_freq" | "scaling_max_freq", number]> {
  if (target.minKHz > target.maxKHz) throw new RangeError(`target min ${target.minKHz} > max ${target.maxKHz}`);
  return target.minKHz > current.maxKHz
    ? [["scaling_max_freq", target.maxKHz], ["scaling_min_freq", target.minKHz]]
    : [["scaling_min_freq", target.minKHz], ["scaling_max_freq", target.maxKHz]];
}
