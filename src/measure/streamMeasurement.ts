/**
 * The Measurement record of a stream through the pipeline (a configuration with deviceBatch /
 * serverBatch), from what streamRun saw:
 *
 * - throughputPerS = the measured windows' items over their time;
 * - latency = per item, from acceptance into the pipeline to its result (queueing included);
 * - breakdownMs = the stream's stage sums per item (they overlap: they do not add up to the
 *   latency);
 * - energy per item: device = the windows' device energy over their items (windows overlap no
 *   other work of this process), network = the radio over each item's share of the wire bytes,
 *   server = what the server reported, else its power model over its compute time per item;
 * - pipeline = batch sizes, requests in flight, items, seconds and the bottleneck bound of the
 *   same run.
 */
import type { Conditions, Config, EnergySourceName, Measurement } from "../contracts/measurement.js";
import type { BoardProfile } from "../hw/boardProfile.js";
import { radioEnergyJ, type NetworkProfile } from "../transport/networkProfile.js";
import { boundedSamples } from "../contracts/paretoFile.js";
import { energySourceName } from "./energySourceName.js";
import { latencyStats } from "./latencyStats.js";
import { serverEnergyJ, type ServerAccounting } from "./serverEnergy.js";
import type { StreamRunResult } from "./streamRun.js";

export interface StreamMeasurementInput {
  config: Config;
  key: string;
  model: { name: string; sha256: string };
  run: StreamRunResult;
  /** the last cut: nothing is sent */
  last: boolean;
  network: NetworkProfile | null;
  serverProfile: BoardProfile;
  serverAccounting: ServerAccounting;
  deviceSource: EnergySourceName;
  accuracy: Measurement["accuracy"];
  conditions: Conditions;
  host: { name: string } & Record<string, unknown>;
}

/** Latency samples kept in the record (evenly spaced order statistics). */
const MAX_SAMPLES = 1000;

export function streamMeasurement(i: StreamMeasurementInput): Measurement {
  const r = i.run;
  const measured = r.windows.length > 0 ? r.windows : [{ items: r.items, ms: r.seconds * 1000, energy: r.energy }];
  const items = measured.reduce((n, w) => n + w.items, 0);
  const seconds = measured.reduce((n, w) => n + w.ms, 0) / 1000;
  const known = measured.filter((w) => w.energy !== null && w.energy.deviceComplete);
  const knownItems = known.reduce((n, w) => n + w.items, 0);
  const deviceJ = knownItems === 0 ? null : known.reduce((n, w) => n + (w.energy?.deviceJ ?? 0), 0) / knownItems;
  const t = r.totals;
  const per = (x: number): number => (t.items > 0 ? x / t.items : 0);
  const transferMs = per(t.transferMs);
  const wireBytes = Math.round(per(t.wireBytes));
  let networkJ: number | null = null;
  if (i.last) networkJ = i.network === null ? null : 0;
  else if (i.network !== null) {
    const upMs = (wireBytes * 8) / (i.network.uplinkMbps * 1000);
    const txMs = Math.min(transferMs, upMs);
    networkJ = radioEnergyJ(i.network, { txMs, rxMs: Math.max(0, transferMs - txMs) });
  }
  const reported = !i.last && t.serverEnergyJ !== null && t.remoteItems > 0;
  const serverJ = i.last
    ? 0
    : reported
      ? (t.serverEnergyJ as number) / t.remoteItems
      : serverEnergyJ({ accounting: i.serverAccounting, profile: i.serverProfile, computeMs: per(t.computeMs), serverMs: per(t.serverMs) });
  const st = latencyStats(r.latenciesMs);
  const parts = [networkJ, serverJ].filter((x): x is number => x !== null);
  return {
    version: 1,
    key: i.key,
    config: i.config,
    model: i.model,
    host: {
      ...i.host,
      latencyCi95: st.ci95,
      bytesReceived: Math.round(per(t.receivedBytes)),
      serverAccounting: reported ? "measured by the server over its compute windows (its share of each batch)" : i.serverAccounting,
      deviceEnergyWindow: "the stream's contiguous windows, over their items",
    },
    latencyMs: { mean: st.mean, p50: st.p50, p95: st.p95, p99: st.p99, n: st.n, samples: boundedSamples(r.latenciesMs, MAX_SAMPLES) },
    breakdownMs: {
      head: per(t.headMs),
      encode: i.last ? 0 : per(t.encodeMs),
      transfer: i.last ? 0 : transferMs,
      server: i.last ? 0 : per(t.serverMs),
      decode: i.last ? 0 : per(t.decodeMs),
    },
    bytes: Math.round(per(t.tensorBytes)),
    wireBytes,
    energyJ: { device: deviceJ, network: networkJ, server: serverJ, total: deviceJ === null ? null : parts.reduce((x, y) => x + y, deviceJ) },
    energySource: {
      device: deviceJ === null ? null : i.deviceSource,
      network: networkJ === null ? null : "estimate",
      server: reported ? energySourceName(t.serverEnergySource) : i.serverAccounting === "node" ? "node" : "estimate",
    },
    accuracy: i.accuracy,
    conditions: i.conditions,
    measuredAt: new Date().toISOString(),
    source: "measured",
    throughputPerS: seconds > 0 && items > 0 ? items / seconds : undefined,
    pipeline: {
      deviceBatch: r.bd,
      serverBatch: r.bs,
      tailConcurrency: r.tailConcurrency,
      items: Math.max(1, items),
      seconds,
      boundPerS: r.boundPerS !== null && Number.isFinite(r.boundPerS) ? r.boundPerS : null,
      stagesMs: r.stagesMs,
    },
  };
}
