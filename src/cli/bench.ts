import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { Command } from "commander";
import { UsageError } from "../errors.js";
import { BenchOptions, DEFAULT_STRATEGIES, parseStrategies, policyOptions, type BenchCliOptions } from "./benchOptions.js";
import { run } from "./run.js";

/**
 * True when the front was searched in this very pool (optimize --replay records the pool's
 * sha256): each archived configuration's samples are then exactly the runs the replay draws
 * from, so the empirical probability of meeting a deadline is the true one and the small-sample
 * guard (a fitted normal tail, for live fronts with few samples) would only cost energy.
 */
function frontFromThisPool(frontPath: string, poolPath: string): boolean {
  try {
    const front = JSON.parse(readFileSync(frontPath, "utf8")) as { mode?: unknown; source?: { sha256?: unknown } };
    const poolSha = createHash("sha256").update(readFileSync(poolPath, "utf8")).digest("hex");
    return front.mode === "replay" && front.source?.sha256 === poolSha;
  } catch {
    return false; // unreadable inputs are reported, in one line, by the replay itself
  }
}

/** The policies' options: the flags given; for a front from this very pool, the empirical probability unguarded unless --min-samples says otherwise. */
function replayPolicyOptions(o: BenchCliOptions, pool: string): { options: Record<string, unknown>; note: string | null } {
  const options = policyOptions(o);
  if (o.minSamples !== undefined || o.front === undefined || !frontFromThisPool(o.front, pool)) return { options, note: null };
  options.minSamples = 1;
  return {
    options,
    note: "note: the front was searched in this same pool, so its samples are the replay's whole distribution: the policies use their empirical probability as it is (--min-samples 1; give --min-samples to guard it as the daemon does)",
  };
}

async function replayMode(o: BenchCliOptions, pool: string): Promise<void> {
  if (o.workload === undefined || o.front === undefined) throw new UsageError("--replay needs --workload TRACE.csv and --front FILE.pareto.json (e.g. from splitwatt optimize --replay POOL.csv)");
  const strategies = parseStrategies(o.strategies, o);
  const out = o.out ?? `bench-${basename(o.front, extname(o.front)).replace(/\.pareto$/, "")}`;
  const { replayBench } = await import("./benchReplayRun.js");
  const policy = replayPolicyOptions(o, pool);
  const doc = await replayBench({
    poolPath: pool,
    workloadPath: o.workload,
    frontPath: o.front,
    network: o.network,
    strategies,
    seed: o.seed,
    out,
    perRequest: o.perRequest,
    bandwidthTrace: o.bandwidthTrace,
    loadTrace: o.loadTrace,
    intervalMs: o.intervalMs,
    policyOptions: policy.options,
    minAccuracy: o.minAccuracy,
    threads: o.threads,
  });
  if (policy.note !== null) process.stderr.write(`${policy.note}\n`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
    return;
  }
  const { summaryMarkdown } = await import("../report/summaryTable.js");
  process.stdout.write(`${summaryMarkdown(doc)}\nwrote ${out}/results.json, summary.md, report.html${o.perRequest ? ", requests.csv" : ""}\n`);
}

export function benchCommand(): Command {
  return new Command("bench")
    .description("energy benchmark of strategies (the daemon's policies and baselines) over a deadline workload: replayed from a measured pool, or live; writes results.json, summary.md and report.html")
    .option("--replay <pool.csv>", "replay mode: outcomes drawn from the pool's measured runs (DynaSplit's CSV format)")
    .option("--workload <trace.csv>", "deadline workload: Index,Network,Latency CSV (DynaSplit's traces, or splitwatt workload)")
    .option("--front <file.pareto.json>", "the pareto file the strategies choose from (splitwatt optimize)")
    .option("--network <name>", "keep the workload's rows whose Network column is NAME")
    .option("--strategies <list>", `comma-separated strategies (${DEFAULT_STRATEGIES.length} by default)`, DEFAULT_STRATEGIES.join(","))
    .option("--seed <s>", "seed of the draws; the same seed gives the same results", "1")
    .option("--out <dir>", "output directory (default bench-<front name>)")
    .option("--per-request", "also write requests.csv: one row per request and strategy")
    .option("--bandwidth-trace <file.csv>", "uplink bandwidth over time (TimeMs,BandwidthMbps[,RttMs]), applied through the cost model")
    .option("--load-trace <file.csv>", "server queue wait over time (TimeMs,ServerWaitMs), applied through the cost model")
    .option("--interval-ms <ms>", "time between requests when the workload has no ArrivalMs column", "1000")
    .option("--target <p>", "splitwatt policy: probability of meeting the deadline a choice must reach (default 0.99)")
    .option("--min-samples <n>", "policies: below this many latency samples a fitted normal tail guards the probability (default 1 / (1 - target))")
    .option("--cv-floor <x>", "policies: floor of that tail's standard deviation, a fraction of the mean (default 0.05)")
    .option("--hysteresis <x>", "splitwatt policy: keep the current configuration unless another saves more than this fraction (default 0.05)")
    .option("--static-config <spec>", "the static strategy's configuration, dim=value,... (from the front's archive)")
    .option("--min-accuracy <fraction>", "every request's lowest acceptable accuracy")
    .option("--reproduce <study>", "reproduce a published study: dynasplit (needs --data DIR)")
    .option("--data <dir>", "--reproduce dynasplit: the directory with DynaSplit's pools and traces")
    .option("--seeds <list>", "--reproduce: optimize seeds for the splitwatt policy's archive (default: --seed)")
    .option("--daemon [url]", "live mode: replay the deadlines against a running splitwatt daemon (URL), or an in-process daemon and local tail server (no URL)")
    .option("--model <model>", "live mode without a URL: the model the in-process daemon serves (default: the one the front names); with a URL: the model the daemon must serve")
    .option("--daemon-config <file.yaml>", "live mode without a URL: the in-process daemon's options (configs/daemon.example.yaml keys)")
    .option("--link <mode>", "live mode without a URL: shape the link to the tail server: auto (kernel netns+tbf as root, else app token bucket), kernel, app, none (default auto)")
    .option("--pace <mode>", "live mode: arrival (each request at its arrival time; default) or back-to-back (each as soon as the previous answered)")
    .option("--threads <n>", "replay: threads to share the strategies over (default: the machine's cores; the figures are the same with any number)")
    .option("--json", "print results.json to stdout instead of the summary")
    .action(
      run(async (raw: Record<string, unknown>) => {
        const o = BenchOptions.parse(raw);
        const modes = [o.replay, o.reproduce, o.daemon].filter((x) => x !== undefined).length;
        if (modes !== 1) throw new UsageError("give exactly one of --replay POOL.csv, --reproduce dynasplit or --daemon [URL]");
        const liveOnly = (["daemonConfig", "link", "pace"] as const).find((k) => o[k] !== undefined);
        if (o.daemon === undefined && liveOnly !== undefined) throw new UsageError(`--${liveOnly.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is an option of live runs (--daemon [URL]); leave it out`);
        if (o.replay !== undefined) await replayMode(o, o.replay);
        else if (o.reproduce !== undefined) {
          const { reproduceMode } = await import("./benchReproduce.js");
          await reproduceMode(o, o.reproduce);
        } else {
          const { liveMode } = await import("./benchLive.js");
          await liveMode(o, o.daemon as string | true);
        }
      }),
    );
}
