import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, Option } from "commander";
import { z } from "zod";
import { env } from "../env.js";
import { UsageError } from "../errors.js";
import { onInterrupt } from "../shutdown.js";
import { parseInputShapes, parseInputValues } from "./modelOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const ServeOptions = z.object({
  model: z.array(z.string()).min(1, "give at least one --model NAME=MODEL"),
  host: z.string().min(1).default("127.0.0.1"),
  port: cliNumber(z.number().int().min(0).max(65535)).default(8000),
  token: z.string().min(1).optional(),
  tlsCert: z.string().min(1).optional(),
  tlsKey: z.string().min(1).optional(),
  target: z.string().default("cpu"),
  maxConcurrency: cliNumber(z.number().int().min(1).max(1024)).default(2),
  maxQueue: cliNumber(z.number().int().min(0).max(100_000)).default(64),
  maxBodyMb: cliNumber(z.number().positive().max(4096)).default(64),
  maxBufferMb: cliNumber(z.number().positive().max(65536)).optional(),
  requestTimeoutMs: cliNumber(z.number().int().positive()).default(30_000),
  timeoutMs: cliNumber(z.number().int().positive()).default(30_000),
  cacheMb: cliNumber(z.number().positive()).default(1024),
  warmUp: z.array(z.string()).default([]),
  inputShape: z.array(z.string()).default([]),
  inputValues: z.array(z.string()).default([]),
  inputFile: z.array(z.string()).default([]),
  exitWithStdin: z.boolean().default(false),
  energy: z.enum(["auto", "off"], { error: "use auto or off" }).default("auto"),
  maxBatch: cliNumber(z.number().int().min(1).max(4096)).default(1),
  maxQueueDelayMs: cliNumber(z.number().min(0).max(60_000)).default(0),
});

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function serveCommand(): Command {
  return new Command("serve")
    .description("run the tail server (Open Inference Protocol / KServe v2 REST, binary tensors, codecs, load signal)")
    .option("--model <name=model>", "serve MODEL (a path, zoo name or paddle:cls) as NAME and its tails as NAME.tail.<cut> (repeatable)", collect)
    .option("--host <host>", "address to bind (default 127.0.0.1: loopback only)")
    .option("--port <port>", "port (0 = any free one)", "8000")
    .option("--token <token>", "require Authorization: Bearer <token> (env SPLITWATT_TOKEN)")
    .option("--tls-cert <file>", "serve HTTPS with this certificate (PEM)")
    .option("--tls-key <file>", "and this key (PEM)")
    .option("--target <target>", "execution target: cpu, cpu:N (threads), webgpu (GPU through onnxruntime's WebGPU provider, when this machine has an adapter), cuda, tensorrt", "cpu")
    .option("--max-concurrency <n>", "inferences run at once", "2")
    .option("--max-queue <n>", "requests waiting beyond that before 503 + Retry-After", "64")
    .option("--max-body-mb <mb>", "largest request body (413 beyond), and the largest tensor a codec may decode to", "64")
    .option("--max-buffer-mb <mb>", "request bodies held in memory across all connections; a request that does not fit gets 503 + Retry-After before its body is read (default: the larger of 256 and --max-body-mb)")
    .option("--request-timeout-ms <ms>", "time a client has to send a whole request, headers and body (408 beyond)", "30000")
    .option("--timeout-ms <ms>", "per-request timeout from the body's arrival to the answer (504 beyond)", "30000")
    .option(
      "--cache-mb <mb>",
      "serialized ONNX size (weights) of the sessions kept loaded; beyond it the least recently used is released. Not the process's memory: onnxruntime holds about 1.5-3x this, plus a fixed part (README)",
      "1024",
    )
    .option("--warm-up <name>", "load this model or tail at start (repeatable)", collect)
    .option("--input-shape <name=dims>", "input shape for models whose inputs are symbolic (repeatable)", collect)
    .option("--input-values <name=values>", "one item's values for an input, fed to the shape probe instead of zeros (repeatable; as in inspect)", collect)
    .option("--input-file <file>", "input values from FILE.json or NAME=FILE.npy (repeatable; as in inspect)", collect)
    .option("--energy <mode>", "auto: measure each inference with this machine's energy counter (RAPL, hwmon, NVML, ...) and report it (energy_j); off", "auto")
    .option("--max-batch <n>", "server-side batching: requests for the same tail run as one onnxruntime call of at most N rows (1 = off)", "1")
    .option("--max-queue-delay-ms <ms>", "how long a partial batch waits for more requests (0: what is queued when a slot frees up)", "0")
    .addOption(new Option("--exit-with-stdin", "stop when standard input closes (a parent that dies, even by SIGKILL, takes the server with it)").hideHelp())
    .action(
      run(async (raw: unknown) => {
        const o = ServeOptions.parse(raw);
        const models: Record<string, string> = {};
        for (const m of o.model) {
          const i = m.indexOf("=");
          if (i <= 0 || i === m.length - 1) throw new UsageError(`--model ${m}: expected NAME=MODEL, e.g. --model cls=paddle:cls`);
          const name = m.slice(0, i);
          if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new UsageError(`--model ${m}: NAME may use letters, digits, _ and - only`);
          models[name] = m.slice(i + 1);
        }
        if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError("give both --tls-cert and --tls-key, or neither");
        const readPem = (f: string) => {
          try {
            return readFileSync(f);
          } catch {
            throw new UsageError(`cannot read ${f}: give a PEM file`);
          }
        };
        const [{ TailServer }, { executionTargetName, parseExecutionTarget }, { ensureTargetAvailable }, { webgpuProbe }, { shapeCache }, { defaultStateDir }, { readInputFile }] = await Promise.all([
          import("../transport/tailServer.js"),
          import("../runtime/executionTarget.js"),
          import("../runtime/targetAvailability.js"),
          import("../runtime/webgpu.js"),
          import("../model/shapeCache.js"),
          import("../hw/cpufreqGuard.js"),
          import("../runtime/inputFile.js"),
        ]);
        const inputValues: Record<string, number[]> = {};
        for (const [flag, values] of [...o.inputFile.map((f) => [`--input-file ${f}`, readInputFile(f)] as const), ["--input-values", parseInputValues(o.inputValues)] as const]) {
          for (const [name, v] of Object.entries(values)) {
            if (inputValues[name] !== undefined) throw new UsageError(`${flag}: input ${name} is given twice: give each input once`);
            inputValues[name] = v;
          }
        }
        const target = parseExecutionTarget(o.target, "server");
        // refused in one line before anything starts (webgpu: the probe's reason and the fix)
        await ensureTargetAvailable(target, "server");
        const probe = target.kind === "webgpu" ? await webgpuProbe() : null;
        const adapter = probe?.available === true ? probe.adapter : null;
        const log = (r: Record<string, unknown>) => process.stderr.write(`${JSON.stringify(r)}\n`);
        // the server's own energy source, reported per inference; an estimate is never reported
        let meter: import("../hw/energyMeter.js").EnergyMeter | undefined;
        if (o.energy === "auto") {
          const { EnergyMeter } = await import("../hw/energyMeter.js");
          const m = await EnergyMeter.open().catch(() => undefined);
          if (m !== undefined && !m.estimated) {
            m.start();
            meter = m;
          } else await m?.close();
        }
        const server = new TailServer({
          models,
          host: o.host,
          port: o.port,
          token: o.token ?? env().token,
          tls: o.tlsCert === undefined || o.tlsKey === undefined ? undefined : { cert: readPem(o.tlsCert), key: readPem(o.tlsKey) },
          target,
          adapter,
          maxConcurrent: o.maxConcurrency,
          maxQueue: o.maxQueue,
          maxBodyBytes: Math.round(o.maxBodyMb * 2 ** 20),
          maxBufferBytes: o.maxBufferMb === undefined ? undefined : Math.round(o.maxBufferMb * 2 ** 20),
          requestTimeoutMs: o.requestTimeoutMs,
          energy: meter,
          maxBatch: o.maxBatch,
          maxQueueDelayMs: o.maxQueueDelayMs,
          timeoutMs: o.timeoutMs,
          cacheBytes: Math.round(o.cacheMb * 2 ** 20),
          inputShapes: parseInputShapes(o.inputShape),
          inputValues,
          shapeCache: shapeCache({
            dir: join(defaultStateDir(), "analysis"),
            onWarning: (m) => log({ time: new Date().toISOString(), level: "warn", msg: "analysis cache", detail: m }),
          }),
          log,
        });
        try {
          // every model must resolve, parse and load before the server listens (and says it is ready)
          await server.models.checkAll();
          for (const name of o.warmUp) {
            const t0 = performance.now();
            await server.models.load(name).catch((err: unknown) => {
              throw err instanceof UsageError ? new UsageError(`--warm-up ${name}: ${err.message}`, { cause: err }) : err;
            });
            log({ time: new Date().toISOString(), level: "info", msg: "warmed up", model: name, ms: Math.round(performance.now() - t0) });
          }
        } catch (err) {
          await server.close();
          await meter?.close();
          throw err;
        }
        let url: string;
        try {
          url = await server.listen();
        } catch (err) {
          const code = (err as { code?: string }).code;
          throw new UsageError(code === "EADDRINUSE" ? `port ${o.port} on ${o.host} is in use: pick another with --port` : `cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`);
        }
        log({
          time: new Date().toISOString(),
          level: "info",
          msg: "listening",
          url,
          models: Object.keys(models),
          auth: server.opts.token !== undefined,
          batching: o.maxBatch > 1 ? { maxBatch: o.maxBatch, maxQueueDelayMs: o.maxQueueDelayMs } : null,
          target: executionTargetName(target),
          // the GPU adapter tails run on; software: a CPU implementation of Vulkan (lavapipe), not an accelerator
          ...(adapter === null ? {} : { adapter }),
          // the energy source reported per inference, or null (none, or only an estimate: not reported)
          energy: meter?.device.map((d) => d.id) ?? null,
        });
        process.stdout.write(`${url}\n`);
        await new Promise<void>((resolve) => {
          let stopping = false;
          // a signal stops the server gracefully (exit 0); a second one stops it at once (src/shutdown.ts)
          const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            removeInterrupt();
            log({ time: new Date().toISOString(), level: "info", msg: "stopping", signal });
            void server
              .close()
              .then(() => meter?.close())
              .then(() => {
                // the stdin watch would keep this process alive after the server has stopped
                if (o.exitWithStdin) process.stdin.destroy();
                resolve();
              });
          };
          const removeInterrupt = onInterrupt((signal) => stop(signal));
          if (o.exitWithStdin) {
            process.stdin.on("data", () => {});
            process.stdin.once("end", () => stop("stdin closed"));
            process.stdin.once("error", () => stop("stdin closed"));
          }
        });
      }),
    );
}
