/**
 * The daemon's options: the YAML file (`splitwatt daemon --config FILE.yaml`, annotated example
 * in configs/daemon.example.yaml), the command line and the programmatic API (`startDaemon`) all
 * give the same keys. Merged at the schema level: defaults < file < command line as plain
 * objects, validated once by `daemonOptionsSchema` (which applies the defaults). Grouped keys
 * (policyOptions, queue, breaker, estimator, probe) are the file's and the API's; the command
 * line sets the flat ones.
 */
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { MeterConfig } from "./meterSpec.js";
import { policyOptionsInputSchema } from "./policyOptions.js";
import { readYamlFile } from "./yamlFile.js";

const positive = (what: string) => z.number({ error: `${what} must be a number` }).positive(`${what} must be a positive number`).refine(Number.isFinite, `${what} must be finite`);
const ms = (what: string) => z.number({ error: `${what} must be a number of ms` }).int(`${what} is a whole number of ms`).nonnegative(`${what} must be >= 0`);

export const ON_INFEASIBLE = ["run-fastest", "reject"] as const;
export const PREPROCESSORS = ["auto", "paddle-cls", "none"] as const;

/** The keys and their checks, all optional (the file's view). */
const fields = {
  /** the pareto file written by splitwatt optimize (path) */
  front: z.string().min(1),
  /** MODEL: the .onnx file, zoo name or paddle:cls the front was made for (its sha256 is checked) */
  model: z.string().min(1),
  /** the model's name in the API (/v2/models/<name>/infer); default derived from MODEL */
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, "name may use letters, digits, _, . and - only"),
  /** the tail server (splitwatt serve); none: everything runs on the device */
  server: z.url({ error: "server must be a URL, e.g. http://10.0.0.2:8000" }),
  /** the name the server serves the model under (it serves <serverModel>.tail.<cut>) */
  serverModel: z.string().min(1),
  /** splitwatt: splitwatt serve; triton: a stock Triton/KServe server serving `export-triton --codec` tails (plain tensors, no load signal) */
  serverKind: z.enum(["splitwatt", "triton"], { error: "serverKind is splitwatt or triton" }),
  /** the tail server's bearer token */
  serverToken: z.string().min(1),
  /** CA certificate (PEM path) to trust for an https tail server */
  serverCa: z.string().min(1),
  /** the remote tail's timeout cap, ms (each request's own is its deadline + grace less the local fallback's time) */
  serverTimeoutMs: ms("serverTimeoutMs"),
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  /** bearer token every request must carry (not /v2/health/*) */
  token: z.string().min(1),
  tlsCert: z.string().min(1),
  tlsKey: z.string().min(1),
  /** the policy requests get unless they name one */
  policy: z.string().min(1),
  policyOptions: policyOptionsInputSchema,
  /** the deadline of requests that give none, ms; absent: deadline_ms is required */
  defaultDeadlineMs: positive("defaultDeadlineMs"),
  /** a request no configuration is expected to meet: run the fastest and mark it, or refuse at once (422) */
  onInfeasible: z.enum(ON_INFEASIBLE, { error: `onInfeasible is ${ON_INFEASIBLE.join(" or ")}` }),
  /** every accepted request ends within its deadline plus this, ms (a result, or 504) */
  graceMs: ms("graceMs"),
  queue: z.strictObject({
    /** head executions waiting at most; beyond: 429 + Retry-After */
    maxQueued: z.number().int().min(0).max(100_000).default(64),
  }),
  breaker: z.strictObject({
    failureThreshold: z.number().int().min(1),
    baseBackoffMs: ms("baseBackoffMs"),
    maxBackoffMs: ms("maxBackoffMs"),
    jitter: z.number().min(0).lt(1),
    probeTimeoutMs: ms("probeTimeoutMs"),
  }).partial(),
  estimator: z.strictObject({
    window: z.number().int().min(1),
    rttWindow: z.number().int().min(1),
    serverWindow: z.number().int().min(1),
    freshMs: ms("freshMs"),
    halfLifeMs: positive("halfLifeMs"),
    probeAfterMs: ms("probeAfterMs"),
    minBytes: z.number().int().min(1),
    /** the bandwidth estimate is at most the newest sample: a slower link counts at once (default true) */
    followDrops: z.boolean(),
  }).partial(),
  /** the device's own recent all-on-device runs, which `splitwatt` prices those configurations from (estimators/localRuns.ts); false: always from the front */
  localRuns: z.union(
    [
      z.literal(false),
      z
        .strictObject({
          window: z.number().int().min(2),
          minSamples: z.number().int().min(2),
          freshMs: positive("freshMs"),
        })
        .partial()
        .refine((o) => o.minSamples === undefined || o.minSamples <= (o.window ?? 30), { error: "localRuns.minSamples must be at most localRuns.window (default 30)" }),
    ],
    { error: "localRuns is false or { window, minSamples, freshMs }" },
  ),
  probe: z.strictObject({
    /** time a health request this often for the RTT, ms (0: never) */
    rttIntervalMs: ms("rttIntervalMs"),
    /** send a small inference when the bandwidth estimate is stale and no traffic flows */
    bandwidth: z.boolean(),
  }).partial(),
  /** auto: set the frequencies the front's configurations name (through cpufreq, held for the daemon's life); off: leave them */
  cpufreq: z.enum(["auto", "off"], { error: "cpufreq is auto or off" }),
  /** auto: set the GPU clocks the front's configurations name (gpuFreqMHz; the first GPU, restored on exit); off: leave them */
  gpufreq: z.enum(["auto", "off"], { error: "gpufreq is auto or off" }),
  /** the sysfs root (a fake tree in tests) */
  sysfsRoot: z.string().min(1),
  /** where the cpufreq restore state lives (default SPLITWATT_STATE_DIR or ~/.local/state/splitwatt) */
  stateDir: z.string().min(1),
  ...MeterConfig.shape,
  /** power model of the tail server for server energy when it reports none (board profile; default generic-x86) */
  serverBoard: z.string().min(1),
  /** server energy accounting when the server reports none: marginal or node (default: as the front was measured) */
  serverEnergy: z.enum(["marginal", "node"], { error: "serverEnergy is marginal or node" }),
  /**
   * what the `estimate` device source scales by: system (all CPUs, the board's; default) or process
   * (the daemon's own CPU time: when other work shares the machine, e.g. a bench with the tail server on it)
   */
  utilisation: z.enum(["system", "process"], { error: "utilisation is system or process" }),
  /** board profile for the `estimate` device source */
  board: z.string().min(1),
  /** network profile for radio energy; default the front's */
  network: z.string().min(1),
  maxBodyMb: positive("maxBodyMb"),
  requestTimeoutMs: z.number().int().positive(),
  /** image requests (/v1/models/<name>/classify): auto = by model (paddle:cls), or forced */
  preprocess: z.enum(PREPROCESSORS, { error: `preprocess is ${PREPROCESSORS.join(", ")}` }),
  /**
   * CPU heads the front measured at most this long, ms, run on the event loop's thread instead of
   * the device thread, whose hop costs more than they compute (0: every CPU head on the device thread)
   */
  inlineHeadMs: z.number({ error: "inlineHeadMs must be a number of ms" }).min(0, "inlineHeadMs must be >= 0").max(1000, "inlineHeadMs is at most 1000 ms"),
  /** one JSON log line per request */
  logRequests: z.boolean(),
  /** decisions kept for /v1/status */
  recentDecisions: z.number().int().min(1).max(10_000),
  /**
   * the pipeline of /v1/models/<name>/infer-batch and /v1/models/<name>/stream (README, daemon):
   * the configuration (default: the front's highest-throughput entry the daemon can run), batch
   * sizes, tail requests in flight, batching delay and adaptive batch size, streams at once
   */
  stream: z
    .strictObject({
      /** the cut (a configuration of the front at that cut is used; default the front's highest throughput) */
      split: z.number().int().min(0),
      /** the cut tensors' codec (default the configuration's) */
      codec: z.string().min(1),
      /** device batch size b_d: heads run on up to this many items (default the configuration's, else 1) */
      deviceBatch: z.number().int().min(1).max(4096),
      /** server batch size b_s: items per tail request (default the configuration's, else 1) */
      serverBatch: z.number().int().min(1).max(4096),
      /** tail requests in flight per stream (default 4) */
      tailConcurrency: z.number().int().min(1).max(64),
      /** how long a partial head batch waits for more items, ms (default 0: the head takes what has arrived) */
      batchDelayMs: z.number({ error: "stream.batchDelayMs must be a number of ms" }).min(0).max(60_000),
      /** the device batch follows the arrival rate (BPS): the smallest batch that keeps up, or with latencyBoundMs the largest within it (default false: up to deviceBatch) */
      adaptiveBatch: z.boolean(),
      /** per-item latency bound of the adaptive batch, ms (default none) */
      latencyBoundMs: positive("stream.latencyBoundMs"),
      /** infer-batch and stream requests at once (default 4); beyond: 429 */
      maxStreams: z.number().int().min(1).max(64),
    })
    .partial(),
};

/** The YAML file: every key optional, nothing else allowed. */
export const daemonConfigFileSchema = z.strictObject(fields).partial();
export type DaemonConfigFile = z.infer<typeof daemonConfigFileSchema>;

/** The resolved options (front and model required; the rest defaulted). */
export const daemonOptionsSchema = daemonConfigFileSchema.extend({
  front: fields.front,
  model: fields.model,
  serverModel: fields.serverModel.default("model"),
  serverKind: fields.serverKind.default("splitwatt"),
  stream: fields.stream.default({}),
  serverTimeoutMs: fields.serverTimeoutMs.default(30_000),
  host: fields.host.default("127.0.0.1"),
  port: fields.port.default(8001),
  policy: fields.policy.default("splitwatt"),
  policyOptions: fields.policyOptions.prefault({}),
  onInfeasible: fields.onInfeasible.default("run-fastest"),
  graceMs: fields.graceMs.default(1000),
  queue: fields.queue.prefault({}),
  breaker: fields.breaker.default({}),
  estimator: fields.estimator.default({}),
  localRuns: fields.localRuns.default({}),
  probe: fields.probe.default({}),
  cpufreq: fields.cpufreq.default("auto"),
  gpufreq: fields.gpufreq.default("auto"),
  maxBodyMb: fields.maxBodyMb.default(64),
  requestTimeoutMs: fields.requestTimeoutMs.default(30_000),
  preprocess: fields.preprocess.default("auto"),
  utilisation: fields.utilisation.default("system"),
  inlineHeadMs: fields.inlineHeadMs.default(1),
  logRequests: fields.logRequests.default(false),
  recentDecisions: fields.recentDecisions.default(50),
});
export type DaemonOptionsInput = z.input<typeof daemonOptionsSchema>;
export type DaemonOptions = z.output<typeof daemonOptionsSchema>;

const firstIssue = (e: z.ZodError): string => {
  const i = e.issues[0];
  return `${i?.path.join(".") || "(options)"}: ${i?.message ?? "invalid"}`;
};

/** The options validated with defaults applied; `where` names their origin in the one-line error. */
export function resolveDaemonOptions(merged: unknown, where = "daemon options"): DaemonOptions {
  const r = daemonOptionsSchema.safeParse(merged);
  if (!r.success) {
    const i = r.error.issues[0];
    const missing = i !== undefined && i.path.length === 1 && (i.path[0] === "front" || i.path[0] === "model") && i.code === "invalid_type";
    throw new UsageError(missing ? `${where}: give --${String(i.path[0])} (or ${String(i.path[0])}: in the config file)` : `${where}: ${firstIssue(r.error)} (see configs/daemon.example.yaml)`);
  }
  if ((r.data.tlsCert === undefined) !== (r.data.tlsKey === undefined)) throw new UsageError(`${where}: give both tlsCert and tlsKey (--tls-cert, --tls-key), or neither`);
  return r.data;
}

/**
 * Read and validate the YAML file; paths in it (front, model when it is a file, tlsCert, tlsKey,
 * serverCa, stateDir, sysfsRoot) are resolved against the file's directory.
 */
export function readDaemonConfig(path: string): DaemonConfigFile {
  const data = readYamlFile(path, "a daemon YAML file", "configs/daemon.example.yaml");
  const r = daemonConfigFileSchema.safeParse(data ?? {});
  if (!r.success) throw new UsageError(`${path}: ${firstIssue(r.error)} (see configs/daemon.example.yaml)`, { path });
  const dir = dirname(resolve(path));
  const f = { ...r.data };
  for (const k of ["front", "tlsCert", "tlsKey", "serverCa", "stateDir", "sysfsRoot"] as const) if (f[k] !== undefined) f[k] = resolve(dir, f[k]);
  if (f.model !== undefined && /[/\\]|\.onnx$/i.test(f.model)) f.model = resolve(dir, f.model);
  return f;
}
