/**
 * Profile-guided search: predict every configuration's latency and energy from per-node
 * timings (one profiled run of the whole model per frequency and device target) calibrated by
 * the anchors' real measurements (all on the device, all on the server), then hand the
 * predicted front to the search as its first candidates. Only those and the neighbours the
 * memetic local search then expands are measured.
 *
 * Prediction for cut k (head = compute nodes [0, position_k), h = the head's share of the
 * profiled node time), frequency f, device target t, server target s, codec c:
 *   head    = latency(all on device at f, t) x h
 *   tail    = server time(all on server at s) x (1 - h)
 *   bytes   = cut elements x bytes per element of c (+ the anchor's protocol overhead)
 *   encode  = encode(all on server) x elements_k / elements_0
 *   transfer= rtt + (transfer(all on server) - rtt) / bytes_0 x bytes
 *   device J= (device J / latency)(all on device) x head + (device J / latency)(all on server) x the rest
 *   network J and server J scale with transfer time and (1 - h) from the all-on-server anchor.
 * Compression ratios are not predicted (counted as 1). Accuracy is not predicted.
 */
import type { Config, Measurement } from "../measure/measurement.js";
import type { NodeProfile } from "../measure/nodeProfile.js";
import type { Profiler } from "../measure/profiler.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { anchorGenomes } from "./anchors.js";
import type { LiveSpace } from "./liveSpace.js";
import { nonDominatedSort } from "./nonDominatedSort.js";
import type { Space } from "./space.js";

export interface GuidedInputs {
  analysis: ModelAnalysis;
  space: Space;
  /** node profiles by `${cpuFreqMHz}|${deviceTarget}` */
  profiles: ReadonlyMap<string, NodeProfile>;
  /** all-on-device measurements by `${cpuFreqMHz}|${deviceTarget}` */
  deviceAnchors: ReadonlyMap<string, Measurement>;
  /** all-on-server measurements by serverTarget */
  serverAnchors: ReadonlyMap<string, Measurement>;
  /** the link's round trip, ms (0 when unknown) */
  rttMs: number;
}

export interface Prediction {
  config: Config;
  latencyMs: number;
  energyJ: number;
}

const ELEMENT_BYTES: Record<string, number> = { raw: 4, fp16: 2, int8: 1, "int8-channel": 1 };

/** Predicted latency and energy of every valid configuration that has calibration. */
export function predictAll(x: GuidedInputs): Prediction[] {
  const a = x.analysis;
  const L = a.cuts.length - 1;
  const headShare = new Map<string, number[]>();
  for (const [k, p] of x.profiles) {
    const total = p.nodeMs.reduce((s, v) => s + v, 0) || 1;
    const cum: number[] = [0];
    p.nodeMs.forEach((ms, i) => cum.push((cum[i] as number) + ms));
    headShare.set(
      k,
      a.cuts.map((c) => (cum[c.position] as number) / total),
    );
  }
  const rawBytes = (k: number): number => a.cuts[k]?.bytes ?? 0;
  const out: Prediction[] = [];
  for (const g of x.space.enumerate()) {
    const config = x.space.config(g);
    const k = config.split as number;
    const dkey = `${config.cpuFreqMHz}|${config.deviceTarget}`;
    const share = headShare.get(dkey)?.[k];
    const dev = x.deviceAnchors.get(dkey);
    const srv = x.serverAnchors.get(String(config.serverTarget));
    if (share === undefined || dev === undefined || (k < L && srv === undefined)) continue;
    const devPowerJPerMs = (dev.energyJ.device ?? 0) / dev.latencyMs.mean;
    const headMs = dev.latencyMs.mean * (k === L ? 1 : share);
    if (k === L || srv === undefined) {
      out.push({ config, latencyMs: headMs, energyJ: dev.energyJ.total ?? devPowerJPerMs * headMs });
      continue;
    }
    const b = srv.breakdownMs;
    const tailMs = (b.server ?? 0) * (1 - share);
    const elements = rawBytes(k) / 4;
    const overhead = Math.max(0, srv.bytes - rawBytes(0));
    const bytes = elements * (ELEMENT_BYTES[String(config.codec).split("+")[0] as string] ?? 4) + overhead;
    const encodeMs = (b.encode ?? 0) * (rawBytes(0) > 0 ? rawBytes(k) / rawBytes(0) : 1);
    const transfer0 = b.transfer ?? 0;
    const perByte = srv.bytes > 0 ? Math.max(0, transfer0 - x.rttMs) / srv.bytes : 0;
    const transferMs = Math.min(x.rttMs, transfer0) + perByte * bytes;
    const latencyMs = headMs + encodeMs + transferMs + tailMs + (b.decode ?? 0);
    const waitPowerJPerMs = (srv.energyJ.device ?? 0) / srv.latencyMs.mean;
    const deviceJ = devPowerJPerMs * headMs + waitPowerJPerMs * (latencyMs - headMs);
    const networkJ = transfer0 > 0 ? ((srv.energyJ.network ?? 0) * transferMs) / transfer0 : 0;
    const serverJ = (srv.energyJ.server ?? 0) * (1 - share);
    out.push({ config, latencyMs, energyJ: deviceJ + networkJ + serverJ });
  }
  return out;
}

/** The predicted first `ranks` non-dominated fronts (latency, energy), best rank first, each by latency. */
export function predictedFront(predictions: readonly Prediction[], ranks = 2): Prediction[] {
  const fronts = nonDominatedSort(predictions.map((p) => [p.latencyMs, p.energyJ]));
  return fronts.slice(0, ranks).flatMap((f) => f.map((i) => predictions[i] as Prediction).sort((p, q) => p.latencyMs - q.latencyMs));
}

export interface GuidedSummary {
  nodeProfiles: number;
  profiledMs: number;
  predicted: number;
  predictedFront: number;
  seeds: number;
  /** smallest share of profiled kernel time matched to named compute nodes */
  matchedNodeTime: number;
}

/**
 * Profile-guided seeds: measure the anchors (the calibration), profile the whole model's nodes
 * at every frequency x device target, predict every valid configuration, and return the
 * anchors followed by the predicted front (ranks 1 and 2) as the search's first candidates.
 */
export async function guidedSeeds(profiler: Profiler, live: LiveSpace, rttMs: number, signal?: AbortSignal): Promise<{ configs: Config[]; summary: GuidedSummary }> {
  const anchorConfigs = anchorGenomes(live.space, live.anchors).map((g) => live.space.config(g));
  const L = profiler.lastSplit;
  const deviceAnchors = new Map<string, Measurement>();
  const serverAnchors = new Map<string, Measurement>();
  for (const c of anchorConfigs) {
    const r = await live.evaluate(c, signal === undefined ? {} : { signal });
    const m = r?.measurement as Measurement | undefined;
    if (m === undefined) continue;
    if (c.split === L) deviceAnchors.set(`${c.cpuFreqMHz}|${c.deviceTarget}`, m);
    else if (!serverAnchors.has(String(c.serverTarget))) serverAnchors.set(String(c.serverTarget), m);
  }
  const t0 = performance.now();
  const profiles = new Map<string, NodeProfile>();
  const values = (name: string) => live.space.dimensions[live.space.dimensionIndex(name)]?.values ?? [];
  for (const f of values("cpuFreqMHz")) for (const t of values("deviceTarget")) profiles.set(`${f}|${t}`, await profiler.profileNodes(f as number | "current", String(t)));
  const profiledMs = performance.now() - t0;
  const predictions = predictAll({ analysis: profiler.analysis, space: live.space, profiles, deviceAnchors, serverAnchors, rttMs });
  const front = predictedFront(predictions, 2);
  const seen = new Set(anchorConfigs.map((c) => live.space.key(live.space.genome(c) ?? [])));
  const seeds = front.map((p) => p.config).filter((c) => !seen.has(live.space.key(live.space.genome(c) ?? [])));
  return {
    configs: [...anchorConfigs, ...seeds],
    summary: {
      nodeProfiles: profiles.size,
      profiledMs: Math.round(profiledMs),
      predicted: predictions.length,
      predictedFront: front.length,
      seeds: seeds.length,
      matchedNodeTime: Math.min(...[...profiles.values()].map((p) => p.matched)),
    },
  };
}
