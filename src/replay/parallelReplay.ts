/**
 * A replay job split over threads: the strategies are shared out (the ones that re-predict the
 * archive per request weigh more), each worker thread streams the workload itself and runs its
 * share, and the results are put back in the job's strategy order. Each strategy's draws depend
 * only on the seed and its name, so the figures are the same with any number of threads.
 * With --per-request each worker writes its own part, concatenated at the end (rows grouped by
 * worker, in request order within each).
 */
import { createReadStream, createWriteStream, rmSync } from "node:fs";
import { once } from "node:events";
import { Worker } from "node:worker_threads";
import { SplitwattError, type ErrorCode } from "../errors.js";
import { runReplayJob, type ReplayJob, type ReplayJobResult, type StrategySpec } from "./replayJob.js";

/** Relative cost of a strategy's decision (policies that re-predict every configuration per request weigh more). */
const WEIGHT: Record<string, number> = { splitwatt: 3, neurosurgeon: 3, "cloud-only": 2 };

/** Share the strategies out over `threads` groups, heaviest first onto the lightest group (each group keeps the job's order). */
export function shareStrategies(strategies: readonly StrategySpec[], threads: number): StrategySpec[][] {
  const k = Math.max(1, Math.min(threads, strategies.length));
  const load = new Array<number>(k).fill(0);
  const groups: number[][] = Array.from({ length: k }, () => []);
  const byWeight = strategies.map((s, i) => ({ i, w: WEIGHT[s.policy] ?? 1 })).sort((a, b) => b.w - a.w || a.i - b.i);
  for (const { i, w } of byWeight) {
    const g = load.indexOf(Math.min(...load));
    groups[g]!.push(i);
    load[g] = load[g]! + w;
  }
  return groups.filter((g) => g.length > 0).map((g) => g.sort((a, b) => a - b).map((i) => strategies[i]!));
}

function runWorker(job: ReplayJob, onProgress: (n: number) => void): Promise<ReplayJobResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./replayWorker.js", import.meta.url), { workerData: job });
    let done = false;
    w.on("message", (m: { progress?: number; result?: ReplayJobResult; error?: { code: ErrorCode | null; message: string; exitCode: number } }) => {
      if (m.progress !== undefined) onProgress(m.progress);
      else if (m.result !== undefined) {
        done = true;
        resolve(m.result);
      } else if (m.error !== undefined) {
        done = true;
        reject(m.error.code === null ? new Error(m.error.message) : new SplitwattError(m.error.code, m.error.message, { exitCode: m.error.exitCode }));
      }
    });
    w.on("error", (e) => {
      done = true;
      reject(e);
    });
    w.on("exit", (code) => {
      if (!done) reject(new Error(`replay worker exited with code ${code} before it answered`));
    });
  });
}

/** Run `job` on up to `threads` threads (1: in this thread). */
export async function parallelReplay(job: ReplayJob, threads: number, onProgress?: (requests: number) => void): Promise<ReplayJobResult> {
  const groups = shareStrategies(job.strategies, threads);
  if (groups.length <= 1) return runReplayJob(job, { onProgress });
  const seen = new Array<number>(groups.length).fill(0);
  const progress = (g: number) => (n: number) => {
    seen[g] = n;
    onProgress?.(Math.min(...seen));
  };
  const parts = groups.map((_, g) => (job.perRequestFile === null ? null : `${job.perRequestFile}.part${g}`));
  let results: ReplayJobResult[];
  try {
    results = await Promise.all(groups.map((strategies, g) => runWorker({ ...job, strategies, perRequestFile: parts[g] ?? null, perRequestHeader: g === 0 }, progress(g))));
    if (job.perRequestFile !== null) {
      const out = createWriteStream(job.perRequestFile);
      for (const p of parts) {
        for await (const chunk of createReadStream(p as string)) if (!out.write(chunk)) await once(out, "drain");
      }
      out.end();
      await once(out, "finish");
    }
  } finally {
    for (const p of parts) if (p !== null) rmSync(p, { force: true });
  }
  const first = results[0]!;
  const byName = new Map(results.flatMap((r) => r.strategies.map((s) => [s.name, s] as const)));
  const order = new Map(job.strategies.map((s, i) => [s.name, i]));
  const timeline = first.timeline === null ? null : results.flatMap((r) => r.timeline ?? []).sort((a, b) => a.startMs - b.startMs || (order.get(a.strategy) ?? 0) - (order.get(b.strategy) ?? 0));
  return { ...first, strategies: job.strategies.map((s) => byName.get(s.name)!), timeline };
}
