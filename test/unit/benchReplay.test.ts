import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { checkBenchResults } from "../../src/contracts/benchResults.js";
import { importDynasplitCsv } from "../../src/contracts/dynasplitCsv.js";
import { canonicalConfigKey, measurementKey, UNKNOWN_CONDITIONS, type Measurement } from "../../src/contracts/measurement.js";
import type { LoadedParetoFile, ParetoEntry } from "../../src/contracts/paretoFile.js";
import { QuantileSketch } from "../../src/replay/quantileSketch.js";
import { CDF_POINTS } from "../../src/replay/strategyTally.js";
import { benchDocument, configurationKeys } from "../../src/replay/benchDocument.js";
import { benchReplay, drawUniform, type ReplayStrategy } from "../../src/replay/benchReplay.js";
import { PoolRuns } from "../../src/replay/poolRuns.js";
import { workloadStream, type TimedRequest } from "../../src/replay/workloadStream.js";
import { createPolicy } from "../../src/schedule/policies/index.js";
import { poolEvaluator } from "../../src/search/poolEvaluator.js";
import { fiveConfigs, loaded, paretoDoc } from "../fixtures/paretoFixtures.js";

const data = resolve(import.meta.dirname, "../../../shared/data/dynasplit");

/** One measured run of a pareto entry (its mean, parts and energy), with a latency of its own. */
function run(e: ParetoEntry, latencyMs = e.latencyMs, energyScale = 1): Measurement {
  return {
    version: 1,
    key: measurementKey(e.config, "fixture", "0".repeat(64)),
    config: { ...e.config },
    model: { name: "fixture", sha256: "0".repeat(64) },
    host: { name: "fixture" },
    latencyMs: { mean: latencyMs, p50: null, p95: null, p99: null, n: 1 },
    breakdownMs: { ...e.breakdownMs },
    bytes: e.bytes ?? 0,
    energyJ: { device: e.energyJ.device! * energyScale, network: e.energyJ.network! * energyScale, server: e.energyJ.server! * energyScale, total: e.energyJ.total * energyScale },
    energySource: { device: "meter", network: "estimate", server: "node" },
    accuracy: null,
    conditions: { ...UNKNOWN_CONDITIONS, ...e.conditions },
    measuredAt: "2025-01-01T00:00:00.000Z",
    source: "measured",
  };
}

async function* batches(reqs: TimedRequest[]): AsyncGenerator<TimedRequest[]> {
  yield reqs.slice(0, 2);
  yield reqs.slice(2);
}

const requests = (deadlines: number[], intervalMs = 1000): TimedRequest[] => deadlines.map((deadlineMs, i) => ({ index: i, network: "m", deadlineMs, arrivalMs: null, tMs: i * intervalMs }));

function strategies(file: LoadedParetoFile, names: string[], opts: Record<string, unknown> = {}): ReplayStrategy[] {
  return names.map((name) => ({ name, policy: createPolicy(name, file, opts) }));
}

describe("replay: every strategy on a tiny hand-built pool with known answers", () => {
  // fiveConfigs: A split 0 @1200 70 ms 1.6 J; B split 1 @600 60 ms 0.95 J; C split 2 @600 200 ms 0.8 J;
  // D split 2 @1200 120 ms 1.2 J; E split 1 @1200 45 ms 1.05 J; front C, B, E. One run each: outcomes are exact.
  const { A, B, C, D, E, doc } = fiveConfigs();
  const file = loaded(doc);
  const pool = new PoolRuns([A, B, C, D, E].map((e) => run(e)));
  const keys = configurationKeys(file);
  const deadlines = [50, 100, 300, 65];

  it("decisions, misses and energies per strategy", async () => {
    const names = ["cloud-only", "edge-only", "static-fastest", "static-min-energy", "neurosurgeon", "dynasplit", "splitwatt", "random"];
    // the guard's spread pinned at 5% of the mean (whatever the default), so the 50 ms request has no configuration at 0.99
    const r = await benchReplay({ strategies: strategies(file, names, { cvFloor: 0.05 }), pool, configurationKeys: keys, requests: batches(requests(deadlines)), trace: null, seed: 1 });
    const res = Object.fromEntries(r.tallies.map((t) => [t.name, t.result(keys, "replay", pool.energySources)]));
    const k = (e: ParetoEntry) => canonicalConfigKey(e.config);
    const expectations: Record<string, { decisions: Record<string, number>; missed: number; meanEnergyJ: number }> = {
      // the only all-on-server one: 70 ms misses 50 and 65
      "cloud-only": { decisions: { [k(A)]: 4 }, missed: 2, meanEnergyJ: 1.6 },
      // the lowest-energy all-on-device one: 200 ms meets only 300
      "edge-only": { decisions: { [k(C)]: 4 }, missed: 3, meanEnergyJ: 0.8 },
      "static-fastest": { decisions: { [k(E)]: 4 }, missed: 0, meanEnergyJ: 1.05 },
      "static-min-energy": { decisions: { [k(C)]: 4 }, missed: 3, meanEnergyJ: 0.8 },
      neurosurgeon: { decisions: { [k(E)]: 4 }, missed: 0, meanEnergyJ: 1.05 },
      // the front by energy C, B, E: 50 -> E, 100 -> B, 300 -> C, 65 -> B
      dynasplit: { decisions: { [k(E)]: 1, [k(B)]: 2, [k(C)]: 1 }, missed: 0, meanEnergyJ: (1.05 + 0.95 + 0.8 + 0.95) / 4 },
      // P from one sample with a 5% spread: 50 -> none reaches 0.99 (E: 0.987, the most likely); 100 -> B;
      // 300 -> C (saves more than the 5% hysteresis); 65 -> B's P is 0.95, so E
      splitwatt: { decisions: { [k(E)]: 2, [k(B)]: 1, [k(C)]: 1 }, missed: 0, meanEnergyJ: (1.05 + 0.95 + 0.8 + 1.05) / 4 },
    };
    for (const [name, x] of Object.entries(expectations)) {
      expect([name, res[name]!.decisions, res[name]!.missed]).toEqual([name, x.decisions, x.missed]);
      expect(res[name]!.meanEnergyJ).toBeCloseTo(x.meanEnergyJ, 12);
    }
    expect(res.splitwatt!.infeasible).toBe(1);
    expect(res.dynasplit!.medianEnergyJ).toBeCloseTo(0.95, 12);
    expect(res["cloud-only"]).toMatchObject({ missed: 2, missedRate: 0.5, medianMissMs: 12.5, p50LatencyMs: 70, energyByPartJ: { device: 0.5, network: 0.1, server: 1.0 }, exactQuantiles: true });
    // random: only front configurations, every request decided
    expect(Object.keys(res.random!.decisions).every((key) => [k(B), k(C), k(E)].includes(key))).toBe(true);
    expect(Object.values(res.random!.decisions).reduce((a, b) => a + b, 0)).toBe(4);
  });

  it("a bandwidth trace applies through the cost model: at 10 Mbit/s B's 10 ms payload takes 20 ms, so 60 ms becomes 70 ms", async () => {
    const static_ = [{ name: "static", policy: createPolicy("static", file, { config: B.config }) }];
    const trace = { figures: ["BandwidthMbps" as const], points: [{ timeMs: 0, bandwidthMbps: 20, rttMs: null, serverWaitMs: null }, { timeMs: 1500, bandwidthMbps: 10, rttMs: null, serverWaitMs: null }] };
    const r = await benchReplay({ strategies: static_, pool, configurationKeys: keys, requests: batches(requests([65, 65, 65, 65])), trace, seed: 1, timeline: true });
    const res = r.tallies[0]!.result(keys, "replay", []);
    // the pool's runs carry their measured conditions (20 Mbit/s, RTT 10 ms): the first two as measured, the last two slower
    expect(res.missed).toBe(2);
    expect(res.latencyCdf.latencyMs[0]).toBeCloseTo(60, 9);
    expect(res.latencyCdf.latencyMs.at(-1)).toBeCloseTo(70, 9);
    const rows = r.timeline!.rows(keys);
    expect(rows.map((x) => [x.bandwidthMbps, x.requests, x.missed])).toEqual([[20, 1, 0], [20, 1, 0], [10, 1, 1], [10, 1, 1]]);
    // a server-load trace: 30 ms queue wait on top
    const load = { figures: ["ServerWaitMs" as const], points: [{ timeMs: 0, bandwidthMbps: null, rttMs: null, serverWaitMs: 30 }] };
    const w = await benchReplay({ strategies: static_, pool, configurationKeys: keys, requests: batches(requests([65])), trace: load, seed: 1 });
    expect(w.tallies[0]!.result(keys, "replay", []).latencyCdf.latencyMs[0]).toBeCloseTo(90, 9);
  });

  it("refuses a strategy whose configurations the pool lacks, naming what to pass", async () => {
    const small = new PoolRuns([A, B].map((e) => run(e)));
    await expect(benchReplay({ strategies: strategies(file, ["edge-only"]), pool: small, configurationKeys: keys, requests: batches(requests([1])), trace: null, seed: 1 })).rejects.toThrow(
      /strategy edge-only may choose 2 configuration\(s\) the pool has no runs of .*pass the pool the front was optimised on/,
    );
  });
});

describe("replay determinism", () => {
  const { A, B, C, D, E, doc } = fiveConfigs();
  const file = loaded(doc);
  // several runs per configuration, different latencies and energies
  const pool = new PoolRuns([A, B, C, D, E].flatMap((e) => [0.9, 1, 1.1, 1.3].map((f) => run(e, e.latencyMs * f, f))));
  const keys = configurationKeys(file);
  const deadlines = Array.from({ length: 300 }, (_, i) => 40 + ((i * 37) % 260));
  const go = async (seed: number, names: string[]) => {
    const r = await benchReplay({ strategies: strategies(file, names), pool, configurationKeys: keys, requests: batches(requests(deadlines)), trace: null, seed });
    return r.tallies.map((t) => t.result(keys, "replay", []));
  };

  it("the same seed gives the same figures; another seed other draws; a strategy draws the same whatever runs beside it", async () => {
    const names = ["dynasplit", "splitwatt", "cloud-only", "random"];
    const a = await go(7, names);
    expect(await go(7, names)).toEqual(a);
    const b = await go(8, names);
    expect(b.map((x) => x.meanEnergyJ)).not.toEqual(a.map((x) => x.meanEnergyJ));
    // decisions do not depend on the draws (deadline-only policies here)
    expect(b.find((x) => x.name === "dynasplit")!.decisions).toEqual(a.find((x) => x.name === "dynasplit")!.decisions);
    expect((await go(7, ["splitwatt"]))[0]).toEqual(a.find((x) => x.name === "splitwatt"));
    // common random numbers: cloud-only and static with the same configuration draw the same runs
    const { A } = fiveConfigs();
    const same = await benchReplay({ strategies: [{ name: "cloud-only", policy: createPolicy("cloud-only", file) }, { name: "static", policy: createPolicy("static", file, { config: A.config }) }], pool, configurationKeys: keys, requests: batches(requests(deadlines)), trace: null, seed: 7 });
    const [x, y] = same.tallies.map((t) => t.result(keys, "replay", []));
    expect({ ...x, name: "" }).toEqual({ ...y, name: "" });
    // the draws are uniform: over many requests each of 4 runs about a quarter
    const counts = [0, 0, 0, 0];
    for (let r = 0; r < 40_000; r++) counts[Math.floor(drawUniform(7, r, 3) * 4)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
  });
});

describe("DynaSplit's cloud-only figure", () => {
  it("their cloud configuration over their 10,000 VGG16 deadlines: missed and mean energy within the sampling interval, which holds their 114 missed and 69.0 J", async () => {
    const csv = join(data, "simulation_pool_vgg16.csv");
    const measurements = importDynasplitCsv(readFileSync(csv, "utf8"), { model: { name: "vgg16", sha256: "0".repeat(64) }, host: { name: "replay" } });
    const pool = new PoolRuns(measurements);
    const cloud = { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": true };
    const cloudRuns = measurements.filter((m) => m.config.layer === 0 && m.config["cpu-freq"] === 1800 && m.config["server-accelerator"] === true);
    expect(cloudRuns).toHaveLength(51);
    // a pareto file of this pool holding their cloud configuration (optimize has it as an anchor)
    const replay = poolEvaluator(measurements);
    const answer = replay.answers.get(canonicalConfigKey(cloud))!;
    const file = loaded(paretoDoc({ dimensions: replay.space.dimensions.map((d) => ({ name: d.name, values: [...d.values], ordered: d.ordered })), archive: [{ config: cloud, ...answer.entry! }] }));
    const keys = configurationKeys(file);
    const reqs: TimedRequest[] = [];
    for await (const b of workloadStream(join(data, "network_latency_10000_samples.csv"), { network: "vgg16", intervalMs: 1000 })) reqs.push(...b);
    // expected misses and their spread: each request draws one of the 51 runs uniformly
    const lat = cloudRuns.map((m) => m.latencyMs.mean);
    let mean = 0;
    let variance = 0;
    for (const r of reqs) {
      const p = lat.filter((l) => l > r.deadlineMs).length / lat.length;
      mean += p;
      variance += p * (1 - p);
    }
    const en = cloudRuns.map((m) => m.energyJ.total!);
    const eMean = en.reduce((a, b) => a + b, 0) / en.length;
    const eSd = Math.sqrt(en.reduce((a, b) => a + (b - eMean) ** 2, 0) / en.length / reqs.length);
    const lo = mean - 1.96 * Math.sqrt(variance);
    const hi = mean + 1.96 * Math.sqrt(variance);
    expect(114).toBeGreaterThanOrEqual(lo);
    expect(114).toBeLessThanOrEqual(hi);
    expect(Math.abs(69.0 - eMean)).toBeLessThan(0.1);
    for (const seed of [1, 2, 3]) {
      const r = await benchReplay({ strategies: [{ name: "cloud-only", policy: createPolicy("static", file, { config: cloud }) }], pool, configurationKeys: keys, requests: batches(reqs), trace: null, seed });
      const res = r.tallies[0]!.result(keys, "replay", pool.energySources);
      expect(res.requests).toBe(10_000);
      expect(res.missed).toBeGreaterThanOrEqual(lo);
      expect(res.missed).toBeLessThanOrEqual(hi);
      expect(Math.abs(res.meanEnergyJ! - eMean)).toBeLessThan(1.96 * eSd);
    }
  });
});

describe("results.json", () => {
  it("the document of a run passes its schema and consistency checks; broken ones name the field", async () => {
    const { A, B, C, D, E, doc } = fiveConfigs();
    const file = loaded(doc);
    const pool = new PoolRuns([A, B, C, D, E].map((e) => run(e)));
    const keys = configurationKeys(file);
    const r = await benchReplay({ strategies: strategies(file, ["cloud-only", "dynasplit"]), pool, configurationKeys: keys, requests: batches(requests([50, 100, 300])), trace: null, seed: 1 });
    const deadlines = new QuantileSketch();
    for (const d of [50, 100, 300]) deadlines.add(d);
    const res = benchDocument({
      mode: "replay",
      seed: 1,
      workload: { path: "/w.csv", sha256: null, network: "m", intervalMs: 1000 },
      front: { path: "/f.pareto.json", text: "{}", file },
      pool: { path: "/p.csv", sha256: "x", runs: 5, configurations: 5 },
      daemon: null,
      traces: { bandwidth: null, load: null, merged: null },
      policyOptions: {},
      strategies: r.tallies.map((t) => t.result(keys, "replay", pool.energySources)),
      deadlines: { min: deadlines.min, p50: deadlines.quantile(0.5), max: deadlines.max, sumMs: 450, cdf: deadlines.quantiles(CDF_POINTS) as number[] },
      requests: 3,
      timeline: null,
      wallMs: 1,
      note: null,
    });
    expect(checkBenchResults(JSON.parse(JSON.stringify(res)))).toMatchObject({ ok: true });
    expect(res).toMatchObject({ version: 1, seed: 1, workload: { requests: 3, deadlineMs: { min: 50, p50: 100, mean: 150, max: 300 } }, front: { frontSize: 3, archiveSize: 5 } });
    expect(res.strategies.map((s) => [s.name, s.energyVsCloudPct])).toEqual([["cloud-only", 0], ["dynasplit", expect.closeTo((100 * ((1.05 + 0.95 + 0.8) / 3 - 1.6)) / 1.6, 9)]]);
    expect(res.configurations.filter((c) => c.onFront)).toHaveLength(3);
    for (const s of res.strategies) {
      for (const k of ["name", "requests", "meanEnergyJ", "medianEnergyJ", "energyByPartJ", "p50LatencyMs", "p95LatencyMs", "p99LatencyMs", "missed", "missedRate", "medianMissMs", "energyVsCloudPct", "decisions"]) expect(s).toHaveProperty(k);
    }
    const broken = JSON.parse(JSON.stringify(res));
    broken.strategies[1].decisions = { nope: 3 };
    expect(checkBenchResults(broken)).toEqual({ ok: false, reason: "strategies.1.decisions: configuration nope is not in configurations" });
    const broken2 = JSON.parse(JSON.stringify(res));
    broken2.strategies[0].missed = 9;
    expect(checkBenchResults(broken2)).toEqual({ ok: false, reason: "strategies.0.missed: 9 exceeds the 3 requests" });
    const broken3 = JSON.parse(JSON.stringify(res));
    delete broken3.strategies[0].p95LatencyMs;
    expect(checkBenchResults(broken3)).toMatchObject({ ok: false, reason: expect.stringMatching(/^strategies\.0\.p95LatencyMs/) });
  });
});
