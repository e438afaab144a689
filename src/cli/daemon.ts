/**
 * `splitwatt daemon`: the online phase on the edge board (src/schedule/daemon/). Options: the
 * command line over the YAML file over the defaults, merged as plain objects and validated once
 * (src/contracts/daemonConfig.ts). Logs one JSON object per line on stderr; prints its URL on
 * stdout once it listens. A signal (SIGTERM, SIGINT, SIGHUP; the one path of src/shutdown.ts):
 * stop accepting, drain, restore the CPU frequency and GPU clock, exit 0; a second signal, or a
 * drain longer than 30 s, exits at once (130 after a first SIGINT, 143 after a SIGTERM),
 * restoring them on the way out.
 */
import { Command, Option } from "commander";
import { z } from "zod";
import { readDaemonConfig } from "../contracts/daemonConfig.js";
import { env } from "../env.js";
import { onInterrupt, type ShutdownSignal } from "../shutdown.js";
import { cliNumber } from "./cliNumber.js";
import { addMeterOptions, MeterCliOptions } from "./meterOptions.js";
import { run } from "./run.js";

/** The flat command-line options, strings made numbers (no defaults here: the schema has them). */
const DaemonCli = z.object({
  config: z.string().min(1).optional(),
  front: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  name: z.string().min(1).optional(),
  server: z.string().min(1).optional(),
  serverModel: z.string().min(1).optional(),
  serverKind: z.string().min(1).optional(),
  serverToken: z.string().min(1).optional(),
  serverCa: z.string().min(1).optional(),
  serverTimeoutMs: cliNumber(z.number().int().nonnegative()).optional(),
  policy: z.string().min(1).optional(),
  target: cliNumber(z.number()).optional(),
  host: z.string().min(1).optional(),
  port: cliNumber(z.number().int().min(0).max(65535)).optional(),
  token: z.string().min(1).optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  defaultDeadlineMs: cliNumber(z.number()).optional(),
  onInfeasible: z.string().optional(),
  graceMs: cliNumber(z.number().int().nonnegative()).optional(),
  maxQueue: cliNumber(z.number().int().min(0)).optional(),
  maxBodyMb: cliNumber(z.number().positive()).optional(),
  requestTimeoutMs: cliNumber(z.number().int().positive()).optional(),
  cpufreq: z.string().optional(),
  gpufreq: z.string().optional(),
  sysfsRoot: z.string().min(1).optional(),
  stateDir: z.string().min(1).optional(),
  board: z.string().min(1).optional(),
  network: z.string().min(1).optional(),
  preprocess: z.string().optional(),
  logRequests: z.boolean().optional(),
  ...MeterCliOptions.partial().shape,
});

export function daemonCommand(): Command {
  const c = new Command("daemon")
    .description("the online phase on the edge board: per request, the lowest-energy configuration expected to meet its deadline (Open Inference Protocol API, local fallback, Prometheus metrics)")
    .option("--front <file.pareto.json>", "the pareto file written by splitwatt optimize on this board")
    .option("--model <model>", "the model the front was made for (.onnx path, zoo name or paddle:cls); its sha256 is checked")
    .option("--config <file.yaml>", "options from a YAML file (configs/daemon.example.yaml); the command line wins over it")
    .option("--server <url>", "the tail server (splitwatt serve); without one everything runs on the device")
    .option("--server-model <name>", "the name the server serves the model under (default model)")
    .option("--server-kind <kind>", "splitwatt (default) or triton: a stock Triton/KServe server serving export-triton --codec tails")
    .option("--server-token <token>", "the tail server's bearer token (env SPLITWATT_TOKEN)")
    .option("--server-ca <file>", "CA certificate (PEM) to trust for an https tail server")
    .option("--server-timeout-ms <ms>", "cap of a remote tail's time (default 30000)")
    .option("--policy <name>", "splitwatt (default), dynasplit, neurosurgeon, edge-only, cloud-only or static; a request may name another")
    .option("--target <p>", "the splitwatt policy's probability of meeting the deadline (default 0.99)")
    .option("--host <host>", "address to bind (default 127.0.0.1: loopback only)")
    .option("--port <port>", "port (default 8001; 0 = any free one)")
    .option("--token <token>", "require Authorization: Bearer <token> on every request but /v2/health/*")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM)")
    .option("--tls-key <file>", "and this key (PEM)")
    .option("--default-deadline-ms <ms>", "the deadline of requests that give none (else deadline_ms is required)")
    .option("--on-infeasible <action>", "no configuration predicted to meet a deadline: run-fastest (default; the answer is marked) or reject (422 with the best predicted latency)")
    .option("--grace-ms <ms>", "every accepted request ends within its deadline + this: a result or 504 (default 1000)")
    .option("--max-queue <n>", "head executions waiting in the device queue; beyond: 429 + Retry-After (default 64)")
    .option("--max-body-mb <mb>", "largest request body (default 64)")
    .option("--request-timeout-ms <ms>", "time a client has to send a whole request (default 30000)")
    .option("--cpufreq <mode>", "auto (default): set each configuration's CPU frequency, held for the daemon's life and restored on exit; off")
    .option("--gpufreq <mode>", "auto (default): set each configuration's GPU clock (gpuFreqMHz), restored on exit; off")
    .option("--sysfs-root <dir>", "read and write sysfs under this directory instead of /sys (env SPLITWATT_SYSFS_ROOT)")
    .option("--state-dir <dir>", "where the cpufreq restore state lives (env SPLITWATT_STATE_DIR)")
    .option("--board <name|file>", "board profile for the estimate device energy source (env SPLITWATT_BOARD)")
    .option("--network <profile>", "network profile for radio energy (default: the front's)")
    .addOption(new Option("--name <name>", "the model's name in the API (default from --model, e.g. paddle-cls)"))
    .addOption(new Option("--preprocess <mode>", "image requests: auto (paddle:cls), paddle-cls or none"))
    .option("--log-requests", "one JSON log line per request");
  addMeterOptions(c);
  return c.action(
    run(async (_raw: unknown, cmd: Command) => {
      const fromCli = Object.fromEntries(Object.entries(cmd.opts()).filter(([k]) => cmd.getOptionValueSource(k) === "cli"));
      const cli = DaemonCli.parse(fromCli);
      const { config, maxQueue, target, ...flat } = cli;
      const file = config === undefined ? {} : readDaemonConfig(config);
      const fileOpts = file as Record<string, unknown>;
      const merged: Record<string, unknown> = {
        ...fileOpts,
        ...flat,
        ...(maxQueue === undefined ? {} : { queue: { ...(fileOpts.queue as object | undefined), maxQueued: maxQueue } }),
        ...(target === undefined ? {} : { policyOptions: { ...(fileOpts.policyOptions as object | undefined), target } }),
      };
      if (merged.serverToken === undefined && env().token !== undefined) merged.serverToken = env().token;
      const { Daemon } = await import("../schedule/daemon/daemon.js");
      const log = (r: Record<string, unknown>) => process.stderr.write(`${JSON.stringify(r)}\n`);
      const d = await Daemon.start(merged as never, { log });
      process.stdout.write(`${d.url}\n`);
      await new Promise<void>((resolve) => {
        // the first signal drains; a second one leaves at once through src/shutdown.ts (its
        // teardowns and the daemon's exit hook restore the CPU frequency on the way out)
        const removeInterrupt = onInterrupt((signal: ShutdownSignal): void => {
          removeInterrupt();
          log({ time: new Date().toISOString(), level: "info", msg: "signal", signal });
          void d.close().then(resolve, (err: unknown) => {
            log({ time: new Date().toISOString(), level: "error", msg: "shutdown failed", error: (err as Error).message });
            process.exitCode = 1;
            resolve();
          });
        });
      });
    }),
  );
}
