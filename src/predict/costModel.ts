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
 *   latency_n  = head + encode + transfer_n + server_n + decode
 *   samples_n  = samples_m + (latency_n - latency_m)           (the measured spread, moved)
 *
 *   device_n   = device_m + P_wait x (latency_n - latency_m)   (the device waits for the answer;
 *                P_wait = the record's idle power, else its mean power over the request)
 *   network_n  = radio tx W x upload_n + rx W x (transfer_n - upload_n), upload_n = wireBytes x 8 /
 *                bandwidth_n, when the radio's power is known; else network_m x transfer_n / transfer_m
 *   server_n   = server_m energy (its compute does not change with the link)
 *
 * A record with nothing sent (all on the device) or without per-part data (a version-1 pareto
 * file) is predicted as measured: `perPart` says which. Unknown measured RTT and wait count as 0.
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

function asMeasured(r: CostRecord, perPart: boolean): PredictionCore {
  const b = r.breakdownMs;
  return {
    latencyMs: r.latencyMs,
    shiftMs: 0,
    breakdownMs: hasParts(r) ? { head: nz(b.head), encode: nz(b.encode), transfer: nz(b.transfer), server: nz(b.server), decode: nz(b.decode) } : null,
    energyJ: { ...r.energyJ },
    perPart,
  };
}

/** Predict `r` under `now` without the samples (see the rule above; `predict` is this plus the moved samples). */
export function predictCore(r: CostRecord, now: LinkState): PredictionCore {
  if (!hasParts(r)) return asMeasured(r, false);
  if (sendsNothing(r)) return asMeasured(r, true);
  if (!(now.bandwidthMbps > 0)) throw new RangeError(`bandwidth must be a positive number of Mbit/s, got ${now.bandwidthMbps}`);
  const b = r.breakdownMs;
  const c = r.conditions;
  const rttM = nz(c.rttMs);
  const payloadM = Math.max(0, nz(b.transfer) - rttM);
  const bwM = measuredBandwidthMbps(r);
  const payloadN = bwM === null ? payloadM : (payloadM * bwM) / now.bandwidthMbps;
  const transferN = now.rttMs + payloadN;
  const serverN = Math.max(0, nz(b.server) - nz(c.serverWaitMs) + now.serverWaitMs);
  const parts: PartsMs = { head: nz(b.head), encode: nz(b.encode), transfer: transferN, server: serverN, decode: nz(b.decode) };
  const partsM = nz(b.head) + nz(b.encode) + nz(b.transfer) + nz(b.server) + nz(b.decode);
  const latencyN = parts.head + parts.encode + parts.transfer + parts.server + parts.decode;
  // the spread is the measured one; its centre moves with the parts (partsM ~ the measured mean)
  const shift = latencyN - partsM;

  const e = r.energyJ;
  let device = e.device;
  if (device !== null) {
    const waitW = c.deviceIdleW ?? (r.latencyMs > 0 ? device / (r.latencyMs / 1000) : 0);
    device = Math.max(0, device + (waitW * shift) / 1000);
  }
  let network = e.network;
  const radio = now.radio === undefined ? c.radio : now.radio;
  const wire = r.wireBytes ?? r.bytes;
  if (network !== null) {
    if (radio !== null && wire !== null) network = radioEnergyJ(radio, transferN, (wire * 8) / (now.bandwidthMbps * 1000));
    else network = nz(b.transfer) > 0 ? (network * transferN) / nz(b.transfer) : network;
  }
  const server = e.server;
  const known = [device, network, server].filter((x): x is number => x !== null);
  const total = known.length > 0 ? known.reduce((s, x) => s + x, 0) : e.total;
  return { latencyMs: latencyN, shiftMs: shift, breakdownMs: parts, energyJ: { device, network, server, total }, perPart: true };
}

/** Predict `r` under `now` (see the rule above). */
export function predict(r: CostRecord, now: LinkState): Prediction {
  const { shiftMs, ...core } = predictCore(r, now);
  const samples = r.latency.samples.length > 0 ? r.latency.samples.map((s) => Math.max(0, s + shiftMs)) : [core.latencyMs];
  return { ...core, samplesMs: samples };
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
