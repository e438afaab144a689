/**
 * What happened to one request, and its two wire forms: flat Open Inference Protocol response
 * `parameters` (strings, numbers, booleans only) and the nested JSON of image answers and
 * /v1/status.
 */
import type * as ort from "onnxruntime-node";
import type { Config } from "../../contracts/measurement.js";
import type { PartsMs } from "../../predict/costModel.js";
import type { EnergyParts } from "./energyParts.js";

/** Why a request was answered from the device instead of the tail server. */
export type FallbackReason = "breaker-open" | "server-error" | "server-timeout" | "no-time-for-server";

export interface Outcome {
  /** the daemon's sequence number of the request */
  id: number;
  policy: string;
  config: Config;
  /** canonical key of the configuration (dim=value, sorted) */
  configKey: string;
  /** the policy's reason, one line */
  reason: string;
  /** false: no configuration was predicted to meet the deadline (the fastest / most likely ran) */
  feasible: boolean;
  /** predicted probability of meeting the deadline */
  probability: number;
  predicted: { latencyMs: number; breakdownMs: PartsMs | null; energyJ: { device: number | null; network: number | null; server: number | null; total: number }; perPart: boolean };
  deadlineMs: number;
  deadlineMet: boolean;
  /** from the request's arrival to its result, ms */
  latencyMs: number;
  /** arrival to the head's start (body read, decision, device queue), ms */
  queueMs: number;
  /** the answering run's stages, ms */
  breakdownMs: PartsMs;
  frequency: { controlled: boolean; mhz: number | null; switched: boolean; switchMs: number };
  fallback: { reason: FallbackReason; detail: string; from: Config | null } | null;
  energy: EnergyParts;
  bytesSent: number;
  outputs: Record<string, ort.Tensor>;
}

const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
const r3 = (x: number | null): number | null => (x === null ? null : round(x));
const r6 = (x: number | null): number | null => (x === null ? null : round(x, 6));

/** The nested form (without the outputs). */
export function outcomeJson(o: Outcome): Record<string, unknown> {
  const b = o.breakdownMs;
  const p = o.predicted;
  return {
    id: o.id,
    policy: o.policy,
    config: o.config,
    configKey: o.configKey,
    reason: o.reason,
    feasible: o.feasible,
    probability: round(o.probability, 4),
    predicted: {
      latencyMs: round(p.latencyMs),
      breakdownMs: p.breakdownMs === null ? null : Object.fromEntries(Object.entries(p.breakdownMs).map(([k, v]) => [k, round(v)])),
      energyJ: { device: r6(p.energyJ.device), network: r6(p.energyJ.network), server: r6(p.energyJ.server), total: round(p.energyJ.total, 6) },
      perPart: p.perPart,
    },
    deadlineMs: o.deadlineMs,
    deadlineMet: o.deadlineMet,
    latencyMs: round(o.latencyMs),
    queueMs: round(o.queueMs),
    breakdownMs: { head: round(b.head), encode: round(b.encode), transfer: round(b.transfer), server: round(b.server), decode: round(b.decode) },
    frequency: { ...o.frequency, switchMs: round(o.frequency.switchMs) },
    fallback: o.fallback,
    energyJ: { device: r6(o.energy.energyJ.device), network: r6(o.energy.energyJ.network), server: r6(o.energy.energyJ.server), total: r6(o.energy.energyJ.total) },
    energySource: o.energy.source,
    energyPending: o.energy.devicePending,
    bytesSent: o.bytesSent,
  };
}

/** The flat form: Open Inference Protocol response parameters. Unknown figures are left out. */
export function outcomeParameters(o: Outcome): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  const put = (k: string, v: string | number | boolean | null): void => {
    if (v !== null) out[k] = v;
  };
  put("policy", o.policy);
  put("config", JSON.stringify(o.config));
  put("config_key", o.configKey);
  put("reason", o.reason);
  put("feasible", o.feasible);
  put("probability", round(o.probability, 4));
  put("deadline_ms", o.deadlineMs);
  put("deadline_met", o.deadlineMet);
  put("fallback", o.fallback !== null);
  if (o.fallback !== null) {
    put("fallback_reason", o.fallback.reason);
    put("fallback_detail", o.fallback.detail);
  }
  put("predicted_latency_ms", round(o.predicted.latencyMs));
  const pb = o.predicted.breakdownMs;
  if (pb !== null) for (const [k, v] of Object.entries(pb)) put(`predicted_${k}_ms`, round(v));
  put("predicted_energy_j", round(o.predicted.energyJ.total, 6));
  put("latency_ms", round(o.latencyMs));
  put("queue_ms", round(o.queueMs));
  for (const [k, v] of Object.entries(o.breakdownMs)) put(`${k}_ms`, round(v));
  put("cpu_freq_mhz", o.frequency.mhz);
  put("frequency_controlled", o.frequency.controlled);
  put("frequency_switch_ms", round(o.frequency.switchMs));
  const e = o.energy;
  put("energy_j", r6(e.energyJ.total));
  for (const part of ["device", "network", "server"] as const) {
    put(`energy_${part}_j`, r6(e.energyJ[part]));
    put(`energy_${part}_source`, e.source[part]);
  }
  if (e.devicePending) put("energy_device_pending", true);
  put("bytes_sent", o.bytesSent);
  put("request_id", o.id);
  return out;
}

/** Short form of an outcome for logs. */
export function outcomeLog(o: Outcome): Record<string, unknown> {
  return {
    id: o.id,
    policy: o.policy,
    config: o.configKey,
    deadlineMs: o.deadlineMs,
    latencyMs: r3(o.latencyMs),
    met: o.deadlineMet,
    feasible: o.feasible,
    fallback: o.fallback?.reason ?? null,
    energyJ: r6(o.energy.energyJ.total),
  };
}
