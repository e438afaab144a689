/**
 * A configuration nobody measured, predicted from two that were (profile-guided search): the
 * all-on-device anchor at its frequency and device target, and the all-on-server anchor at its
 * server target, split by the head's share h of the whole model's profiled node time at cut k
 * (Neurosurgeon's per-layer profiles, measured rather than modelled):
 *
 *   head     = latency(all on device) x h               (k = last: the whole anchor)
 *   tail     = server time(all on server) x (1 - h)
 *   bytes    = the cut's elements x the codec's bytes per element
 *              (+ the all-on-server anchor's protocol overhead: its wire bytes - its tensor bytes)
 *   encode   = encode(all on server) x raw bytes_k / raw bytes_0
 *   transfer = the cost model's transferTimeMs(bytes, the anchor's effective rate = its wire
 *              bytes / (its transfer - RTT), its RTT)
 *   device J = the device anchor's power x head + the server anchor's device power x the rest
 *   network J= radio tx W x upload + rx W x the rest when the radio is known, else the server
 *              anchor's network J x transfer / its transfer
 *   server J = the server anchor's server J x (1 - h)
 *
 * Compression ratios are not predicted (counted as 1), nor is accuracy.
 */
import type { CostRecord } from "./costModel.js";
import { measuredBandwidthMbps, radioEnergyJ, transferTimeMs } from "./costModel.js";

export interface AnchorInputs {
  /** the head's share of the profiled node time at this cut, 0..1 */
  headShare: number;
  /** true at the last cut (everything on the device) */
  last: boolean;
  deviceAnchor: CostRecord;
  /** needed unless `last` */
  serverAnchor: CostRecord | null;
  /** raw (float32) bytes of the cut tensors, and of the model's inputs (cut 0) */
  cutRawBytes: number;
  inputRawBytes: number;
  /** the codec's bytes per element (codecs.ts codecBytesPerElement) */
  bytesPerElement: number;
  /** the link's RTT where the anchor does not record one, ms */
  rttMs: number;
}

export interface AnchorPrediction {
  latencyMs: number;
  energyJ: number;
}

const nz = (x: number | null): number => x ?? 0;

export function predictFromAnchors(x: AnchorInputs): AnchorPrediction | null {
  const dev = x.deviceAnchor;
  const devPowerJPerMs = nz(dev.energyJ.device) / dev.latencyMs;
  const headMs = dev.latencyMs * (x.last ? 1 : x.headShare);
  if (x.last) return { latencyMs: headMs, energyJ: dev.energyJ.total };
  const srv = x.serverAnchor;
  if (srv === null) return null;
  const b = srv.breakdownMs;
  const tailMs = nz(b.server) * (1 - x.headShare);
  const overhead = Math.max(0, nz(srv.wireBytes ?? srv.bytes) - nz(srv.bytes ?? srv.wireBytes));
  const bytes = (x.cutRawBytes / 4) * x.bytesPerElement + overhead;
  const encodeMs = nz(b.encode) * (x.inputRawBytes > 0 ? x.cutRawBytes / x.inputRawBytes : 1);
  const rttMs = srv.conditions.rttMs ?? Math.min(x.rttMs, nz(b.transfer));
  // the anchor's effective rate (protocol and TCP overheads included), not the link's nominal one
  const bw = measuredBandwidthMbps({ ...srv, conditions: { ...srv.conditions, rttMs, bandwidthMbps: null, measuredBandwidthMbps: null } });
  const transferMs = bw === null ? nz(b.transfer) : transferTimeMs(bytes, bw, rttMs);
  const latencyMs = headMs + encodeMs + transferMs + tailMs + nz(b.decode);
  const waitPowerJPerMs = nz(srv.energyJ.device) / srv.latencyMs;
  const deviceJ = devPowerJPerMs * headMs + waitPowerJPerMs * (latencyMs - headMs);
  const radio = srv.conditions.radio;
  const networkJ =
    srv.energyJ.network === null
      ? 0
      : radio !== null && bw !== null
        ? radioEnergyJ(radio, transferMs, (bytes * 8) / (bw * 1000))
        : nz(b.transfer) > 0
          ? (srv.energyJ.network * transferMs) / nz(b.transfer)
          : 0;
  const serverJ = nz(srv.energyJ.server) * (1 - x.headShare);
  return { latencyMs, energyJ: deviceJ + networkJ + serverJ };
}
