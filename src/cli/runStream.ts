/**
 * `splitwatt run MODEL (--stream DIR | --rate HZ --items N) [--split K --bd N --bs M | --front FILE]
 * [--codec C] [--server URL] [--serial] [--json]`: a stream of inputs through one configuration,
 * pipelined (head batches of b_d overlapped with tail requests of b_s) or one at a time
 * (--serial), with throughput, the bottleneck-stage bound of the same run, and energy per item.
 * Without --server a local tail server child runs behind the network profile's emulated link,
 * as `measure` does. Results keep input order.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { Command } from "commander";
import { z } from "zod";
import type * as ort from "onnxruntime-node";
import { InterruptedError, UsageError } from "../errors.js";
import { onInterrupt, signalExitCode, type ShutdownSignal } from "../shutdown.js";
import { cliNumber } from "./cliNumber.js";
import { addMeterOptions, MeterCliOptions } from "./meterOptions.js";
import { addModelOptions, ModelOptions } from "./modelOptions.js";
import { run } from "./run.js";

const RunOptions = ModelOptions.extend({
  stream: z.string().min(1).optional(),
  rate: cliNumber(z.number().positive().max(1e6)).optional(),
  items: cliNumber(z.number().int().positive().max(10_000_000)).optional(),
  split: cliNumber(z.number().int("--split takes a cut index (an integer, see splitwatt inspect)").min(0)).optional(),
  bd: cliNumber(z.number().int().min(1).max(4096)).optional(),
  bs: cliNumber(z.number().int().min(1).max(4096)).optional(),
  front: z.string().min(1).optional(),
  codec: z.string().min(1).optional(),
  server: z.url({ message: "--server takes a URL such as http://10.0.0.2:8000" }).optional(),
  serverModel: z.string().min(1).default("model"),
  serverKind: z.enum(["splitwatt", "triton"], { error: "use splitwatt or triton" }).default("splitwatt"),
  serial: z.boolean().default(false),
  network: z.string().min(1).default("wifi-20mbps"),
  link: z.enum(["auto", "kernel", "app", "none"]).default("auto"),
  deviceTarget: z.string().min(1).default("cpu"),
  serverTarget: z.string().min(1).default("cpu"),
  board: z.string().min(1).optional(),
  inFlight: cliNumber(z.number().int().min(1).max(64)).optional(),
  calibration: cliNumber(z.number().int().min(0).max(10_000)).optional(),
  warmUp: cliNumber(z.number().int().min(0).max(10_000)).default(4),
  json: z.boolean().default(false),
}).extend(MeterCliOptions.shape);
type RunCliOptions = z.infer<typeof RunOptions>;

/** The configuration to run: given on the command line, or the front's highest-throughput entry. */
interface Chosen {
  split: number;
  codec: string;
  bd: number;
  bs: number;
  from: string;
}

async function choose(o: RunCliOptions, spec: string): Promise<Chosen> {
  if (o.front !== undefined) {
    if (o.split !== undefined || o.bd !== undefined || o.bs !== undefined) throw new UsageError("give either --split/--bd/--bs or --front FILE, not both");
    const { readParetoFile } = await import("../contracts/paretoFile.js");
    const { doc } = readParetoFile(o.front);
    if (doc.front.length === 0) throw new UsageError(`${o.front} has an empty front: run optimize again with looser constraints`);
    const tp = (e: (typeof doc.front)[number]): number => e.throughputPerS ?? (e.latencyMs > 0 ? 1000 / e.latencyMs : 0);
    const best = doc.front.reduce((a, b) => (tp(b) > tp(a) ? b : a));
    const split = best.config.split;
    if (typeof split !== "number") throw new UsageError(`${o.front} is not a live pareto file (its configurations have no split): give --split`);
    if (doc.model !== spec) process.stderr.write(`splitwatt: warning: ${o.front} was made for ${doc.model}, not ${spec}\n`);
    return {
      split,
      codec: o.codec ?? String(best.config.codec ?? "raw"),
      bd: Number(best.config.deviceBatch ?? 1),
      bs: Number(best.config.serverBatch ?? 1),
      from: `${o.front}: the front's highest throughput (${tp(best).toFixed(1)} items/s)`,
    };
  }
  if (o.split === undefined) throw new UsageError("give --split K (with --bd N --bs M, default 1) or --front FILE.pareto.json");
  return { split: o.split, codec: o.codec ?? "raw", bd: o.bd ?? 1, bs: o.bs ?? 1, from: "the command line" };
}

/** A short view of an output: its shape, and its largest value and where (a classifier's answer). */
function summary(t: ort.Tensor): { shape: number[]; argmax: number | null; max: number | null } {
  const d = t.data as unknown as ArrayLike<number>;
  if (t.type !== "float32" || d.length === 0) return { shape: [...t.dims], argmax: null, max: null };
  let k = 0;
  for (let i = 1; i < d.length; i++) if ((d[i] as number) > (d[k] as number)) k = i;
  return { shape: [...t.dims], argmax: k, max: d[k] as number };
}

export function runStreamCommand(): Command {
  const c = addModelOptions(new Command("run"))
    .description("run a stream of inputs through one configuration, pipelined (or --serial), with throughput, the bottleneck bound and energy per item")
    .argument("<model>", "an .onnx file, a zoo name (splitwatt zoo list), or paddle:cls|rec|det")
    .option("--stream <dir>", "inputs from a directory: PNG images for paddle:cls, .npy or .json tensors for any model (in file-name order)")
    .option("--rate <hz>", "synthetic seeded inputs arriving at this rate (with --items)")
    .option("--items <n>", "how many synthetic inputs (with --rate)")
    .option("--split <k>", "cut index (splitwatt inspect)")
    .option("--bd <n>", "device batch size b_d (default 1)")
    .option("--bs <n>", "server batch size b_s: items per tail request (default 1)")
    .option("--front <file>", "take split, codec and batch sizes from a pareto file: its front's highest-throughput entry")
    .option("--codec <codec>", "cut-tensor codec (default raw)")
    .option("--server <url>", "tail server URL (default: a local splitwatt serve child behind the emulated link)")
    .option("--server-model <name>", "the model's name on --server (it serves NAME.tail.<cut>)", "model")
    .option("--server-kind <kind>", "splitwatt or triton (a stock Triton/KServe server with export-triton --codec tails)", "splitwatt")
    .option("--serial", "run the same items one at a time (no pipeline), for comparison")
    .option("--network <profile>", "network profile (configs/networks name or a JSON path), or none", "wifi-20mbps")
    .option("--link <mode>", "shape the local link: auto, kernel, app, none", "auto")
    .option("--device-target <target>", "where heads run: cpu or cpu:N threads", "cpu")
    .option("--server-target <target>", "what the local tail server runs on: cpu, cpu:N", "cpu")
    .option("--board <name>", "device board profile for the energy estimate")
    .option("--in-flight <n>", "tail requests in flight (default: from the bound's calibration)")
    .option("--calibration <n>", "items each stage runs alone on for the bound (default 4 x max(bd, bs), at least 16)")
    .option("--warm-up <n>", "unmeasured items first", "4")
    .option("--json", "print one JSON line per result and end with the summary object");
  return addMeterOptions(c).action(
    run(async (spec: string, raw: unknown) => {
      const o = RunOptions.parse(raw);
      if ((o.stream === undefined) === (o.rate === undefined)) throw new UsageError("give exactly one of --stream DIR or --rate HZ --items N");
      if (o.rate !== undefined && o.items === undefined) throw new UsageError("--rate needs --items N (how many inputs)");
      if (o.serverKind === "triton" && o.server === undefined) throw new UsageError("--server-kind triton needs --server URL (the local child is splitwatt serve)");
      const chosen = await choose(o, spec);
      const [{ openModel }, { listInputDir, inputDirItems }, { modelInputs }, { SplitExecutor }, { parseExecutionTarget }, { parseCodec, codecName }, { TailConnection }, { networkProfile }, { EnergyMeter }, { streamRun }, { energySourceName }, { DeviceThread }] =
        await Promise.all([
          import("./openModel.js"),
          import("../runtime/inputDir.js"),
          import("../runtime/modelInputs.js"),
          import("../runtime/splitExecutor.js"),
          import("../runtime/executionTarget.js"),
          import("../transport/codecs/codecs.js"),
          import("../measure/tailConnection.js"),
          import("../transport/networkProfile.js"),
          import("../hw/energyMeter.js"),
          import("../measure/streamRun.js"),
          import("../measure/energySourceName.js"),
          import("../runtime/deviceThread.js"),
        ]);
      const files = o.stream === undefined ? null : listInputDir(o.stream);
      const { resolved, analysis } = await openModel(spec, o);
      const L = analysis.cuts.length - 1;
      if (chosen.split > L) throw new UsageError(`--split ${chosen.split} is out of range: ${spec} has cuts 0-${L} (see splitwatt inspect)`);
      const codec = parseCodec(chosen.codec);
      const network = o.network === "none" ? null : networkProfile(o.network);
      const last = chosen.split === L;
      const conn = last
        ? null
        : await TailConnection.open({
            serverUrl: o.server,
            modelPath: resolved.path,
            inputShapes: analysis.inputShapes,
            network,
            link: o.link,
            connections: 32,
            target: o.serverTarget,
            // one tail at a time on the local server: the server is one stage of the pipeline
            maxConcurrency: 1,
          });
      const meter = await EnergyMeter.open({
        board: o.board,
        utilisation: o.server === undefined ? "process" : "system",
        meter: o.meter === undefined ? undefined : { spec: o.meter, periodMs: o.meterPeriodMs },
        onWarning: (line) => process.stderr.write(`splitwatt: warning: ${line}\n`),
      });
      meter.start();
      await meter.ready();
      const deviceTarget = parseExecutionTarget(o.deviceTarget, "device");
      // the head computes on a device thread so that transfers and the server's answers flow while it runs (cpu heads)
      const thread = deviceTarget.kind === "cpu" ? new DeviceThread() : null;
      const x = await SplitExecutor.open(analysis, {
        cut: chosen.split,
        deviceTarget,
        deviceThread: thread ?? undefined,
        codec,
        tail: conn === null ? { kind: "local" } : { kind: "remote", client: conn.client, model: o.server === undefined ? "model" : o.serverModel, serverKind: o.serverKind },
        label: spec,
      });
      const controller = new AbortController();
      // Ctrl-C / SIGTERM (the one signal path, src/shutdown.ts): the items in flight finish, the rest is not started
      let interrupted: ShutdownSignal | null = null;
      const removeInterrupt = onInterrupt((signal) => {
        interrupted = signal;
        controller.abort(new InterruptedError(signal, "interrupted"));
      });
      try {
        const kind = spec === "paddle:cls" ? "paddle-cls-images" : "tensors";
        const synthetic = (n: number, offset = 0): Array<Record<string, ort.Tensor>> => Array.from({ length: n }, (_, i) => modelInputs(analysis, { seed: 17, sample: offset + i }));
        const group = Math.max(chosen.bd, chosen.bs);
        // warm-up and calibration on synthetic inputs of the model's shape (a directory's own inputs are for the stream)
        if (o.warmUp > 0) await streamRun(synthetic(o.warmUp * group), { executor: x, deviceBatch: chosen.bd, serverBatch: chosen.bs, rttMs: 0, serial: o.serial });
        const rtt = conn === null ? { totalMs: 0, networkMs: 0 } : await conn.roundTrip();
        const calibrationItems = o.calibration ?? Math.max(16, 4 * group);
        const names: string[] = [];
        let lagMs = 0;
        const source: AsyncIterable<Record<string, ort.Tensor>> =
          files !== null && o.stream !== undefined
            ? (async function* () {
                for await (const item of inputDirItems(o.stream as string, analysis, kind, files.files)) {
                  names.push(item.name);
                  yield item.feeds;
                }
              })()
            : (async function* () {
                const n = o.items as number;
                const periodMs = 1000 / (o.rate as number);
                const t0 = performance.now();
                for (let i = 0; i < n; i++) {
                  const due = t0 + i * periodMs;
                  const wait = due - performance.now();
                  if (wait > 0) await sleep(wait);
                  else lagMs = Math.max(lagMs, -wait);
                  names.push(`#${i}`);
                  yield modelInputs(analysis, { seed: 23, sample: i });
                }
              })();
        const out = (line: string): void => {
          process.stdout.write(`${line}\n`);
        };
        process.stderr.write(
          `run: streaming ${files === null ? `${o.items} synthetic item(s) at ${o.rate}/s` : `${files.files.length} file(s) from ${o.stream}`} through split ${chosen.split} (${o.serial ? "serial" : `pipelined, bd ${chosen.bd}, bs ${chosen.bs}`})\n`,
        );
        const r = await streamRun(source, {
          executor: x,
          deviceBatch: chosen.bd,
          serverBatch: chosen.bs,
          serial: o.serial,
          rttMs: rtt.totalMs,
          networkRttMs: rtt.networkMs,
          tailConcurrency: o.inFlight,
          calibration: o.serial ? undefined : synthetic(calibrationItems, 1000),
          meter,
          signal: controller.signal,
          onFallback: (cause) => process.stderr.write(`splitwatt: warning: the tail server failed (${(cause as Error).message.split("\n")[0]}): running the tails here\n`),
          onResult:
            files === null
              ? undefined
              : ({ index, outputs, latencyMs, fallback }) => {
                  const outs = Object.fromEntries(Object.entries(outputs).map(([k, t]) => [k, summary(t)]));
                  if (o.json) out(JSON.stringify({ index, input: names[index] ?? null, latencyMs: +latencyMs.toFixed(3), fallback, outputs: outs }));
                  else {
                    const first = Object.entries(outs)[0];
                    out(`${String(index).padStart(5)}  ${names[index] ?? ""}  ${first === undefined ? "" : `${first[0]} [${first[1].shape.join(",")}] argmax ${first[1].argmax ?? "-"} (${first[1].max?.toFixed(4) ?? "-"})`}${fallback ? "  (tail here: server failed)" : ""}`);
                  }
                },
        });
        const energySource = r.energy === null ? null : meter.estimated ? "estimate" : meter.meter !== null ? "meter" : energySourceName(meter.device[0]?.kind);
        const notes = [...r.notes];
        if (conn !== null) notes.push(conn.note);
        if (meter.estimated) notes.push("device energy is an estimate (board profile x this process's CPU utilisation): this machine has no energy counter");
        if (files !== null && files.skipped > 0) notes.push(`${files.skipped} file(s) in ${o.stream} are not inputs (.png, .npy, .json) and were skipped`);
        if (lagMs > 1000 / (o.rate ?? 1)) notes.push(`arrivals fell behind --rate by up to ${lagMs.toFixed(0)} ms: the pipeline could not keep up (back-pressure held the producer)`);
        if (interrupted) notes.push(`interrupted: the ${r.items} item(s) accepted before were all completed`);
        const round = (v: number, d = 3): number => +v.toFixed(d);
        const result = {
          items: r.items,
          seconds: round(r.seconds),
          throughputPerS: round(r.throughputPerS),
          boundPerS: r.boundPerS === null || !Number.isFinite(r.boundPerS) ? null : round(r.boundPerS),
          stagesMs: r.stagesMs === null ? null : { head: round(r.stagesMs.head), transfer: round(r.stagesMs.transfer), tail: round(r.stagesMs.tail) },
          boundInRunPerS: r.boundInRunPerS === null || !Number.isFinite(r.boundInRunPerS) ? null : round(r.boundInRunPerS),
          stagesInRunMs: r.stagesInRunMs === null ? null : { head: round(r.stagesInRunMs.head), transfer: round(r.stagesInRunMs.transfer), tail: round(r.stagesInRunMs.tail) },
          bd: r.bd,
          bs: r.bs,
          energyPerItemJ: r.energyPerItemJ === null ? null : round(r.energyPerItemJ, 6),
          energySource,
          split: chosen.split,
          codec: codecName(codec),
          serial: o.serial,
          tailConcurrency: r.tailConcurrency,
          fellBack: r.fellBack,
          latencyMs: { mean: round(r.latenciesMs.reduce((a, b) => a + b, 0) / Math.max(1, r.latenciesMs.length)), max: round(Math.max(0, ...r.latenciesMs)) },
          configFrom: chosen.from,
          link: conn?.linkLabel ?? "none: all on the device",
          notes,
        };
        if (o.json) out(JSON.stringify(result));
        else {
          out(
            [
              `${spec} split=${chosen.split} codec=${result.codec} bd=${r.bd} bs=${r.bs}${o.serial ? " (serial)" : ` (pipelined, ${r.tailConcurrency} tail requests in flight)`}`,
              `items        ${r.items} in ${result.seconds} s: ${result.throughputPerS} items/s${result.boundPerS === null ? "" : `, ${(r.throughputPerS / (r.boundPerS as number)).toFixed(2)} of the bound ${result.boundPerS} items/s`}`,
              ...(result.stagesMs === null ? [] : [`stages ms    head ${result.stagesMs.head}  transfer ${result.stagesMs.transfer}  tail ${result.stagesMs.tail} per item (each stage alone)`]),
              ...(result.stagesInRunMs === null || result.boundInRunPerS === null
                ? []
                : [
                    `as run       head ${result.stagesInRunMs.head}  tail ${result.stagesInRunMs.tail} ms per item in this stream: ${(r.throughputPerS / result.boundInRunPerS).toFixed(2)} of the bound ${result.boundInRunPerS} items/s of the stages as they ran (on one host the device's and the server's work slow each other)`,
                  ]),
              `energy       ${result.energyPerItemJ ?? "-"} J per item [${energySource ?? "-"}] (the stream's window over its items)`,
              ...notes.map((n) => `note: ${n}`),
            ].join("\n"),
          );
        }
        if (interrupted !== null) process.exitCode = signalExitCode(interrupted);
      } finally {
        removeInterrupt();
        await x.release();
        await thread?.close();
        await conn?.close();
        await meter.close();
      }
    }),
  );
}
