/**
 * `splitwatt bench --daemon [URL]`: the live mode. With a URL, a running `splitwatt daemon`;
 * without, an in-process daemon and a local tail server on this machine behind the shaped link
 * (src/replay/liveRig.ts). The workload's deadlines go to the daemon once per strategy
 * (src/replay/liveBench.ts), and the answers become the same results document a replay writes
 * (mode "live"), with summary.md and report.html. Ctrl-C (or SIGTERM) stops the run and keeps
 * what was measured (exit 130); a second Ctrl-C leaves at once.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, extname, join, resolve } from "node:path";
import type { BenchResults, LiveRun } from "../contracts/benchResults.js";
import type { ConditionsTrace } from "../contracts/conditionsTrace.js";
import { readDaemonConfig, type DaemonConfigFile } from "../contracts/daemonConfig.js";
import type { LoadedParetoFile } from "../contracts/paretoFile.js";
import { env } from "../env.js";
import { InterruptedError, IoError, SplitwattError, UsageError } from "../errors.js";
import { onInterrupt, type ShutdownSignal } from "../shutdown.js";
import { benchDocument, configurationKeys } from "../replay/benchDocument.js";
import { liveSourceLabel } from "../replay/liveAnswer.js";
import { liveBench, warmUpStrategies, type LiveBenchResult, type Pacing } from "../replay/liveBench.js";
import { LiveDaemonClient, type DaemonStatus } from "../replay/liveDaemonClient.js";
import { liveOrderCycle } from "../replay/liveOrder.js";
import type { LiveRig } from "../replay/liveRig.js";
import { loadFront, PER_REQUEST_HEADER } from "../replay/replayJob.js";
import { CDF_POINTS } from "../replay/strategyTally.js";
import { workloadStream, type WorkloadSummary } from "../replay/workloadStream.js";
import { benchProgress, parseStrategies, policyOptions, type BenchCliOptions } from "./benchOptions.js";
import { readTrace } from "./benchReplayRun.js";

const POLICY_FLAGS = [
  ["target", "--target"],
  ["minSamples", "--min-samples"],
  ["cvFloor", "--cv-floor"],
  ["hysteresis", "--hysteresis"],
  ["staticConfig", "--static-config"],
] as const;

/** Everything checked before a daemon starts or is asked anything (one line, exit 2). */
function checkOptions(o: BenchCliOptions, url: string | null): { workload: string; front: string } {
  if (o.workload === undefined || o.front === undefined) {
    throw new UsageError("--daemon needs --workload TRACE.csv and --front FILE.pareto.json (the front the daemon runs, from splitwatt optimize --model)");
  }
  if (o.loadTrace !== undefined) throw new UsageError("--load-trace applies to --replay only: a live run's server load is the real one; leave it out");
  if (o.perRequest && o.json) throw new UsageError("--per-request writes DIR/requests.csv and --json prints results.json: give one of them");
  if (url !== null) {
    if (o.bandwidthTrace !== undefined) throw new UsageError("--bandwidth-trace needs the in-process daemon (--daemon without a URL), whose link this bench shapes; a daemon given by URL runs on its own network");
    for (const k of ["daemonConfig", "link"] as const) {
      if (o[k] !== undefined) throw new UsageError(`--${k === "daemonConfig" ? "daemon-config" : "link"} sets up the in-process daemon (--daemon without a URL); a daemon given by URL has its own options`);
    }
    const flag = POLICY_FLAGS.find(([k]) => o[k] !== undefined);
    if (flag !== undefined) throw new UsageError(`${flag[1]} sets the in-process daemon's policies; a daemon given by URL uses its own policy options (its --config policyOptions): leave it out or use --daemon without a URL`);
  }
  return { workload: o.workload, front: o.front };
}

/** The workload read once before anything starts: its errors are one line, and the number of requests is known. */
async function readWorkload(path: string, o: BenchCliOptions): Promise<WorkloadSummary & { lastMs: number }> {
  const summary: WorkloadSummary = { sha256: "", requests: 0, networks: new Map() };
  let lastMs = 0;
  for await (const batch of workloadStream(path, { network: o.network, intervalMs: o.intervalMs, summary })) lastMs = batch[batch.length - 1]?.tMs ?? lastMs;
  return { ...summary, lastMs };
}

/** The device energy source as the daemon's status names it. */
function deviceEnergyLabel(s: DaemonStatus, utilisation: string | null): string {
  const e = s.energy;
  if (e === undefined) return "unknown (the daemon does not say)";
  if (e.estimated === true) return `estimate (board ${e.board ?? "?"} power model${utilisation === null ? "" : ` x ${utilisation === "process" ? "this process's" : "the system's"} CPU utilisation`})`;
  const dev = Array.isArray(e.device) ? e.device.join(", ") : (e.device ?? "?");
  return `measured (${dev}${e.meter ? `; meter ${e.meter}` : ""})`;
}

/** A URL-given daemon must run the front's model (and the one --model names). */
function checkDaemonModel(s: DaemonStatus, url: string, front: LoadedParetoFile, frontPath: string, model: string | undefined): void {
  const sha = front.doc.source.modelSha256;
  if (model !== undefined && model !== s.model.name && model !== s.model.spec) {
    throw new UsageError(`the daemon at ${url} serves model "${s.model.name}" (${s.model.spec}), not ${model}: give the URL of a daemon for ${model}, or leave out --model`);
  }
  if (typeof sha !== "string") throw new UsageError(`${frontPath} does not say which model it was made for (source.modelSha256): give the front the daemon runs (written by splitwatt optimize --model)`);
  if (sha !== s.model.sha256) {
    throw new UsageError(
      `the daemon at ${url} serves model "${s.model.name}" (${s.model.spec}, sha256 ${s.model.sha256.slice(0, 12)}...) but ${frontPath} was made for another model (sha256 ${sha.slice(0, 12)}..., "${front.doc.model}"): give the front that daemon runs, or the URL of a daemon for this front's model`,
    );
  }
}

/** A stopping error with a note on what was kept (the same code and exit code). */
function withNote(err: SplitwattError, note: string): SplitwattError {
  return new SplitwattError(err.code, `${err.message}; ${note}`, { exitCode: err.exitCode, cause: err });
}

export async function liveMode(o: BenchCliOptions, daemon: string | true): Promise<void> {
  const t0 = performance.now();
  const url = daemon === true ? null : daemon;
  const paths = checkOptions(o, url);
  const strategies = parseStrategies(o.strategies, url === null ? o : { staticConfig: "the daemon's" }).map((name) => ({ name, policy: name }));
  const front = loadFront(paths.front);
  const trace: ConditionsTrace | null = o.bandwidthTrace === undefined ? null : readTrace(o.bandwidthTrace, "bandwidth trace");
  if (trace !== null && !trace.figures.includes("BandwidthMbps")) throw new UsageError(`bandwidth trace ${o.bandwidthTrace} has no BandwidthMbps column; give TimeMs,BandwidthMbps rows (splitwatt workload --bandwidth writes them)`);
  const file: DaemonConfigFile = o.daemonConfig === undefined ? {} : readDaemonConfig(o.daemonConfig);
  const workload = await readWorkload(paths.workload, o);
  const planned = workload.requests;
  const out = o.out ?? `bench-live-${basename(paths.front, extname(paths.front)).replace(/\.pareto$/, "")}`;
  try {
    mkdirSync(out, { recursive: true });
  } catch (e) {
    throw new IoError(`cannot create ${out} (${(e as NodeJS.ErrnoException).code ?? "error"}); pass a writable --out directory`, { path: out, cause: e });
  }
  const pacing: Pacing = o.pace ?? "arrival";
  const policyOpts = url === null ? { ...(file.policyOptions ?? {}), ...policyOptions(o) } : {};

  // Ctrl-C / SIGTERM (the one signal path, src/shutdown.ts): stop and keep what was measured;
  // a second signal leaves at once, after the teardowns (the emulated link)
  const controller = new AbortController();
  let stopSignal: ShutdownSignal = "SIGINT";
  const removeInterrupt = onInterrupt((signal) => {
    stopSignal = signal;
    process.stderr.write(`${process.stderr.isTTY === true && !env().ci ? "\n" : ""}stopping: the requests answered so far are kept (${signal} again to leave at once)\n`);
    controller.abort(new InterruptedError(signal, "interrupted"));
  });
  let rig: LiveRig | null = null;
  let client: LiveDaemonClient | null = null;
  let r: LiveBenchResult;
  let status: DaemonStatus;
  let link: LiveRun["link"];
  let daemonUrl: string;
  try {
    if (url === null) {
      const { LiveRig } = await import("../replay/liveRig.js");
      const log = (rec: Record<string, unknown>): void => {
        if (rec.level === "warn" || rec.level === "error") process.stderr.write(`splitwatt: ${rec.level === "warn" ? "warning" : "error"}: daemon: ${String(rec.msg)}${rec.detail === undefined ? "" : `: ${String(rec.detail)}`}${rec.error === undefined ? "" : `: ${String(rec.error)}`}\n`);
      };
      rig = await LiveRig.start({
        daemon: { ...file, front: paths.front, model: o.model ?? file.model ?? front.doc.model, policyOptions: policyOpts },
        frontNetwork: front.doc.network,
        link: o.link ?? "auto",
        first: trace?.points[0] ?? null,
        log,
      });
      link = rig.link;
      process.stderr.write(`link: ${link.label}\n`);
      client = await LiveDaemonClient.open(rig.daemon.url);
      daemonUrl = rig.daemon.url;
    } else {
      client = await LiveDaemonClient.open(url, { token: env().token });
      daemonUrl = url;
      link = { kind: "external", label: `the daemon's own network (given by URL ${url}): not shaped or known by this bench` };
    }
    status = await client.status();
    if (url !== null) checkDaemonModel(status, url, front, paths.front, o.model);
    const inputs = await client.inputs(status.model.name, o.seed);
    const base = { client, model: status.model.name, inputs, strategies, signal: controller.signal };
    try {
      await warmUpStrategies(base);
    } catch (err) {
      if (controller.signal.aborted) throw new InterruptedError(stopSignal, "interrupted before the first request: nothing was measured");
      throw err;
    }
    const progress = benchProgress(`bench --daemon (${planned} requests x ${strategies.length} strategies)`);
    const liveRig = rig;
    r = await liveBench({
      ...base,
      configurationKeys: configurationKeys(front),
      requests: workloadStream(paths.workload, { network: o.network, intervalMs: o.intervalMs }),
      trace,
      applyConditions: liveRig === null ? null : (p) => liveRig.apply(p),
      bandwidthMbps: rig?.bandwidthMbps ?? null,
      // about 100 bins over the workload's span (the timeline merges neighbours past 200)
      timelineWidthMs: Math.max(1, Math.ceil(workload.lastMs / 100)),
      pacing,
      minAccuracy: o.minAccuracy,
      signal: controller.signal,
      onProgress: (n) => progress.update(n),
      perRequest: o.perRequest,
    });
    progress.done(r.requests);
  } finally {
    await client?.close();
    await rig?.close();
    removeInterrupt();
  }

  const answered = r.tallies.reduce((n, t) => n + t.requests, 0);
  if (answered === 0) {
    if (r.stopped !== null) throw r.stopped;
    if (r.interrupted) throw new InterruptedError(stopSignal, "interrupted before any request was answered: nothing was measured");
  }
  const doc = liveDocument({ o, r, front, frontPath: paths.front, workloadPath: paths.workload, workloadSha256: workload.sha256, trace, status, link, url, daemonUrl, planned, pacing, policyOpts, wallMs: performance.now() - t0 });
  const { writeBenchResults } = await import("../contracts/benchResults.js");
  writeBenchResults(out, doc);
  const { writeReport } = await import("../report/writeReport.js");
  await writeReport(out, doc);
  if (o.perRequest) {
    try {
      writeFileSync(join(out, "requests.csv"), `${[PER_REQUEST_HEADER, ...r.rows].join("\n")}\n`);
    } catch (e) {
      throw new IoError(`cannot write ${join(out, "requests.csv")} (${(e as NodeJS.ErrnoException).code ?? "error"}); check the output directory`, { cause: e });
    }
  }
  const wrote = `${out}/results.json, summary.md, report.html${o.perRequest ? ", requests.csv" : ""}`;
  if (o.json) process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  else {
    const { summaryMarkdown } = await import("../report/summaryTable.js");
    process.stdout.write(`${summaryMarkdown(doc)}\nwrote ${wrote}\n`);
  }
  for (const e of r.errors) process.stderr.write(`splitwatt: warning: strategy ${e.strategy}: ${e.count} request(s) answered ${e.status || "nothing"} (${e.message}); they are not in its figures\n`);
  if (r.stopped !== null) throw withNote(r.stopped, `the ${r.requests} requests before are in ${wrote}`);
  if (r.interrupted) throw new InterruptedError(stopSignal, `interrupted after ${r.requests} of ${planned} requests: what was measured is in ${wrote}`);
}

interface LiveDocumentInput {
  o: BenchCliOptions;
  r: LiveBenchResult;
  front: LoadedParetoFile;
  frontPath: string;
  workloadPath: string;
  workloadSha256: string;
  trace: ConditionsTrace | null;
  status: DaemonStatus;
  link: LiveRun["link"];
  url: string | null;
  daemonUrl: string;
  planned: number;
  pacing: Pacing;
  policyOpts: Record<string, unknown>;
  wallMs: number;
}

function liveDocument(i: LiveDocumentInput): BenchResults {
  const { o, r } = i;
  const S = r.tallies.length;
  const energyUnknown = Object.fromEntries(r.tallies.filter((t) => t.energyUnknown > 0).map((t) => [t.name, t.energyUnknown]));
  const extra = [...r.extra.entries()].map(([key, x]) => ({
    key,
    config: x.config,
    latencyMs: x.latencySum / Math.max(1, x.n),
    energyJ: x.energyN > 0 ? x.energySum / x.energyN : 0,
    onFront: false,
    runs: null,
  }));
  const notes = [
    `live: ${r.requests} of ${i.planned} requests x ${S} strategies in ${(i.wallMs / 1000).toFixed(1)} s (${i.pacing} pacing${r.maxLagMs === null ? "" : `, starts up to ${r.maxLagMs.toFixed(0)} ms late`})`,
    ...(extra.length > 0 ? [`${extra.length} configuration(s) the daemon ran are not in the front (${extra.map((e) => e.key).join("; ")}): their latency and energy in the configurations table are this run's means`] : []),
    ...(r.interrupted ? ["interrupted: the figures are of the requests answered until then"] : []),
    ...(r.stopped !== null ? [`stopped early: ${r.stopped.message}`] : []),
  ];
  const utilisation = i.url === null ? "process" : null;
  return benchDocument({
    mode: "live",
    seed: o.seed,
    workload: { path: resolve(i.workloadPath), sha256: i.workloadSha256, network: o.network ?? null, intervalMs: o.intervalMs },
    front: { path: resolve(i.frontPath), text: readFileSync(i.frontPath, "utf8"), file: i.front },
    pool: null,
    daemon: { url: i.daemonUrl, inProcess: i.url === null },
    traces: { bandwidth: o.bandwidthTrace === undefined ? null : resolve(o.bandwidthTrace), load: null, merged: i.trace },
    policyOptions: i.policyOpts,
    strategies: r.tallies.map((t, k) => {
      const sources = r.sources[k] ?? new Set<string>();
      return t.result(r.keys, liveSourceLabel(sources), [...sources].sort());
    }),
    deadlines: { min: r.deadlines.min, p50: r.deadlines.quantile(0.5), max: r.deadlines.max, sumMs: r.deadlineSumMs, cdf: r.requests > 0 ? (r.deadlines.quantiles(CDF_POINTS) as number[]) : [] },
    requests: r.requests,
    timeline: r.timeline.rows(r.keys),
    wallMs: i.wallMs,
    note: notes.join("; "),
    extraConfigurations: extra,
    live: {
      link: i.link,
      deviceEnergy: deviceEnergyLabel(i.status, utilisation),
      pacing: i.pacing,
      order: `each request's ${S} copies one after another, never overlapping, in the rows of a Williams design (cycle of ${liveOrderCycle(S)} requests): every strategy first, second, ... and right after every other one equally often`,
      plannedRequests: i.planned,
      startedRequests: r.requests,
      maxLagMs: r.maxLagMs,
      interrupted: r.interrupted,
      errors: r.errors,
      energyUnknown,
      rateChanges: r.rateChanges,
    },
  });
}
