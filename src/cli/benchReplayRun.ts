/**
 * `splitwatt bench --replay`: read the pool, the front, the traces; build the strategies (the
 * daemon's policies); stream the workload through the replay engine; write results.json,
 * summary.md, report.html (and requests.csv with --per-request).
 */
import { createWriteStream, readFileSync } from "node:fs";
import { once } from "node:events";
import { join, resolve } from "node:path";
import type { BenchResults } from "../contracts/benchResults.js";
import { mergeTraces, parseConditionsTrace, type ConditionsTrace } from "../contracts/conditionsTrace.js";
import { readParetoFile, type LoadedParetoFile } from "../contracts/paretoFile.js";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { benchDocument, configurationKeys } from "../replay/benchDocument.js";
import { benchReplay, type ReplayStrategy, type RequestSink } from "../replay/benchReplay.js";
import { PoolRuns, type RunOutcome } from "../replay/poolRuns.js";
import { workloadStream, type TimedRequest, type WorkloadSummary } from "../replay/workloadStream.js";
import { createPolicy } from "../schedule/policies/index.js";
import { benchProgress } from "./benchOptions.js";
import { readPool } from "./readPool.js";

/** A strategy to run: its name in the results, the policy behind it, and options of its own (merged over the shared ones). */
export interface StrategySpec {
  name: string;
  policy: string;
  options?: Record<string, unknown>;
}

export interface ReplayBenchInput {
  poolPath: string;
  workloadPath: string;
  frontPath: string;
  network?: string | undefined;
  strategies: readonly (string | StrategySpec)[];
  seed: number;
  out: string;
  perRequest: boolean;
  bandwidthTrace?: string | undefined;
  loadTrace?: string | undefined;
  intervalMs: number;
  policyOptions: Record<string, unknown>;
  minAccuracy?: number | undefined;
  /** no progress lines */
  quiet?: boolean;
  /** a pool already read (the reproduction replays one pool many times) */
  pool?: { runs: PoolRuns; sha256: string } | undefined;
  /** a front already loaded */
  front?: { loaded: LoadedParetoFile; text: string } | undefined;
  /** write summary.md and report.html too (default true) */
  reports?: boolean;
}

/** A pareto file for the benchmark: the user's file, so an invalid one is a user error. */
export function loadFront(path: string): { loaded: LoadedParetoFile; text: string } {
  try {
    const loaded = readParetoFile(path);
    return { loaded, text: readFileSync(path, "utf8") };
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
    throw e;
  }
}

function readTrace(path: string, what: string): ConditionsTrace {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path} (${(e as NodeJS.ErrnoException).code ?? "error"}); give a CSV with TimeMs and BandwidthMbps / ServerWaitMs columns (splitwatt workload --bandwidth writes one)`, { path, cause: e });
  }
  try {
    return parseConditionsTrace(text, path);
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
    throw e;
  }
}

/** The pool and the front must describe the same space. */
export function checkPoolMatchesFront(pool: PoolRuns, poolPath: string, front: LoadedParetoFile, frontPath: string): void {
  const fd = front.doc.space.dimensions.map((d) => d.name).sort();
  if (fd.join("\u0000") !== pool.dimensions.join("\u0000")) {
    throw new UsageError(
      `pool ${poolPath} has configuration dimensions ${pool.dimensions.join(", ")} but front ${frontPath} has ${fd.join(", ")}; pass the pool the front was optimised on (or write a front for this pool: splitwatt optimize --replay ${poolPath})`,
    );
  }
}

/** --per-request: requests.csv, one row per request and strategy. */
function requestsCsv(file: string, strategies: readonly string[], keys: readonly string[]): RequestSink & { close(): Promise<void> } {
  const stream = createWriteStream(file);
  let error: NodeJS.ErrnoException | null = null;
  stream.on("error", (e) => (error = e));
  let buf = "Index,Network,ArrivalMs,DeadlineMs,Strategy,Config,LatencyMs,EnergyJ,DeviceJ,NetworkJ,ServerJ,Met\n";
  const n = (x: number) => (x === x ? String(x) : "");
  const quoted = keys.map((k) => `"${k.replace(/"/g, '""')}"`);
  const fail = () => new IoError(`cannot write ${file} (${error?.code ?? "error"}); check the output directory`, { path: file, cause: error });
  return {
    add(s: number, r: TimedRequest, config: number, o: RunOutcome) {
      buf += `${r.index},${r.network ?? ""},${r.tMs},${r.deadlineMs},${strategies[s]},${quoted[config]},${o.latencyMs},${o.energyJ},${n(o.deviceJ)},${n(o.networkJ)},${n(o.serverJ)},${o.latencyMs <= r.deadlineMs ? 1 : 0}\n`;
    },
    async flush() {
      if (error !== null) throw fail();
      if (buf.length === 0) return;
      const ok = stream.write(buf);
      buf = "";
      if (!ok) await once(stream, "drain");
    },
    async close() {
      await this.flush();
      stream.end();
      await once(stream, "finish").catch(() => undefined);
      if (error !== null) throw fail();
    },
  };
}

export async function replayBench(i: ReplayBenchInput): Promise<BenchResults> {
  const t0 = performance.now();
  const poolRead = i.pool ?? (await (async () => {
    const p = await readPool(i.poolPath);
    return { runs: new PoolRuns(p.pool), sha256: p.sha256 };
  })());
  const pool = poolRead.runs;
  const front = i.front ?? loadFront(i.frontPath);
  if (i.quiet !== true) for (const w of front.loaded.warnings) process.stderr.write(`splitwatt: warning: ${w}\n`);
  checkPoolMatchesFront(pool, i.poolPath, front.loaded, i.frontPath);
  const bw = i.bandwidthTrace === undefined ? null : readTrace(i.bandwidthTrace, "bandwidth trace");
  if (bw !== null && !bw.figures.includes("BandwidthMbps")) throw new UsageError(`bandwidth trace ${i.bandwidthTrace} has no BandwidthMbps column; pass a server-load trace with --load-trace`);
  const load = i.loadTrace === undefined ? null : readTrace(i.loadTrace, "server-load trace");
  if (load !== null && !load.figures.includes("ServerWaitMs")) throw new UsageError(`server-load trace ${i.loadTrace} has no ServerWaitMs column; pass a bandwidth trace with --bandwidth-trace`);
  const trace = bw !== null && load !== null ? mergeTraces(bw, load) : (bw ?? load);

  const specs = i.strategies.map((s): StrategySpec => (typeof s === "string" ? { name: s, policy: s } : s));
  const strategies: ReplayStrategy[] = specs.map((s) => ({ name: s.name, policy: createPolicy(s.policy, front.loaded, { ...i.policyOptions, ...s.options }) }));
  const keys = configurationKeys(front.loaded);
  const sink = i.perRequest ? requestsCsv(join(i.out, "requests.csv"), specs.map((s) => s.name), keys) : undefined;
  const summary: WorkloadSummary = { sha256: "", requests: 0, networks: new Map() };
  const progress = i.quiet === true ? null : benchProgress("bench");
  if (sink !== undefined) {
    const { mkdirSync } = await import("node:fs");
    try {
      mkdirSync(i.out, { recursive: true });
    } catch (e) {
      throw new IoError(`cannot create ${i.out} (${(e as NodeJS.ErrnoException).code ?? "error"}); pass a writable --out directory`, { path: i.out, cause: e });
    }
  }
  const r = await benchReplay({
    strategies,
    pool,
    configurationKeys: keys,
    requests: workloadStream(i.workloadPath, { network: i.network, intervalMs: i.intervalMs, summary }),
    trace,
    seed: i.seed,
    minAccuracy: i.minAccuracy,
    sink,
    timeline: trace !== null,
    onProgress: progress === null ? undefined : (n) => progress.update(n),
  });
  await sink?.close();
  progress?.done(r.requests);
  const doc = benchDocument({
    mode: "replay",
    seed: i.seed,
    workload: { path: resolve(i.workloadPath), sha256: summary.sha256, network: i.network ?? null, intervalMs: i.intervalMs },
    front: { path: resolve(i.frontPath), text: front.text, file: front.loaded },
    pool: { path: resolve(i.poolPath), sha256: poolRead.sha256, runs: pool.runs, configurations: pool.configurations },
    daemon: null,
    traces: { bandwidth: i.bandwidthTrace === undefined ? null : resolve(i.bandwidthTrace), load: i.loadTrace === undefined ? null : resolve(i.loadTrace), merged: trace },
    policyOptions: { ...i.policyOptions, ...Object.fromEntries(specs.filter((s) => s.options !== undefined).map((s) => [s.name, s.options])) },
    tallies: r.tallies,
    sources: () => ({ label: "replay", sources: pool.energySources }),
    runsOf: (key) => pool.runsOf(key)?.length ?? null,
    deadlines: r.deadlines,
    deadlineSumMs: r.deadlineSumMs,
    requests: r.requests,
    timeline: r.timeline,
    wallMs: performance.now() - t0,
    note: `replayed ${r.requests} requests x ${strategies.length} strategies in ${((performance.now() - t0) / 1000).toFixed(2)} s`,
  });
  const { writeBenchResults } = await import("../contracts/benchResults.js");
  writeBenchResults(i.out, doc);
  if (i.reports !== false) {
    const { writeReport } = await import("../report/writeReport.js");
    await writeReport(i.out, doc);
  }
  return doc;
}
