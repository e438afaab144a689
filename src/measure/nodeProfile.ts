/**
 * Per-node timings of the unsplit model from onnxruntime's own profiler (one Chrome-trace JSON
 * file per session): the time of every compute node, aligned with `analysis.graph.compute`, so
 * the head and tail cost of every cut can be predicted from one profiled run (Neurosurgeon's
 * per-layer profiles, measured rather than modelled).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelAnalysis } from "../model/cutPoints.js";
import type { ExecutionTarget } from "../runtime/executionTarget.js";
import { modelInputs } from "../runtime/modelInputs.js";
import { createSession } from "../runtime/sessionFactory.js";

export interface NodeProfile {
  /** mean ms per compute node, aligned with analysis.graph.compute */
  nodeMs: number[];
  /** mean wall time of a whole run, ms */
  runMs: number;
  runs: number;
  /** share of the profiled kernel time matched to named compute nodes (the rest is spread by MACs) */
  matched: number;
}

interface TraceEvent {
  cat?: string;
  name?: string;
  /** start, µs from the session's start */
  ts?: number;
  dur?: number;
}

/**
 * The events after the first run's `model_run` window (the warm-up: on WebGPU its kernels
 * include shader compilation, ~1000x a steady run on lavapipe), and how many runs they leave out
 * (1; 0 when the trace has no `model_run` event, and nothing is left out).
 */
export function afterFirstRun(events: readonly TraceEvent[]): { events: TraceEvent[]; dropped: 0 | 1 } {
  const first = events.find((e) => e.cat === "Session" && e.name === "model_run" && typeof e.ts === "number" && typeof e.dur === "number");
  if (first === undefined) return { events: [...events], dropped: 0 };
  const end = (first.ts as number) + (first.dur as number);
  return { events: events.filter((e) => typeof e.ts !== "number" || e.ts >= end), dropped: 1 };
}

/** Per-node mean times from a trace: events `<node name>_kernel_time` of category Node, dur in µs. */
export function nodeTimesFromTrace(events: readonly TraceEvent[], nodeNames: readonly string[], runs: number): { nodeMs: number[]; unmatchedMs: number } {
  const index = new Map<string, number>();
  nodeNames.forEach((n, i) => {
    if (n !== "" && !index.has(n)) index.set(n, i);
  });
  const nodeMs = nodeNames.map(() => 0);
  let unmatchedMs = 0;
  for (const e of events) {
    if (e.cat !== "Node" || typeof e.name !== "string" || !e.name.endsWith("_kernel_time") || typeof e.dur !== "number") continue;
    const i = index.get(e.name.slice(0, -"_kernel_time".length));
    const ms = e.dur / 1000 / runs;
    if (i === undefined) unmatchedMs += ms;
    else nodeMs[i] = (nodeMs[i] as number) + ms;
  }
  return { nodeMs, unmatchedMs };
}

/**
 * Profile `runs` runs (after one warm-up, whose times are left out) of the whole model with
 * these session options.
 * Kernel time of nodes the trace names differently (fused or renamed) is spread over the
 * compute nodes in proportion to their MACs.
 */
export async function nodeProfile(a: ModelAnalysis, target: ExecutionTarget, runs = 10): Promise<NodeProfile> {
  const dir = mkdtempSync(join(tmpdir(), "sw-ortprof-"));
  try {
    // the profile purpose turns optimisation off: every compute node keeps its name, so the trace maps onto the cuts
    const session = await createSession(a.model.bytes, { target, purpose: "profile", profileFilePrefix: join(dir, "p"), label: a.model.path });
    const feeds = modelInputs(a, { seed: 11 });
    await session.run(feeds); // warm-up: left out of the trace's times below (afterFirstRun)
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) await session.run(feeds);
    const runMs = (performance.now() - t0) / runs;
    session.endProfiling();
    await session.release();
    const file = readdirSync(dir).find((f) => f.endsWith(".json"));
    const trace = afterFirstRun(file === undefined ? [] : (JSON.parse(readFileSync(join(dir, file), "utf8")) as TraceEvent[]));
    const { nodeMs, unmatchedMs } = nodeTimesFromTrace(
      trace.events,
      a.graph.compute.map((n) => n.name),
      runs + 1 - trace.dropped,
    );
    const matchedMs = nodeMs.reduce((s, x) => s + x, 0);
    if (unmatchedMs > 0) {
      const macs = a.cuts.length > 0 ? nodeMacsOf(a) : nodeMs.map(() => 1);
      const total = macs.reduce((s, x) => s + x, 0) || 1;
      macs.forEach((m, i) => (nodeMs[i] = (nodeMs[i] as number) + (unmatchedMs * m) / total));
    }
    return { nodeMs, runMs, runs, matched: matchedMs + unmatchedMs === 0 ? 0 : matchedMs / (matchedMs + unmatchedMs) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** MACs per compute node, recovered from the cuts' cumulative head MACs (each cut: nodes [0, position)). */
function nodeMacsOf(a: ModelAnalysis): number[] {
  const out = a.graph.compute.map(() => 0);
  let prevPos = 0;
  let prevMacs = 0;
  for (const c of a.cuts) {
    if (c.position > prevPos) {
      const per = (c.headMacs - prevMacs) / (c.position - prevPos);
      for (let i = prevPos; i < c.position; i++) out[i] = per;
      prevPos = c.position;
      prevMacs = c.headMacs;
    }
  }
  // nodes after the last listed cut (none: the last cut holds every node) or MAC-free graphs
  if (out.every((m) => m === 0)) return out.map(() => 1);
  return out;
}
