/**
 * Fast non-dominated sort (Deb et al., NSGA-II): O(M N^2) comparisons. With `violations` it
 * ranks by constraint-domination (see dominance.ts), so feasible fronts come first.
 */
import { constraintDominates, dominates } from "./dominance.js";

/**
 * Fronts as lists of indices into `objectives`: front 0 is the non-dominated set, front 1 is
 * non-dominated once front 0 is removed, and so on. Indices inside a front are ascending.
 */
export function nonDominatedSort(objectives: readonly (readonly number[])[], violations?: readonly number[]): number[][] {
  const n = objectives.length;
  const beats = violations
    ? (i: number, j: number) =>
        constraintDominates(
          { objectives: objectives[i] as readonly number[], violation: violations[i] ?? 0 },
          { objectives: objectives[j] as readonly number[], violation: violations[j] ?? 0 },
        )
    : (i: number, j: number) => dominates(objectives[i] as readonly number[], objectives[j] as readonly number[]);
  const dominated: number[][] = Array.from({ length: n }, () => []);
  const count = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (beats(i, j)) {
        (dominated[i] as number[]).push(j);
        count[j] = (count[j] as number) + 1;
      } else if (beats(j, i)) {
        (dominated[j] as number[]).push(i);
        count[i] = (count[i] as number) + 1;
      }
    }
  }
  const fronts: number[][] = [];
  let current: number[] = [];
  for (let i = 0; i < n; i++) if (count[i] === 0) current.push(i);
  while (current.length > 0) {
    fronts.push(current);
    const next: number[] = [];
    for (const i of current) {
      for (const j of dominated[i] as number[]) {
        count[j] = (count[j] as number) - 1;
        if (count[j] === 0) next.push(j);
      }
    }
    next.sort((a, b) => a - b);
    current = next;
  }
  return fronts;
}
