/**
 * The order in which a live benchmark sends the strategies' copies of one workload request: the
 * rows of a Williams design (a Latin square balanced for first-order carry-over), one row per
 * request in turn. Over one cycle of rows (S rows for S strategies when S is even, 2S when odd):
 *
 *   - every row sends each strategy once;
 *   - every strategy is sent first, second, ..., last equally often, so a drift of the machine
 *     within a request's copies (warmer CPU, the link estimator's state) falls on all alike;
 *   - every strategy directly follows every other one equally often, so what a strategy leaves
 *     behind (the CPU frequency it set, the configuration it ran, bytes queued on the link)
 *     falls on all the others alike.
 *
 * Row r (even S): (b_j + r) mod S with b = 0, 1, S-1, 2, S-2, ...; odd S adds those rows reversed.
 */
export function liveOrder(request: number, strategies: number): number[] {
  if (!Number.isInteger(strategies) || strategies < 1) throw new RangeError(`liveOrder needs at least one strategy, got ${strategies}`);
  const S = strategies;
  const rows = liveOrderCycle(S);
  const r = request % rows;
  const base: number[] = [0];
  for (let k = 1; base.length < S; k++) {
    base.push(k);
    if (base.length < S) base.push(S - k);
  }
  const row = base.map((b) => (b + (r % S)) % S);
  return r < S ? row : row.reverse();
}

/** Requests per balanced cycle of liveOrder: S for an even number of strategies, 2S for an odd one (1 for one). */
export function liveOrderCycle(strategies: number): number {
  return strategies === 1 ? 1 : strategies % 2 === 0 ? strategies : 2 * strategies;
}
