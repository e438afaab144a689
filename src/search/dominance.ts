/**
 * Pareto dominance (all objectives minimised) and Deb's constraint-domination: a feasible
 * solution (violation 0) beats an infeasible one, of two infeasible ones the smaller total
 * violation wins, and two feasible ones compare by Pareto dominance.
 */

/** true when `a` is no worse than `b` in every objective and better in at least one */
export function dominates(a: readonly number[], b: readonly number[]): boolean {
  let better = false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    if (x > y) return false;
    if (x < y) better = true;
  }
  return better;
}

export interface Scored {
  /** objective vector, minimised */
  objectives: readonly number[];
  /** total constraint violation, 0 when feasible */
  violation: number;
}

/** Deb's constraint-domination of `b` by `a`. */
export function constraintDominates(a: Scored, b: Scored): boolean {
  const fa = a.violation <= 0;
  const fb = b.violation <= 0;
  if (fa && fb) return dominates(a.objectives, b.objectives);
  if (fa !== fb) return fa;
  return a.violation < b.violation;
}
