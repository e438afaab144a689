import type * as ort from "onnxruntime-node";
import type { ModelSession } from "./modelSession.js";

/** First-run versus steady-state latency of a fresh session. */
export interface WarmUpTimes {
  /** the first run: on the WebGPU provider it compiles every shader (seconds on a software GPU) */
  firstRunMs: number;
  /** median of the runs after it */
  steadyRunMs: number;
  steadyRunsMs: number[];
}

/**
 * Run a fresh session once and then `steadyRuns` more times, timing each: the switch cost of an
 * accelerator (shader compilation on WebGPU, kernel selection elsewhere) is the first run minus
 * the steady state, and is reported, not hidden. `clock` is injectable for tests.
 */
export async function warmUp(
  session: Pick<ModelSession, "run">,
  feeds: Record<string, ort.Tensor>,
  steadyRuns = 3,
  clock: () => number = () => performance.now(),
): Promise<WarmUpTimes> {
  if (!Number.isInteger(steadyRuns) || steadyRuns < 1) throw new RangeError(`steadyRuns must be a positive integer, got ${steadyRuns}`);
  const timed = async (): Promise<number> => {
    const t0 = clock();
    await session.run(feeds);
    return clock() - t0;
  };
  const firstRunMs = await timed();
  const steadyRunsMs: number[] = [];
  for (let i = 0; i < steadyRuns; i++) steadyRunsMs.push(await timed());
  const sorted = [...steadyRunsMs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const steadyRunMs = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { firstRunMs, steadyRunMs, steadyRunsMs };
}

/** What opening and warming up a head on a target took (SplitExecutor.warmUpHead). */
export interface HeadWarmUp extends WarmUpTimes {
  /** the head's execution target, canonical name (`cpu`, `cpu:2`, `webgpu`) */
  target: string;
  /** creating the head's session (loading the model onto the target) */
  sessionCreateMs: number;
}

/**
 * The switch cost of an accelerator, ms, as the daemon counts it when it changes the head's
 * target: what the switch adds to the request that first runs on the new target, i.e. creating
 * the session plus the first run's excess over the steady state (shader compilation on WebGPU,
 * kernel selection elsewhere). Never negative. Measure it with SplitExecutor.warmUpHead: it
 * depends on the model, the cut, the target and what is cached (Mesa's shader cache on disk,
 * onnxruntime's per-process program cache), so a switch back to a target in the same process
 * costs less than the first.
 */
export function acceleratorSwitchCostMs(w: Pick<HeadWarmUp, "sessionCreateMs" | "firstRunMs" | "steadyRunMs">): number {
  return w.sessionCreateMs + Math.max(0, w.firstRunMs - w.steadyRunMs);
}
