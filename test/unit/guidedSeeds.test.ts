import { beforeAll, describe, expect, it } from "vitest";
import { UNKNOWN_CONDITIONS } from "../../src/contracts/measurement.js";
import type { CostRecord } from "../../src/predict/costModel.js";
import { afterFirstRun, nodeTimesFromTrace, type NodeProfile } from "../../src/measure/nodeProfile.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { predictAll, predictedFront } from "../../src/search/guidedSeeds.js";
import { Space } from "../../src/search/space.js";

let a: ModelAnalysis;
beforeAll(async () => {
  a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
});

function measurement(p: { latency: number; bytes: number; wireBytes?: number; b: Partial<CostRecord["breakdownMs"]>; e: Partial<CostRecord["energyJ"]> }): CostRecord {
  return {
    latencyMs: p.latency,
    latency: { p50: null, p95: null, p99: null, max: null, n: 10, samples: [] },
    breakdownMs: { head: 0, encode: 0, transfer: 0, server: 0, decode: 0, ...p.b },
    bytes: p.bytes,
    wireBytes: p.wireBytes ?? p.bytes,
    energyJ: { device: 0, network: 0, server: 0, total: 0, ...p.e },
    conditions: { ...UNKNOWN_CONDITIONS },
  };
}

describe("profile-guided predictions", () => {
  it("reads node times out of an onnxruntime trace, per run, and counts what it cannot place", () => {
    const events = [
      { cat: "Session", name: "model_loading_uri", dur: 5000 },
      { cat: "Node", name: "conv1_kernel_time", dur: 3000 },
      { cat: "Node", name: "conv1_kernel_time", dur: 1000 },
      { cat: "Node", name: "relu1_kernel_time", dur: 200 },
      { cat: "Node", name: "fused_thing_kernel_time", dur: 800 },
      { cat: "Node", name: "conv1_fence_before", dur: 7 },
    ];
    const r = nodeTimesFromTrace(events, ["conv1", "relu1", "pool1"], 2);
    expect(r.nodeMs).toEqual([2, 0.1, 0]);
    expect(r.unmatchedMs).toBeCloseTo(0.4, 12);
  });

  it("leaves the warm-up run out of the trace (its first WebGPU run compiles shaders): events before the first model_run ends", () => {
    // shaped as onnxruntime 1.30's trace of tiny_cnn on lavapipe: conv1 46 ms in the first run, 0.05 ms after
    const events = [
      { cat: "Session", name: "model_run", ts: 78_021, dur: 345_190 },
      { cat: "Node", name: "conv1_kernel_time", ts: 87_795, dur: 46_174 },
      { cat: "Session", name: "model_run", ts: 426_715, dur: 15_836 },
      { cat: "Node", name: "conv1_kernel_time", ts: 427_122, dur: 55 },
      { cat: "Session", name: "model_run", ts: 443_162, dur: 13_088 },
      { cat: "Node", name: "conv1_kernel_time", ts: 443_630, dur: 51 },
    ];
    const t = afterFirstRun(events);
    expect(t.dropped).toBe(1);
    expect(nodeTimesFromTrace(t.events, ["conv1"], 3 - t.dropped).nodeMs[0]).toBeCloseTo(0.053, 12);
    // a trace without model_run events is kept whole
    expect(afterFirstRun(events.filter((e) => e.name !== "model_run"))).toEqual({ events: events.filter((e) => e.name !== "model_run"), dropped: 0 });
  });

  it("reproduces its calibration anchors and orders cuts by head share", () => {
    const L = a.cuts.length - 1;
    const space = new Space(
      [
        { name: "split", values: a.cuts.map((c) => c.index), ordered: true },
        { name: "cpuFreqMHz", values: ["current"], ordered: true },
        { name: "deviceTarget", values: ["cpu"], ordered: false },
        { name: "serverTarget", values: ["cpu"], ordered: false },
        { name: "codec", values: ["raw", "int8"], ordered: false },
      ],
      (c) => c.split !== L || c.codec === "raw",
    );
    // every compute node costs the same: the head share of cut k is position_k / nodes
    const profile: NodeProfile = { nodeMs: a.graph.compute.map(() => 1), runMs: a.graph.compute.length, runs: 1, matched: 1 };
    const dev = measurement({ latency: 8, bytes: 0, b: { head: 8 }, e: { device: 0.4, total: 0.4 } });
    const srv = measurement({ latency: 20, bytes: a.cuts[0]!.bytes, wireBytes: a.cuts[0]!.bytes + 300, b: { encode: 0.5, transfer: 14, server: 5, decode: 0.5 }, e: { device: 0.2, network: 0.05, server: 0.1, total: 0.35 } });
    const preds = predictAll({ analysis: a, space, profiles: new Map([["current|cpu", profile]]), deviceAnchors: new Map([["current|cpu", dev]]), serverAnchors: new Map([["cpu", srv]]), rttMs: 10 });
    expect(preds).toHaveLength(space.countValid());
    const at = (k: number, codec = "raw") => preds.find((p) => p.config.split === k && p.config.codec === codec)!;
    expect(at(L).latencyMs).toBe(8);
    expect(at(L).energyJ).toBe(0.4);
    // split 0, raw: the all-on-server anchor's own breakdown
    expect(at(0).latencyMs).toBeCloseTo(0.5 + 14 + 5 + 0.5, 9);
    // int8 sends a quarter of the elements' bytes: less transfer than raw at the same cut
    expect(at(1, "int8").latencyMs).toBeLessThan(at(1).latencyMs);
    // the head grows with the cut: a later cut of equal bytes costs more head time
    const k = a.cuts.findIndex((c, i) => i > 1 && c.bytes === a.cuts[1]!.bytes);
    expect(k).toBeGreaterThan(1);
    expect(at(k).latencyMs).toBeGreaterThan(at(1).latencyMs);
    const front = predictedFront(preds, 1);
    expect(front.length).toBeGreaterThan(0);
    for (const p of front) for (const q of preds) expect(q.latencyMs < p.latencyMs && q.energyJ < p.energyJ).toBe(false);
  });
});
