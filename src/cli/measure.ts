import { Command } from "commander";
import { z } from "zod";
import { onSoftwareAdapter, softwareAdapterLabel, type Measurement, type WebGpuAdapter } from "../contracts/measurement.js";
import { InterruptedError } from "../errors.js";
import type { ProfileResult } from "../measure/profiler.js";
import type { HeadWarmUp } from "../runtime/warmUp.js";
import { onInterrupt } from "../shutdown.js";
import { addProfilerOptions, openProfiler, ProfilerOptions } from "./profilerOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const MeasureOptions = ProfilerOptions.extend({
  cut: cliNumber(z.number().int("--cut takes a cut index (an integer, see splitwatt inspect)").min(0)),
  freqMhz: cliNumber(z.number().positive()).optional(),
  gpuFreqMhz: cliNumber(z.number().positive()).optional(),
  deviceTarget: z.string().min(1).default("cpu"),
  serverTarget: z.string().min(1).default("cpu"),
  codec: z.string().min(1).default("raw"),
  fresh: z.boolean().default(false),
});

/** The head's warm-up as the record's host facts carry it (null: no head, or a record from before). */
function warmUpOf(m: Measurement): HeadWarmUp | null {
  const w = (m.host as { warmUp?: unknown }).warmUp;
  return typeof w === "object" && w !== null && typeof (w as HeadWarmUp).firstRunMs === "number" ? (w as HeadWarmUp) : null;
}

/** The measurement as `measure --json` prints it (the issue's shape plus what explains it). */
export function measureJson(r: ProfileResult): Record<string, unknown> {
  const m: Measurement = r.measurement;
  const { samples: _samples, ...latency } = m.latencyMs;
  const host = m.host as Record<string, unknown>;
  const w = warmUpOf(m);
  return {
    config: m.config,
    latencyMs: { ...latency, ci95: host.latencyCi95 ?? null },
    breakdownMs: m.breakdownMs,
    bytes: m.bytes,
    wireBytes: m.wireBytes ?? null,
    energyJ: m.energyJ,
    energySource: m.energySource,
    accuracy: m.accuracy,
    conditions: m.conditions ?? null,
    testbed: m.testbed ?? null,
    // the head's session creation, first run (shader compilation on WebGPU) and steady state, apart
    warmUp: w === null ? null : { target: w.target, sessionCreateMs: w.sessionCreateMs, firstRunMs: w.firstRunMs, steadyRunMs: w.steadyRunMs },
    switchCost: m.switchCost ?? null,
    adapter: m.adapter ?? null,
    // true: a GPU part ran on a software adapter (lavapipe, SwiftShader): not accelerator figures
    softwareAdapter: onSoftwareAdapter(m.adapter),
    host: m.host,
    model: m.model,
    measuredAt: m.measuredAt,
    cached: r.cached,
    stopReason: r.stopReason,
    notes: r.notes,
  };
}

const f = (x: number | null | undefined, digits = 2): string => (x === null || x === undefined ? "-" : x.toFixed(digits));

export function measureCommand(): Command {
  return addProfilerOptions(new Command("measure"))
    .description("measure one configuration for real: latency distribution and breakdown, energy by part with its source, accuracy")
    .argument("<model>", "an .onnx file, a zoo name (splitwatt zoo list), or paddle:cls|rec|det")
    .requiredOption("--cut <index>", "cut index from splitwatt inspect (0 = all on the server, last = all on the device)")
    .option("--freq-mhz <mhz>", "device CPU frequency (default: leave it as it is)")
    .option("--gpu-freq-mhz <mhz>", "device GPU frequency (boards with a devfreq GPU or an i915 card; default: leave it as it is)")
    .option("--device-target <target>", "where the head runs: cpu, cpu:N threads, or webgpu (the GPU, when this machine has a WebGPU adapter)", "cpu")
    .option("--server-target <target>", "where the tail runs on the local server (cpu, cpu:N, webgpu, cuda); with --server, what that server runs", "cpu")
    .option("--codec <codec>", "cut-tensor codec: raw, fp16, int8, int8-channel, each optionally +deflate or +zstd", "raw")
    .option("--fresh", "measure again even if the store has this configuration")
    .option("--network <profile>", "network profile (configs/networks name or a JSON path), or none", "wifi-20mbps")
    .option("--json", "print JSON")
    .action(
      run(async (spec: string, raw: unknown) => {
        const o = MeasureOptions.parse(raw);
        // a target this machine cannot run is refused first, in one line (before the model is built or a server started)
        const [{ parseExecutionTarget }, { ensureTargetAvailable }] = await Promise.all([import("../runtime/executionTarget.js"), import("../runtime/targetAvailability.js")]);
        await ensureTargetAvailable(parseExecutionTarget(o.deviceTarget, "device"), "device");
        if (o.server === undefined) await ensureTargetAvailable(parseExecutionTarget(o.serverTarget, "server"), "server");
        // a signal (src/shutdown.ts) aborts the measurement; the profiler's close follows, then exit 130/143
        const controller = new AbortController();
        const removeInterrupt = onInterrupt((signal) =>
          controller.abort(new InterruptedError(signal, `interrupted by ${signal}: this configuration was not stored; run the same command again to measure it`)),
        );
        let r: ProfileResult;
        try {
          const { profiler, warnings } = await openProfiler(spec, o);
          for (const w of warnings) process.stderr.write(`splitwatt: warning: measurement store ${w}\n`);
          try {
            controller.signal.throwIfAborted();
            r = await profiler.measure(
              { split: o.cut, cpuFreqMHz: o.freqMhz ?? "current", gpuFreqMHz: o.gpuFreqMhz, deviceTarget: o.deviceTarget, serverTarget: o.serverTarget, codec: o.codec },
              { fresh: o.fresh, signal: controller.signal },
            );
          } finally {
            await profiler.close();
          }
        } finally {
          removeInterrupt();
        }
        if (o.json) {
          process.stdout.write(`${JSON.stringify(measureJson(r), null, 2)}\n`);
          return;
        }
        const m = r.measurement;
        const b = m.breakdownMs;
        const e = m.energyJ;
        const s = m.energySource;
        const w = warmUpOf(m);
        const adapterText = (a: WebGpuAdapter | null | undefined): string => (a == null ? "-" : `${a.device} (${a.description})${a.software === true ? " [SOFTWARE: not an accelerator]" : ""}`);
        const software = softwareAdapterLabel(m.adapter);
        const host = m.host as { latencyCi95?: [number, number]; deviceMeter?: { spec: string }; deviceEstimateFreqMHz?: number | null };
        const ci = host.latencyCi95;
        // the device figure's source with what it rests on: the meter's spec, the estimate's frequency
        const device =
          s.device === "meter" && host.deviceMeter !== undefined
            ? `meter ${host.deviceMeter.spec}`
            : s.device === "estimate" && host.deviceEstimateFreqMHz !== undefined
              ? `estimate at ${host.deviceEstimateFreqMHz === null ? "an unknown frequency (the profile's maximum)" : `${host.deviceEstimateFreqMHz} MHz`}`
              : (s.device ?? "-");
        const lines = [
          `${spec} ${Object.entries(m.config)
            .map(([k, v]) => `${k}=${v}`)
            .join(" ")}${r.cached ? " (from the store, not measured again: --fresh to re-measure)" : ""}`,
          `latency ms   mean ${f(m.latencyMs.mean)}${ci ? ` (95% CI ${f(ci[0])}-${f(ci[1])})` : ""}  p50 ${f(m.latencyMs.p50)}  p95 ${f(m.latencyMs.p95)}  p99 ${f(m.latencyMs.p99)}  n ${m.latencyMs.n}${r.cached ? "" : ` (stopped: ${r.stopReason})`}`,
          `breakdown ms head ${f(b.head)}  encode ${f(b.encode)}  transfer ${f(b.transfer)}  server ${f(b.server)}  decode ${f(b.decode)}`,
          `cut tensor   ${m.bytes} bytes (${m.wireBytes ?? "-"} bytes on the wire)`,
          `energy J     device ${f(e.device, 4)} [${device}]  network ${f(e.network, 4)} [${s.network ?? "-"}]  server ${f(e.server, 4)} [${s.server ?? "-"}]  total ${f(e.total, 4)}`,
          `accuracy     ${m.accuracy === null ? "not measured" : `${f(m.accuracy.value, 4)} (n ${m.accuracy.n}, 95% CI ${f(m.accuracy.ci95[0], 3)}-${f(m.accuracy.ci95[1], 3)})`}`,
          ...(w === null
            ? []
            : [
                `warm-up ms   head on ${w.target}: session ${f(w.sessionCreateMs, 1)}  first run ${f(w.firstRunMs, 1)}${w.target === "webgpu" ? " (shader compilation)" : ""}  steady ${f(w.steadyRunMs, 2)}  switch cost ${f(m.switchCost?.acceleratorMs, 1)}`,
              ]),
          ...(m.switchCost?.gpuFreqMs == null ? [] : [`gpu clock    set in ${f(m.switchCost.gpuFreqMs, 2)} ms`]),
          ...(m.adapter === undefined || (m.adapter.device === null && m.adapter.server === null) ? [] : [`adapter      head ${adapterText(m.adapter.device)}  tail ${adapterText(m.adapter.server)}`]),
          ...(software === null || r.notes.includes(software) ? [] : [`note: ${software}`]),
          ...r.notes.map((n) => `note: ${n}`),
        ];
        process.stdout.write(`${lines.join("\n")}\n`);
      }),
    );
}
