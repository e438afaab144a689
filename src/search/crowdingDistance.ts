/**
 * NSGA-II crowding distance of the members of one front: per objective, the normalised gap
 * between each member's two neighbours; boundary members get Infinity.
 */
export function crowdingDistance(objectives: readonly (readonly number[])[]): number[] {
  const n = objectives.length;
  const d = new Array<number>(n).fill(0);
  if (n === 0) return d;
  const m = (objectives[0] as readonly number[]).length;
  for (let k = 0; k < m; k++) {
    const order = [...Array(n).keys()].sort((a, b) => (objectives[a] as readonly number[])[k]! - (objectives[b] as readonly number[])[k]! || a - b);
    const lo = (objectives[order[0] as number] as readonly number[])[k] as number;
    const hi = (objectives[order[n - 1] as number] as readonly number[])[k] as number;
    d[order[0] as number] = Infinity;
    d[order[n - 1] as number] = Infinity;
    const range = hi - lo;
    if (range <= 0) continue;
    for (let i = 1; i < n - 1; i++) {
      const idx = order[i] as number;
      const gap = ((objectives[order[i + 1] as number] as readonly number[])[k]! - (objectives[order[i - 1] as number] as readonly number[])[k]!) / range;
      d[idx] = (d[idx] as number) + gap;
    }
  }
  return d;
}
