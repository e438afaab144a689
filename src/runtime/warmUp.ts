import type * as ort from "onnxruntime-node";

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
  session: Pick<ort.InferenceSession, "run">,
  feeds: ort.InferenceSession.FeedsType,
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
