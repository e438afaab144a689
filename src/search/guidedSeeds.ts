/**
 * Profile-guided search: predict every configuration's latency and energy from per-node
 * timings (one profiled run of the whole model per frequency and device target) calibrated by
 * the anchors' real measurements (all on the device, all on the server; the rule is in
 * src/predict/fromAnchors.ts), then hand the predicted front to the search as its first
 * candidates. Only those and the neighbours the memetic local search then expands are measured.
 */
import type { Config } from "../contracts/measurement.js";
import type { NodeProfile } from "../measure/nodeProfile.js";
import type { Profiler } from "../measure/profiler.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import type { CostRecord } from "../predict/costModel.js";
import { predictFromAnchors } from "../predict/fromAnchors.js";
import { codecBytesPerElement, parseCodec } from "../transport/codecs/codecs.js";
import { anchorGenomes } from "./anchors.js";
import type { LiveSpace } from "./liveSpace.js";
import { nonDominatedSort } from "./nonDominatedSort.js";
import type { Space } from "./space.js";

export interface GuidedInputs {
  analysis: ModelAnalysis;
  space: Space;
  /** node profiles by `${cpuFreqMHz}|${deviceTarget}` */
  profiles: ReadonlyMap<string, NodeProfile>;
  /** all-on-device records by `${cpuFreqMHz}|${deviceTarget}` */
  deviceAnchors: ReadonlyMap<string, CostRecord>;
  /** all-on-server records by serverTarget */
  serverAnchors: ReadonlyMap<string, CostRecord>;
  /** the link's round trip where an anchor does not record it, ms (0 when unknown) */
  rttMs: number;
}

export interface Prediction {
  config: Config;
  latencyMs: number;
  energyJ: number;
}

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
  const out: Prediction[] = [];
  for (const g of x.space.enumerate()) {
    const config = x.space.config(g);
    const k = config.split as number;
    const dkey = `${config.cpuFreqMHz}|${config.deviceTarget}`;
    const share = headShare.get(dkey)?.[k];
    const dev = x.deviceAnchors.get(dkey);
    if (share === undefined || dev === undefined) continue;
    const p = predictFromAnchors({
      headShare: share,
      last: k === L,
      deviceAnchor: dev,
      serverAnchor: x.serverAnchors.get(String(config.serverTarget)) ?? null,
      cutRawBytes: a.cuts[k]?.bytes ?? 0,
      inputRawBytes: a.cuts[0]?.bytes ?? 0,
      bytesPerElement: codecBytesPerElement(parseCodec(String(config.codec))),
      rttMs: x.rttMs,
    });
    if (p !== null) out.push({ config, ...p });
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
  const deviceAnchors = new Map<string, CostRecord>();
  const serverAnchors = new Map<string, CostRecord>();
  for (const c of anchorConfigs) {
    const r = await live.evaluate(c, signal === undefined ? {} : { signal });
    const m = r?.entry;
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
