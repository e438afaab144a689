/**
 * The cost model: a configuration's latency distribution and energy by part under given link
 * and server conditions, from what was measured of it (a pareto-file entry: breakdown, bytes,
 * energy by part and the conditions it was measured under). Pure functions; the daemon's
 * policies, the replay simulator and guided search share them.
 *
 * With m = measured, n = now:
 *
 *   payload_m  = max(0, transfer_m - rtt_m)                    (time the bytes took)
 *   bandwidth_m = conditions.bandwidthMbps ?? measuredBandwidthMbps ?? wireBytes x 8 / payload_m
 *   payload_n  = payload_m x bandwidth_m / bandwidth_n         (bytes / rate: halving the rate doubles it)
 *   transfer_n = rtt_n + payload_n
 *   server_n   = server_m - wait_m + wait_n                    (the server's queue wait, as it reports it)
 *   head_n     = head_m x s                                    (s = headScale: the device's head time now
 *                over as measured, e.g. a board throttled since it was profiled; 1 unless known)
 *   latency_n  = head_n + encode + transfer_n + server_n + decode
 *   samples_n  = samples_m + (latency_n - latency_m)           (the measured spread, moved)
 *
 *   device_n   = device_m + P_wait x (latency_n - latency_m - (head_n - head_m))
 *                (the device waits for the answer; P_wait = the record's idle power, else its mean
 *                power over the request; a slower head keeps its measured energy: a lower bound)
 *   network_n  = radio tx W x upload_n + rx W x (transfer_n - upload_n), upload_n = wireBytes x 8 /
 *                bandwidth_n, when the radio's power is known; else network_m x transfer_n / transfer_m
 *   server_n   = server_m energy (its compute does not change with the link)
 *
 * A record with nothing sent (all on the device) or without per-part data (a version-1 pareto
 * file) is predicted as measured (all on the device: but for head_n): `perPart` says which. Unknown measured RTT and wait count as 0.
 */
import type { ParetoEntry } from "../contracts/paretoFile.js";

/** What the cost model reads of a configuration. */
export type CostRecord = Pick<ParetoEntry, "latencyMs" | "latency" | "breakdownMs" | "bytes" | "wireBytes" | "energyJ" | "conditions">;

/** The conditions to predict under. */
export interface LinkState {
  /** uplink bandwidth, Mbit/s (> 0) */
  bandwidthMbps: number;
  /** round trip added per request, ms */
  rttMs: number;
  /** the server's queue wait, ms */
  serverWaitMs: number;
  /** the radio's power while sending / receiving, W; default: the record's, if any */
  radio?: { txW: number; rxW: number } | null | undefined;
  /** the device's head time now over as measured (> 0; default 1: as measured) */
  headScale?: number | null | undefined;
}

export interface PartsMs {
  head: number;
  encode: number;
  transfer: number;
  server: number;
  decode: number;
}

export interface Prediction {
  /** mean latency, ms */
  latencyMs: number;
  /** ascending predicted latency samples (the measured spread moved by the change; the mean alone when none were kept) */
  samplesMs: number[];
  /** predicted parts (null for records without per-part data) */
  breakdownMs: PartsMs | null;
  /** J per inference by part; parts the record lacks stay null */
  energyJ: { device: number | null; network: number | null; server: number | null; total: number };
  /** false: predicted as measured (nothing sent, or no per-part data) */
  perPart: boolean;
}

const nz = (x: number | null): number => x ?? 0;

/** Whether a record carries the parts the model needs. */
export function hasParts(r: CostRecord): boolean {
  const b = r.breakdownMs;
  return b.head !== null && b.transfer !== null && b.server !== null;
}

/** Nothing crosses the link (all on the device). */
export function sendsNothing(r: CostRecord): boolean {
  return nz(r.breakdownMs.transfer) === 0 && nz(r.breakdownMs.server) === 0 && nz(r.wireBytes ?? r.bytes) === 0;
}

/** The uplink bandwidth a record was measured at, Mbit/s (null when nothing tells). */
export function measuredBandwidthMbps(r: CostRecord): number | null {
  const c = r.conditions;
  if (c.bandwidthMbps !== null) return c.bandwidthMbps;
  if (c.measuredBandwidthMbps !== null) return c.measuredBandwidthMbps;
  const bytes = r.wireBytes ?? r.bytes;
  const payloadMs = nz(r.breakdownMs.transfer) - nz(c.rttMs);
  return bytes !== null && bytes > 0 && payloadMs > 0 ? (bytes * 8) / payloadMs / 1000 : null;
}

/** Time to send `bytes` at `bandwidthMbps` plus `rttMs`, ms. */
export function transferTimeMs(bytes: number, bandwidthMbps: number, rttMs: number): number {
  return rttMs + (bytes * 8) / (bandwidthMbps * 1000);
}

/** Radio energy of a transfer: tx W over the upload time, rx W over the rest, J. */
export function radioEnergyJ(radio: { txW: number; rxW: number }, transferMs: number, uploadMs: number): number {
  const tx = Math.min(transferMs, Math.max(0, uploadMs));
  return (radio.txW * tx + radio.rxW * Math.max(0, transferMs - tx)) / 1000;
}

/**
 * A prediction without its samples: what a scheduler needs per candidate per request, with no
 * allocation proportional to the samples. `shiftMs` is how far the measured samples move:
 * the predicted samples are `max(0, s + shiftMs)` for each measured `s` (the mean alone when
 * none were kept), so P(latency <= D) can be counted on the measured samples themselves.
 */
export interface PredictionCore extends Omit<Prediction, "samplesMs"> {
  shiftMs: number;
}

/**
 * What the rule needs of a record, computed once (schedulers keep one per candidate):
 * `predictTotals` then predicts with a few arithmetic operations and no allocation.
 */
export interface CostConstants {
  /** "parts": predicted by the rule; "device": nothing sent, as measured; "summary": no per-part data, as measured */
  kind: "parts" | "device" | "summary";
  latencyMs: number;
  head: number;
  encode: number;
  transfer: number;
  server: number;
  decode: number;
  /** the measured parts' sum (~ the measured mean) */
  partsMs: number;
  rttMs: number;
  serverWaitMs: number;
  /** transfer - RTT as measured, >= 0 */
  payloadMs: number;
  /** the measured bandwidth, NaN when nothing tells (the payload time is then kept as measured) */
  bandwidthMbps: number;
  /** the device's power while waiting, W */
  waitW: number;
  wireBytes: number | null;
  radio: { txW: number; rxW: number } | null;
  energyJ: { device: number | null; network: number | null; server: number | null; total: number };
}

/** The totals `predictTotals` writes (one scratch object reused across calls). */
export interface CostTotals {
  latencyMs: number;
  /** the head's time, ms (as measured x headScale) */
  headMs: number;
  shiftMs: number;
  transferMs: number;
  serverMs: number;
  deviceJ: number | null;
  networkJ: number | null;
  /** total J per inference */
  energyJ: number;
}

/** The constants of `r` for predictTotals. */
export function costConstants(r: CostRecord): CostConstants {
  const b = r.breakdownMs;
  const c = r.conditions;
  const kind = !hasParts(r) ? "summary" : sendsNothing(r) ? "device" : "parts";
  const head = nz(b.head);
  const encode = nz(b.encode);
  const transfer = nz(b.transfer);
  const server = nz(b.server);
  const decode = nz(b.decode);
  const rttMs = nz(c.rttMs);
  const device = r.energyJ.device;
  return {
    kind,
    latencyMs: r.latencyMs,
    head,
    encode,
    transfer,
    server,
    decode,
    partsMs: head + encode + transfer + server + decode,
    rttMs,
    serverWaitMs: nz(c.serverWaitMs),
    payloadMs: Math.max(0, transfer - rttMs),
    bandwidthMbps: measuredBandwidthMbps(r) ?? Number.NaN,
    waitW: device === null ? 0 : (c.deviceIdleW ?? (r.latencyMs > 0 ? device / (r.latencyMs / 1000) : 0)),
    wireBytes: r.wireBytes ?? r.bytes,
    radio: c.radio,
    energyJ: { ...r.energyJ },
  };
}

/**
 * The rule above on precomputed constants, written into `out` (returned): mean latency, the
 * samples' shift, transfer and server time, device and network energy, total energy. `radio`
 * undefined: the record's.
 */
export function predictTotals(k: CostConstants, bandwidthMbps: number, rttMs: number, serverWaitMs: number, radio: LinkState["radio"], out: CostTotals, headScale = 1): CostTotals {
  const e = k.energyJ;
  if (!(headScale > 0)) throw new RangeError(`headScale must be a positive number, got ${headScale}`);
  const headN = k.head * headScale;
  out.headMs = headN;
  if (k.kind !== "parts") {
    // as measured; all on the device, the head at the device's speed now
    const extra = k.kind === "device" ? headN - k.head : 0;
    out.latencyMs = k.latencyMs + extra;
    out.shiftMs = extra;
    out.transferMs = k.transfer;
    out.serverMs = k.server;
    out.deviceJ = e.device;
    out.networkJ = e.network;
    out.energyJ = e.total;
    return out;
  }
  if (!(bandwidthMbps > 0)) throw new RangeError(`bandwidth must be a positive number of Mbit/s, got ${bandwidthMbps}`);
  const payloadN = Number.isNaN(k.bandwidthMbps) ? k.payloadMs : (k.payloadMs * k.bandwidthMbps) / bandwidthMbps;
  const transferN = rttMs + payloadN;
  const serverN = Math.max(0, k.server - k.serverWaitMs + serverWaitMs);
  const latencyN = headN + k.encode + transferN + serverN + k.decode;
  // the spread is the measured one; its centre moves with the parts (partsMs ~ the measured mean)
  const shift = latencyN - k.partsMs;
  const device = e.device === null ? null : Math.max(0, e.device + (k.waitW * (shift - (headN - k.head))) / 1000);
  let network = e.network;
  const r = radio === undefined ? k.radio : radio;
  if (network !== null) {
    if (r !== null && k.wireBytes !== null) network = radioEnergyJ(r, transferN, (k.wireBytes * 8) / (bandwidthMbps * 1000));
    else network = k.transfer > 0 ? (network * transferN) / k.transfer : network;
  }
  const known = device !== null || network !== null || e.server !== null;
  out.latencyMs = latencyN;
  out.shiftMs = shift;
  out.transferMs = transferN;
  out.serverMs = serverN;
  out.deviceJ = device;
  out.networkJ = network;
  out.energyJ = known ? nz(device) + nz(network) + nz(e.server) : e.total;
  return out;
}

/** A scratch CostTotals. */
export function costTotals(): CostTotals {
  return { latencyMs: 0, headMs: 0, shiftMs: 0, transferMs: 0, serverMs: 0, deviceJ: null, networkJ: null, energyJ: 0 };
}

/** The PredictionCore of constants and their totals. */
export function coreOf(k: CostConstants, t: CostTotals): PredictionCore {
  const e = k.energyJ;
  const parts = k.kind === "summary" ? null : { head: t.headMs, encode: k.encode, transfer: t.transferMs, server: t.serverMs, decode: k.decode };
  if (k.kind !== "parts") return { latencyMs: t.latencyMs, shiftMs: t.shiftMs, breakdownMs: parts, energyJ: { device: e.device, network: e.network, server: e.server, total: e.total }, perPart: k.kind === "device" };
  return { latencyMs: t.latencyMs, shiftMs: t.shiftMs, breakdownMs: parts, energyJ: { device: t.deviceJ, network: t.networkJ, server: e.server, total: t.energyJ }, perPart: true };
}

/** Predict `r` under `now` without the samples (see the rule above; `predict` is this plus the moved samples). */
export function predictCore(r: CostRecord, now: LinkState): PredictionCore {
  const k = costConstants(r);
  return coreOf(k, predictTotals(k, now.bandwidthMbps, now.rttMs, now.serverWaitMs, now.radio, costTotals(), now.headScale ?? 1));
}

/** The predicted samples: the measured ones moved by the core's shift (the mean alone when none were kept). */
export function predictedSamples(r: CostRecord, core: PredictionCore): number[] {
  return r.latency.samples.length > 0 ? r.latency.samples.map((s) => Math.max(0, s + core.shiftMs)) : [core.latencyMs];
}

/** The Prediction of a core: the core and its moved samples. */
export function predictionOfCore(r: CostRecord, core: PredictionCore): Prediction {
  return { latencyMs: core.latencyMs, samplesMs: predictedSamples(r, core), breakdownMs: core.breakdownMs, energyJ: core.energyJ, perPart: core.perPart };
}

/** Predict `r` under `now` (see the rule above). */
export function predict(r: CostRecord, now: LinkState): Prediction {
  return predictionOfCore(r, predictCore(r, now));
}

/** P(latency <= deadline) from the predicted samples (the empirical distribution). */
export function probabilityWithin(p: Prediction, deadlineMs: number): number {
  const xs = p.samplesMs;
  if (xs.length === 0) return p.latencyMs <= deadlineMs ? 1 : 0;
  // samples are ascending: count those within the deadline by binary search
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((xs[mid] as number) <= deadlineMs) lo = mid + 1;
    else hi = mid;
  }
  return lo / xs.length;
}

/** The q-quantile (0..1) of the predicted latency, by linear interpolation between samples. */
export function latencyQuantile(p: Prediction, q: number): number {
  const xs = p.samplesMs;
  if (xs.length === 0) return p.latencyMs;
  const pos = Math.min(1, Math.max(0, q)) * (xs.length - 1);
  const lo = Math.floor(pos);
  const a = xs[lo] as number;
  const b = xs[Math.ceil(pos)] as number;
  return a + (b - a) * (pos - lo);
}

/** The conditions a record was measured under, as a LinkState (for "predict as measured" and for changes relative to it). */
export function measuredLinkState(r: CostRecord): LinkState | null {
  const bw = measuredBandwidthMbps(r);
  if (bw === null) return null;
  return { bandwidthMbps: bw, rttMs: nz(r.conditions.rttMs), serverWaitMs: nz(r.conditions.serverWaitMs), radio: r.conditions.radio };
}
