/**
 * Which CPU heads run on the event loop's thread instead of the device thread.
 *
 * A call on the device thread (runtime/deviceThread.ts) costs a hop: the inputs are copied, two
 * threads wake, the outputs come back; 0.1-0.3 ms here, more than a small head computes. A head
 * that computes that briefly blocks the event loop for less than the hop would cost, so it runs
 * in place. The rule, per executor (cut and device target):
 *
 *   inline  iff  the target is the CPU, the front measured a head time for every configuration
 *                that uses the executor, and the longest of them is <= inlineHeadMs
 *
 * The whole model (the local fallback, `${lastCut}|cpu`) is judged by the front's all-on-device
 * CPU configurations; without one it stays on the device thread. `inlineHeadMs` 0 puts every
 * head on the device thread. The measured time is the front's (this board, at the configuration's
 * frequency), so a head that is slower now than profiled blocks the loop longer by that factor.
 */

/** One configuration's head: its executor, whether that runs on the CPU, and the head time the front measured (null: none). */
export interface HeadUse {
  executorKey: string;
  cpu: boolean;
  headMs: number | null;
}

/** The executor keys whose heads run on the event loop (the rule above). */
export function inlineHeads(uses: Iterable<HeadUse>, inlineHeadMs: number): Set<string> {
  const longest = new Map<string, number | null>();
  for (const u of uses) {
    const was = longest.get(u.executorKey);
    longest.set(u.executorKey, !u.cpu || u.headMs === null || was === null ? null : Math.max(was ?? 0, u.headMs));
  }
  const out = new Set<string>();
  if (!(inlineHeadMs > 0)) return out;
  for (const [key, ms] of longest) if (ms !== null && ms <= inlineHeadMs) out.add(key);
  return out;
}
