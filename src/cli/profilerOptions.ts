/** Options every command that measures live shares (measure, optimize), and opening a Profiler from them. */
import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { env } from "../env.js";
import { defaultStateDir } from "../hw/cpufreqGuard.js";
import { outputDir } from "../outputDir.js";
import type { Profiler } from "../measure/profiler.js";
import { addMeterOptions, MeterCliOptions } from "./meterOptions.js";
import { addModelInputOptions, ModelOptions } from "./modelOptions.js";
import { cliNumber } from "./cliNumber.js";

export const ProfilerOptions = ModelOptions.extend({
  server: z.url({ message: "--server takes a URL such as http://10.0.0.2:8000" }).optional(),
  serverModel: z.string().min(1).default("model"),
  serverKind: z.enum(["splitwatt", "triton"], { error: "use splitwatt or triton" }).default("splitwatt"),
  network: z.string().min(1).default("wifi-20mbps"),
  link: z.enum(["auto", "kernel", "app", "none"]).default("auto"),
  board: z.string().min(1).optional(),
  serverBoard: z.string().min(1).default("generic-x86"),
  serverEnergy: z.enum(["marginal", "node"]).default("marginal"),
  store: z.string().min(1).optional(),
  accuracy: z.boolean().default(true),
  accuracyN: cliNumber(z.number().int().min(1).max(10_000)).optional(),
  ci: cliNumber(z.number().positive().max(1)).default(0.05),
  minRuns: cliNumber(z.number().int().min(2).max(100_000)).default(10),
  maxRuns: cliNumber(z.number().int().min(1).max(100_000)).default(1000),
  maxSeconds: cliNumber(z.number().positive().max(86_400)).default(30),
  warmUp: cliNumber(z.number().int().min(0).max(1000)).default(3),
  idleMs: cliNumber(z.number().int().min(0).max(60_000)).default(500),
  json: z.boolean().default(false),
}).extend(MeterCliOptions.shape);

export type ProfilerCliOptions = z.infer<typeof ProfilerOptions>;

/**
 * The measuring options. `--network` and `--json` are added by each command (optimize's
 * `--network` has a replay meaning too). `maxSeconds` is the per-configuration time cap's default.
 */
export function addProfilerOptions(c: Command, defaults: { maxSeconds: number } = { maxSeconds: 30 }): Command {
  addModelInputOptions(c)
    .option("--input-size <n>", "input size for zoo models (default 224)")
    .option("--server <url>", "tail server URL (default: start a local splitwatt serve child on loopback)")
    .option("--server-model <name>", "the model's name on --server (it serves NAME.tail.<cut>)", "model")
    .option("--server-kind <kind>", "splitwatt (splitwatt serve) or triton (a stock Triton/KServe server with export-triton --codec tails: plain tensors, no load signal)", "splitwatt")
    .option("--link <mode>", "shape the local link to the profile: auto (kernel netns+tbf as root, else app token bucket), kernel, app, none", "auto")
    .option("--board <name>", "device board profile for the energy estimate (configs/boards name or path)")
    .option("--server-board <name>", "server power model for server energy", "generic-x86")
    .option("--server-energy <mode>", "server accounting: marginal ((busy - idle) x busy time) or node (whole node x time, as DynaSplit)", "marginal")
    .option("--store <file>", "measurement store, JSON lines (default: $SPLITWATT_STATE_DIR or ~/.local/state/splitwatt/measurements.jsonl)")
    .option("--no-accuracy", "do not measure accuracy")
    .option("--accuracy-n <n>", "evaluation samples (default 400 labelled for paddle:cls, 32 agreement samples otherwise)")
    .option("--ci <fraction>", "stop when the 95% interval of mean latency is within this fraction of the mean", "0.05")
    .option("--min-runs <n>", "requests before the interval is looked at", "10")
    .option("--max-runs <n>", "at most this many measured requests", "1000")
    .option("--max-seconds <s>", "time cap of the measured requests per configuration", String(defaults.maxSeconds))
    .option("--warm-up <n>", "unmeasured requests first", "3")
    .option("--idle-ms <ms>", "idle-baseline window before each configuration", "500");
  return addMeterOptions(c);
}

/** The measurement store when --store is not given. */
export function defaultStorePath(): string {
  return join(defaultStateDir(), "measurements.jsonl");
}

export function storePath(o: ProfilerCliOptions): string {
  return o.store ?? defaultStorePath();
}

/** Resolve MODEL, analyse it and open a Profiler with the store and accuracy cache. */
export async function openProfiler(spec: string, o: ProfilerCliOptions, onProgress?: (line: string) => void): Promise<{ profiler: Profiler; warnings: string[] }> {
  const [{ openModel }, { Profiler }, { MeasurementStore }, { AccuracyCache }] = await Promise.all([
    import("./openModel.js"),
    import("../measure/profiler.js"),
    import("../measure/measurementStore.js"),
    import("../measure/accuracyCache.js"),
  ]);
  // the store's directory before the model: a bad --store fails at once
  outputDir(dirname(resolve(storePath(o))), "--store");
  const { resolved, analysis } = await openModel(spec, { ...o, maxTensors: 4 }, { singleItem: "measurements are per request of one item" });
  const store = MeasurementStore.open(storePath(o));
  const accuracyCache = AccuracyCache.open(join(defaultStateDir(), "accuracy.jsonl"));
  const profiler = await Profiler.open({
    analysis,
    modelName: spec,
    modelPath: resolved.path,
    evalSet: spec === "paddle:cls" ? "paddle-cls" : "agreement",
    serverUrl: o.server,
    serverModel: o.serverModel,
    serverKind: o.serverKind,
    token: env().token,
    network: o.network === "none" ? null : o.network,
    link: o.link,
    board: o.board,
    serverBoard: o.serverBoard,
    serverAccounting: o.serverEnergy,
    store,
    accuracyCache,
    accuracy: o.accuracy,
    accuracyN: o.accuracyN,
    stop: { ciRel: o.ci, minRuns: o.minRuns, maxRuns: o.maxRuns, maxMs: o.maxSeconds * 1000 },
    warmUp: o.warmUp,
    idleMs: o.idleMs,
    meter: o.meter,
    meterPeriodMs: o.meterPeriodMs,
    onWarning: (line) => process.stderr.write(`splitwatt: warning: ${line}\n`),
    onProgress: onProgress ?? ((line) => process.stderr.write(`${line}\n`)),
  });
  return { profiler, warnings: store.warnings };
}
