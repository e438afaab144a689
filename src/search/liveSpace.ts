/**
 * The live search space and its evaluator: dimensions from the system (the model's cuts, the
 * frequencies cpufreq offers, the GPU clock's frequencies, the targets this machine can run, the
 * codecs) and a Profiler behind a measurement store, so a configuration measured once is never
 * measured again and a restarted run with the same arguments replays its evaluations from the
 * store and carries on.
 *
 * Defaults: `deviceTarget` and `serverTarget` are what this machine runs (`cpu`, `cpu:N`, and
 * `webgpu` when the WebGPU probe gets an adapter; with a given server URL, what that server
 * says it runs); `gpuFreqMHz` is a dimension when the board exposes a GPU clock and a device
 * target runs on the GPU (it changes nothing for a CPU head).
 */
import { UsageError } from "../errors.js";
import type { Config, ConfigValue } from "../contracts/measurement.js";
import { entryOfMeasurement } from "../contracts/paretoFile.js";
import { canonicalTargetName, parseExecutionTarget, usesGpuAdapter } from "../runtime/executionTarget.js";
import { ensureTargetAvailable } from "../runtime/targetAvailability.js";
import { codecName, parseCodec } from "../transport/codecs/codecs.js";
import type { LiveConfig, Profiler } from "../measure/profiler.js";
import type { AnchorSpec } from "./anchors.js";
import type { EvaluationResult, Evaluator } from "./evaluator.js";
import { Space } from "./space.js";

/** What the user asks for per dimension; undefined = the default. */
export interface LiveDimensionsSpec {
  /** "all", "bottlenecks" (natural bottlenecks plus all-on-server and all-on-device) or cut indices */
  split?: "all" | "bottlenecks" | number[] | undefined;
  /** MHz values, or "all" offered */
  cpuFreqMHz?: "all" | number[] | undefined;
  /** GPU clock MHz values, or "all" offered (only where the board exposes a GPU clock) */
  gpuFreqMHz?: "all" | number[] | undefined;
  deviceTarget?: string[] | undefined;
  serverTarget?: string[] | undefined;
  codec?: string[] | undefined;
  /** device batch sizes b_d; given (with or without serverBatch), every configuration is measured as a stream through the pipeline */
  deviceBatch?: number[] | undefined;
  /** server batch sizes b_s (items per tail request) */
  serverBatch?: number[] | undefined;
}

export const DEFAULT_CODECS = ["raw", "fp16", "int8"] as const;
/** above this many cuts, the default split dimension is the natural bottlenecks */
export const ALL_CUTS_LIMIT = 64;

export interface LiveSpace {
  space: Space;
  evaluate: Evaluator;
  anchors: AnchorSpec;
}

export async function liveSpace(profiler: Profiler, spec: LiveDimensionsSpec = {}): Promise<LiveSpace> {
  const a = profiler.analysis;
  const L = profiler.lastSplit;
  let splits: number[];
  const s = spec.split ?? (L + 1 <= ALL_CUTS_LIMIT ? "all" : "bottlenecks");
  if (s === "all") splits = a.cuts.map((c) => c.index);
  else if (s === "bottlenecks") splits = [...new Set([0, ...a.cuts.filter((c) => c.naturalBottleneck).map((c) => c.index), L])].sort((x, y) => x - y);
  else {
    for (const k of s) if (!Number.isInteger(k) || k < 0 || k > L) throw new UsageError(`split ${k} is out of range: this model has cuts 0-${L} (see splitwatt inspect)`);
    splits = [...new Set(s)].sort((x, y) => x - y);
  }
  const offered = await profiler.frequencies();
  let freqs: ConfigValue[];
  if (spec.cpuFreqMHz === undefined || spec.cpuFreqMHz === "all") freqs = offered;
  else {
    if (offered[0] === "current") throw new UsageError("this machine offers no cpufreq, so frequencies cannot be searched: leave out cpuFreqMHz (the current frequency is used)");
    for (const f of spec.cpuFreqMHz) {
      if (!offered.includes(f)) throw new UsageError(`${f} MHz is not offered here; offered MHz: ${offered.join(", ")}`);
    }
    freqs = [...new Set(spec.cpuFreqMHz)].sort((x, y) => x - y);
  }
  const deviceTargets = spec.deviceTarget ?? (await profiler.offeredTargets("device"));
  const serverTargets = spec.serverTarget ?? (await profiler.offeredTargets("server"));
  const codecs = spec.codec ?? [...DEFAULT_CODECS];
  for (const [name, list] of [
    ["deviceTarget", deviceTargets],
    ["serverTarget", serverTargets],
    ["codec", codecs],
  ] as const) {
    if (list.length === 0) throw new UsageError(`dimension ${name} has no values; give at least one`);
  }
  // canonical names, so configs match the store's keys (e.g. "int8+none" -> "int8", "cpu:0" -> "cpu")
  const canonicalCodecs = [...new Set(codecs.map((c) => codecName(parseCodec(c))))];
  const canonicalTargets = [...new Set(deviceTargets.map((t) => canonicalTargetName(t, "device")))];
  const canonicalServers = [...new Set(serverTargets.map((t) => canonicalTargetName(t, "server")))];
  // a target asked for that this machine cannot run is refused here, in one line, before any measurement
  for (const t of canonicalTargets) await ensureTargetAvailable(parseExecutionTarget(t, "device"), "device");
  if (!profiler.remoteServer) for (const t of canonicalServers) await ensureTargetAvailable(parseExecutionTarget(t, "server"), "server");
  const gpuTargets = new Set(canonicalTargets.filter((t) => usesGpuAdapter(parseExecutionTarget(t, "device"))));
  const gpuOffered = profiler.gpuFrequencies();
  let gpuFreqs: number[] = [];
  if (spec.gpuFreqMHz !== undefined && spec.gpuFreqMHz !== "all") {
    if (gpuOffered.length === 0) throw new UsageError("this board exposes no GPU clock, so GPU frequencies cannot be searched: leave out gpuFreqMHz (see splitwatt hw)");
    if (gpuTargets.size === 0) throw new UsageError("gpuFreqMHz needs a device target on the GPU (webgpu): add it to deviceTarget, or leave out gpuFreqMHz");
    for (const f of spec.gpuFreqMHz) if (!gpuOffered.includes(f)) throw new UsageError(`GPU ${f} MHz is not offered here; offered MHz: ${gpuOffered.join(", ")}`);
    gpuFreqs = [...new Set(spec.gpuFreqMHz)].sort((x, y) => x - y);
  } else if (gpuTargets.size > 0) gpuFreqs = gpuOffered;
  const firstDevice = canonicalTargets[0] as string;
  const firstGpuFreq = gpuFreqs[0];
  const firstServer = canonicalServers[0] as string;
  const firstCodec = canonicalCodecs[0] as string;
  // Validity, as DynaSplit's rules: nothing runs on the device at split 0 (one device target
  // stands for all), nothing on the server and nothing is sent at split L; the GPU clock
  // matters only to a head on the GPU (elsewhere its lowest value stands for all, as DynaSplit's
  // accelerator mode does when the accelerator is off).
  const isValid = (c: Config): boolean =>
    (c.split !== 0 || c.deviceTarget === firstDevice) &&
    (c.split !== L || (c.serverTarget === firstServer && c.codec === firstCodec)) &&
    (firstGpuFreq === undefined || c.gpuFreqMHz === firstGpuFreq || (c.split !== 0 && gpuTargets.has(String(c.deviceTarget))));
  // batch dimensions: both or neither (a stream needs both sizes); one given alone takes [1] for the other
  const batched = spec.deviceBatch !== undefined || spec.serverBatch !== undefined;
  const sizes = (list: number[] | undefined, name: string): number[] => {
    const v = [...new Set(list ?? [1])].sort((x, y) => x - y);
    for (const b of v) if (!Number.isInteger(b) || b < 1 || b > 4096) throw new UsageError(`dimension ${name}: ${b} is not a batch size (a whole number from 1 to 4096)`);
    return v;
  };
  const deviceBatches = batched ? sizes(spec.deviceBatch, "deviceBatch") : [];
  const serverBatches = batched ? sizes(spec.serverBatch, "serverBatch") : [];
  // nothing runs on the device at split 0 (one device batch stands for all), nothing is sent at split L (one server batch)
  const isValidBatched = (c: Config): boolean =>
    isValid(c) && (c.split !== 0 || c.deviceBatch === deviceBatches[0]) && (c.split !== L || c.serverBatch === serverBatches[0]);
  const space = new Space(
    [
      { name: "split", values: splits, ordered: true },
      { name: "cpuFreqMHz", values: freqs, ordered: true },
      ...(gpuFreqs.length > 0 ? [{ name: "gpuFreqMHz", values: gpuFreqs, ordered: true }] : []),
      { name: "deviceTarget", values: canonicalTargets, ordered: false },
      { name: "serverTarget", values: canonicalServers, ordered: false },
      { name: "codec", values: canonicalCodecs, ordered: false },
      ...(batched
        ? [
            { name: "deviceBatch", values: deviceBatches, ordered: true },
            { name: "serverBatch", values: serverBatches, ordered: true },
          ]
        : []),
    ],
    batched ? isValidBatched : isValid,
  );
  const numericFreqs = freqs.filter((f): f is number => typeof f === "number");
  const anchors: AnchorSpec = {
    split: { dimension: "split", device: L, server: 0 },
    deviceDimensions: ["cpuFreqMHz", ...(gpuFreqs.length > 0 ? ["gpuFreqMHz"] : []), "deviceTarget", ...(batched ? ["deviceBatch"] : [])],
    serverDimensions: ["serverTarget", ...(batched ? ["serverBatch"] : [])],
    // all on the server: the device only sends, at its highest frequency (the quickest send)
    ...(numericFreqs.length > 0 ? { fill: { cpuFreqMHz: Math.max(...numericFreqs) } } : {}),
  };
  if (!splits.includes(0) || !splits.includes(L)) {
    throw new UsageError(`the split dimension must include 0 (all on the server) and ${L} (all on the device): the anchors need both`);
  }
  const evaluate: Evaluator = async (config, ctx): Promise<EvaluationResult | null> => {
    const c: LiveConfig = {
      split: config.split as number,
      cpuFreqMHz: config.cpuFreqMHz as number | "current",
      ...(config.gpuFreqMHz === undefined ? {} : { gpuFreqMHz: config.gpuFreqMHz as number }),
      deviceTarget: String(config.deviceTarget),
      serverTarget: String(config.serverTarget),
      codec: String(config.codec),
      ...(batched ? { deviceBatch: config.deviceBatch as number, serverBatch: config.serverBatch as number } : {}),
    };
    const r = await profiler.measure(c, { signal: ctx.signal });
    const m = r.measurement;
    // no energy figure (an external meter failed through every request): not evaluable, never 0 J
    if (m.energyJ.total === null) return null;
    const { config: _config, ...entry } = entryOfMeasurement(m);
    return {
      latencyMs: entry.latencyMs,
      latency: { p50: entry.latency.p50, p95: entry.latency.p95, p99: entry.latency.p99, max: entry.latency.max, n: entry.latency.n },
      energyJ: entry.energyJ.total,
      accuracy: entry.accuracy?.value ?? null,
      throughputPerS: m.throughputPerS ?? null,
      cached: r.cached,
      measurement: m,
      entry,
    };
  };
  return { space, evaluate, anchors };
}
