/**
 * Exact hypervolume (all objectives minimised) of the region dominated by `points` and bounded
 * by `reference`, for 1, 2 and 3 objectives: a sweep in 2-D, slicing along the third
 * objective in 3-D (O(N^2 log N)). Points that do not strictly dominate the reference in every
 * objective add nothing.
 */
import { UsageError } from "../errors.js";

function hv2(points: readonly (readonly number[])[], rx: number, ry: number): number {
  const pts = points.filter((p) => (p[0] as number) < rx && (p[1] as number) < ry).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
  let area = 0;
  let bound = ry;
  for (const p of pts) {
    const y = p[1] as number;
    if (y < bound) {
      area += (rx - (p[0] as number)) * (bound - y);
      bound = y;
    }
  }
  return area;
}

export function hypervolume(points: readonly (readonly number[])[], reference: readonly number[]): number {
  const m = reference.length;
  for (const p of points) {
    if (p.length !== m) throw new UsageError(`hypervolume: a point has ${p.length} objectives but the reference has ${m}; give vectors of one length`);
  }
  if (m === 1) {
    const r = reference[0] as number;
    return points.reduce((best, p) => Math.max(best, r - (p[0] as number)), 0);
  }
  if (m === 2) return hv2(points, reference[0] as number, reference[1] as number);
  if (m === 3) {
    const [rx, ry, rz] = reference as [number, number, number];
    const pts = points.filter((p) => p[0]! < rx && p[1]! < ry && p[2]! < rz).sort((a, b) => a[2]! - b[2]!);
    let volume = 0;
    for (let i = 0; i < pts.length; i++) {
      const z = pts[i]![2]!;
      const zNext = i + 1 < pts.length ? pts[i + 1]![2]! : rz;
      if (zNext <= z) continue;
      volume += hv2(pts.slice(0, i + 1), rx, ry) * (zNext - z);
    }
    return volume;
  }
  throw new UsageError(`hypervolume is implemented for 1 to 3 objectives, not ${m}; choose at most three objectives`);
}

/**
 * Map points to [0, 1] per objective by `ideal` (-> 0) and `nadir` (-> 1); an objective whose
 * range is zero maps to 0.
 */
export function normalizePoints(points: readonly (readonly number[])[], ideal: readonly number[], nadir: readonly number[]): number[][] {
  return points.map((p) => p.map((x, k) => {
    const range = (nadir[k] as number) - (ideal[k] as number);
    return range > 0 ? (x - (ideal[k] as number)) / range : 0;
  }));
}
