/**
 * The Measurement record (version 1): one measured (or replayed / imported) configuration of
 * one model on one host. See DESIGN.md, "Contracts". Stores keep these as JSON lines.
 */
import { z } from "zod";
import { UsageError } from "../errors.js";

export const ENERGY_SOURCES = ["rapl", "hwmon", "nvml", "ina3221", "meter", "node", "estimate", "replay"] as const;
/**
 * Where a J figure came from. `node` = whole-node accounting: the energy of the entire server
 * machine over the request, not only the inference process (DynaSplit's cloud figures).
 */
export type EnergySourceName = (typeof ENERGY_SOURCES)[number];

export type ConfigValue = string | number | boolean;
export type Config = Record<string, ConfigValue>;

const nonNeg = z.number().nonnegative();
const nonNegOrNull = nonNeg.nullable();
const sourceOrNull = z.enum(ENERGY_SOURCES).nullable();

export const configSchema = z.record(z.string().min(1), z.union([z.string(), z.number(), z.boolean()]));

/**
 * The conditions a configuration was measured under, so it can be re-predicted under others
 * (src/predict/costModel.ts). Every field is null where unknown.
 */
export const conditionsSchema = z.strictObject({
  /** network profile name (configs/networks), null when none */
  network: z.string().min(1).nullable(),
  /** uplink bandwidth of the link while measuring, Mbit/s: the shaped rate, or an estimate from the transfers */
  bandwidthMbps: z.number().positive().nullable(),
  /** bandwidth seen by the requests themselves: wire bytes x 8 / (transfer - RTT), Mbit/s */
  measuredBandwidthMbps: z.number().positive().nullable(),
  /** round trip added per request (the profile's RTT), ms */
  rttMs: nonNeg.nullable(),
  /** mean time requests waited in the server's queue, ms */
  serverWaitMs: nonNeg.nullable(),
  /** how the link was made: "kernel netns + tbf ...", "app token bucket ...", "real network", "replay" */
  link: z.string().min(1).nullable(),
  /** the tail server: its URL, "local" (a child on this machine) or null (nothing sent, or a pool) */
  server: z.string().min(1).nullable(),
  /** device power while idle at this configuration's frequency, W (the idle baseline) */
  deviceIdleW: nonNeg.nullable(),
  /** radio power of the network profile while sending / receiving, W */
  radio: z.strictObject({ txW: nonNeg, rxW: nonNeg }).nullable(),
});
export type Conditions = z.infer<typeof conditionsSchema>;

/** Conditions with nothing known. */
export const UNKNOWN_CONDITIONS: Conditions = {
  network: null,
  bandwidthMbps: null,
  measuredBandwidthMbps: null,
  rttMs: null,
  serverWaitMs: null,
  link: null,
  server: null,
  deviceIdleW: null,
  radio: null,
};

/** How the link to the tail server was made, as the testbed names it. */
export const TESTBED_LINKS = ["kernel", "app", "none", "real"] as const;
export type TestbedLink = (typeof TESTBED_LINKS)[number];

/**
 * The testbed a configuration was measured on, besides the host: what changes its figures while
 * the config stays the same. It is part of the measurement key (see `measurementKey`), so a
 * measurement is reused only on the testbed it was made on. Records stored before the testbed
 * was keyed (and imported pools) have none: they stay readable and never match a live key.
 */
export const testbedSchema = z.strictObject({
  /** the tail server: "local" (a `splitwatt serve` child on this machine) or its URL (`testbedServer`) */
  server: z.string().min(1),
  /** network profile name, or "none" */
  network: z.string().min(1),
  /** kernel (netns + tbf), app (token bucket in the client), none (loopback, not shaped), real (a real network to a server URL) */
  link: z.enum(TESTBED_LINKS),
  /** device board profile: its power model prices the estimate */
  board: z.string().min(1),
  /** device energy source, as host.deviceEnergy: "estimate", the counters' ids joined by +, or "meter:SPEC" (password hidden) */
  deviceEnergy: z.string().min(1),
  /** server energy accounting and power model, "marginal@generic-x86" or "node@..." */
  serverEnergy: z.string().min(1),
});
export type Testbed = z.infer<typeof testbedSchema>;

/**
 * A server URL as a testbed names it: without user info, lower-case scheme and host, no
 * trailing slash (`http://Server:8000/` and `http://server:8000` are one server).
 */
export function testbedServer(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`server "${url}" is not a URL; give one such as http://10.0.0.2:8000`);
  }
  u.username = "";
  u.password = "";
  u.hash = "";
  return u.href.replace(/\/$/, "");
}

/** The testbed's canonical key: its fields as `canonicalConfigKey` writes a config (sorted, escaped). */
export function canonicalTestbedKey(t: Testbed): string {
  return canonicalConfigKey({ ...t });
}

/**
 * The GPU adapter a WebGPU session ran on (src/runtime/webgpu.ts names it from the Vulkan
 * loader's devices: onnxruntime-node does not report it). `software`: a CPU implementation of
 * Vulkan (lavapipe/llvmpipe, SwiftShader), so its figures are NOT accelerator figures; null when
 * the adapter could not be identified.
 */
export const webgpuAdapterSchema = z.strictObject({
  /** "nvidia", "intel", "arm", "mesa" (lavapipe), ...: the Vulkan vendor */
  vendor: z.string().min(1),
  /** GPU architecture; null where neither onnxruntime-node nor Vulkan names it */
  architecture: z.string().min(1).nullable(),
  /** the device, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" */
  device: z.string().min(1),
  /** the Vulkan driver, e.g. "llvmpipe"; null when unknown */
  driver: z.string().min(1).nullable(),
  /** driver details, e.g. "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)" */
  description: z.string(),
  software: z.boolean().nullable(),
  /** how it was named: the only Vulkan device, the one Dawn ranks first among several, or not at all */
  identifiedBy: z.enum(["only-vulkan-device", "dawn-ranking", "unknown"]),
});
export type WebGpuAdapter = z.infer<typeof webgpuAdapterSchema>;

/** Which adapter the head (device) and the tail (server) ran on; null = not on a GPU (a CPU target) or nothing ran there. */
export const adaptersSchema = z.strictObject({ device: webgpuAdapterSchema.nullable(), server: webgpuAdapterSchema.nullable() });
export type Adapters = z.infer<typeof adaptersSchema>;

/** True when any part ran on a software adapter (lavapipe, SwiftShader): such figures are not accelerator figures. */
export function onSoftwareAdapter(adapter: Adapters | undefined): boolean {
  return adapter?.device?.software === true || adapter?.server?.software === true;
}

/** The one-line label every output gives a measurement on a software adapter (null when none ran on one). */
export function softwareAdapterLabel(adapter: Adapters | undefined): string | null {
  if (!onSoftwareAdapter(adapter)) return null;
  const parts = (["device", "server"] as const).flatMap((side) => {
    const a = adapter?.[side];
    return a?.software === true ? [`${side === "device" ? "head" : "tail"} on ${a.device}`] : [];
  });
  return `software GPU (${parts.join(", ")}): a CPU implementation of Vulkan, not accelerator figures`;
}

/**
 * What switching to this configuration costs beyond a steady request, ms, as measured: the
 * accelerator's (loading the head session on its target plus the first run's extra time, which
 * on WebGPU is shader compilation: src/runtime/warmUp.ts acceleratorSwitchCostMs) and the GPU
 * frequency's (the measured time to set it: src/hw/gpufreq.ts gpuFreqSwitchCostMs). null where
 * not measured (no head; no GPU frequency dimension).
 */
export const switchCostSchema = z.strictObject({ acceleratorMs: z.number().nonnegative().nullable(), gpuFreqMs: z.number().nonnegative().nullable() });
export type SwitchCost = z.infer<typeof switchCostSchema>;

export const measurementSchema = z.strictObject({
  version: z.literal(1),
  /** `measurementKey(config, host.name, model.sha256, testbed)`; checked on append and on read */
  key: z.string().min(1),
  config: configSchema,
  model: z.strictObject({ name: z.string().min(1), sha256: z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits") }),
  /** host facts; `name` identifies the host in the key, anything else is informative */
  host: z.looseObject({ name: z.string().min(1), board: z.string().optional() }),
  /** per-inference latency; percentiles are null when only a mean is known (imported data) */
  latencyMs: z.strictObject({
    mean: nonNeg,
    p50: nonNegOrNull,
    p95: nonNegOrNull,
    p99: nonNegOrNull,
    n: z.number().int().positive(),
    samples: z.array(nonNeg).optional(),
  }),
  /** mean per-inference stage times; null = not measured separately */
  breakdownMs: z.strictObject({
    head: nonNegOrNull,
    encode: nonNegOrNull,
    transfer: nonNegOrNull,
    server: nonNegOrNull,
    decode: nonNegOrNull,
  }),
  /** cut-tensor bytes sent per inference, as the codec encoded them (0 when nothing is sent) */
  bytes: z.number().int().nonnegative(),
  /** request body bytes on the wire per inference (cut tensors plus the protocol's header) */
  wireBytes: z.number().int().nonnegative().optional(),
  /** J per inference; `total` is what optimisation uses. `serverGpu` is a part of `server`, not added to total. */
  energyJ: z.strictObject({
    device: nonNegOrNull,
    network: nonNegOrNull,
    server: nonNegOrNull,
    total: nonNegOrNull,
    serverGpu: nonNegOrNull.optional(),
  }),
  /** source of each energy figure; null exactly when that figure is null */
  energySource: z.strictObject({ device: sourceOrNull, network: sourceOrNull, server: sourceOrNull }),
  accuracy: z
    .strictObject({
      value: z.number().min(0).max(1),
      n: z.number().int().positive(),
      ci95: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]),
    })
    .nullable(),
  /** mean utilisation in percent, when recorded */
  utilizationPct: z
    .strictObject({ deviceCpu: nonNegOrNull, serverCpu: nonNegOrNull, serverGpu: nonNegOrNull })
    .optional(),
  /** what the measurement depended on besides its config (absent in records before it was added) */
  conditions: conditionsSchema.optional(),
  /** the testbed it was measured on, part of the key (absent in older records and imported pools) */
  testbed: testbedSchema.optional(),
  /**
   * items per second: a stream through the pipeline (configs with deviceBatch / serverBatch), as
   * measured; absent for one-at-a-time measurements (whose throughput is 1000 / the mean latency)
   */
  throughputPerS: z.number().positive().optional(),
  /** how a pipelined stream ran (configs with deviceBatch / serverBatch) */
  pipeline: z
    .strictObject({
      deviceBatch: z.number().int().positive(),
      serverBatch: z.number().int().positive(),
      tailConcurrency: z.number().int().positive(),
      items: z.number().int().positive(),
      seconds: nonNeg,
      /** the bottleneck-stage bound of the same run (each stage alone), items/s */
      boundPerS: z.number().positive().nullable(),
      /** per item, each stage alone, ms */
      stagesMs: z.strictObject({ head: nonNeg, transfer: nonNeg, tail: nonNeg }).nullable(),
    })
    .optional(),
  /** the GPU adapters the head and tail ran on (absent in records before it was added) */
  adapter: adaptersSchema.optional(),
  /** the measured switch cost (absent in records before it was added, and in imported ones) */
  switchCost: switchCostSchema.optional(),
  measuredAt: z.iso.datetime({ offset: true }),
  source: z.enum(["measured", "replay", "imported"]),
});

export type Measurement = z.infer<typeof measurementSchema>;

const escapePart = (s: string): string => s.replace(/[%;=|]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);

function valueString(dim: string, v: ConfigValue): string {
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new UsageError(`config dimension "${dim}" is ${v}; use a finite number`);
    return Object.is(v, -0) ? "0" : String(v);
  }
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return escapePart(v);
  throw new UsageError(`config dimension "${dim}" has a ${typeof v} value; use a string, number or boolean`);
}

/**
 * Canonical config key: dimensions sorted by code unit, `dim=value` joined by `;`, e.g.
 * `cpuFreqMHz=1200;split=5`. Numbers print as JS `String(n)` (1200.0 and 1200 are the same key),
 * booleans as true/false; `% ; = |` in names or string values are percent-escaped.
 */
export function canonicalConfigKey(config: Config): string {
  const dims = Object.keys(config).sort();
  if (dims.length === 0) throw new UsageError("config has no dimensions; give at least one");
  return dims
    .map((d) => {
      if (d.length === 0) throw new UsageError("config has an empty dimension name");
      return `${escapePart(d)}=${valueString(d, config[d] as ConfigValue)}`;
    })
    .join(";");
}

/**
 * The store's key of one configuration of one model measured on one host and testbed:
 * `host|sha256|canonicalTestbedKey|canonicalConfigKey`, e.g.
 * `pi4|<sha256>|board=rpi4;deviceEnergy=estimate;link=kernel;network=wifi-20mbps;server=local;serverEnergy=marginal@generic-x86|codec=raw;split=5`.
 * Without a testbed (records stored before it was keyed, imported pools) it is
 * `host|sha256|canonicalConfigKey`, which no key with a testbed equals. `|` never occurs inside a
 * part (it is escaped), so the parts split on it.
 */
export function measurementKey(config: Config, hostName: string, modelSha256: string, testbed?: Testbed): string {
  if (hostName.length === 0) throw new UsageError("host name is empty; give the host a name");
  if (!/^[0-9a-f]{64}$/.test(modelSha256)) throw new UsageError(`model sha256 "${modelSha256}" is not 64 lower-case hex digits`);
  const where = testbed === undefined ? "" : `${canonicalTestbedKey(testbed)}|`;
  return `${escapePart(hostName)}|${modelSha256}|${where}${canonicalConfigKey(config)}`;
}

/** Wilson score 95% interval for a proportion `p` over `n` trials. */
export function wilson95(p: number, n: number): [number, number] {
  const z = 1.959963984540054;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}

/**
 * Validate a record: schema, key consistency, and energy source null exactly when energy is null.
 * Returns the parsed record or a one-line reason.
 */
export function checkMeasurement(x: unknown): { ok: true; value: Measurement } | { ok: false; reason: string } {
  const r = measurementSchema.safeParse(x);
  if (!r.success) {
    const i = r.error.issues[0];
    return { ok: false, reason: i ? `${i.path.join(".") || "(record)"}: ${i.message}` : "invalid record" };
  }
  const m = r.data;
  let expected: string;
  try {
    expected = measurementKey(m.config, m.host.name, m.model.sha256, m.testbed);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (m.key !== expected) return { ok: false, reason: `key "${m.key}" does not match its config/host/model/testbed; expected "${expected}"` };
  for (const part of ["device", "network", "server"] as const) {
    if ((m.energyJ[part] === null) !== (m.energySource[part] === null)) {
      return { ok: false, reason: `energySource.${part} must be null exactly when energyJ.${part} is null` };
    }
  }
  return { ok: true, value: m };
}
