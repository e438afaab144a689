import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel, parseModel, serializeModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { seededFloats, verifySplit } from "../../src/runtime/verifySplit.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { clsAccuracy, clsAccuracyOf, clsEvalSet } from "../../src/model/evalset/index.js";

describe("PaddleOCR text-direction classifier (real pretrained weights)", () => {
  it("reads back and writes out a model that runs identically", async () => {
    const { path } = await resolveModel("paddle:cls");
    const m = loadModel(path);
    const again = parseModel(serializeModel(m.proto), "roundtrip.onnx");
    const x = new ort.Tensor("float32", seededFloats(2 * 3 * 48 * 192, 7), [2, 3, 48, 192]);
    const a = await (await ort.InferenceSession.create(m.bytes)).run({ x });
    const b = await (await ort.InferenceSession.create(again.bytes)).run({ x });
    expect([...(b["softmax_0.tmp_0"]?.data as Float32Array)]).toEqual([...(a["softmax_0.tmp_0"]?.data as Float32Array)]);
  });

  it("Constant-node weights never cross; head then tail equals the full model at every cut", async () => {
    const { path, inputShapes } = await resolveModel("paddle:cls");
    const a = await analyzeModel(loadModel(path), { inputShapes });
    expect(a.cuts.length).toBeGreaterThan(100);
    for (const c of a.cuts) for (const t of c.tensors) expect(a.graph.constants.has(t.name)).toBe(false);
    expect(a.cuts[0]?.tensors).toEqual([{ name: "x", shape: [1, 3, 48, 192], dtype: "float32", bytes: 110592 }]);
    expect(a.cuts.some((c) => c.naturalBottleneck && c.index > 0 && c.index < a.cuts.length - 1)).toBe(true);
    const checks = await verifySplit(a, { batch: 2 });
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  }, 120_000); // 222 cuts: past the 30 s default on a loaded 2-core machine

  it("top-1 accuracy on the labelled set is the same unsplit and split at its natural bottlenecks", async () => {
    const { path, inputShapes } = await resolveModel("paddle:cls");
    const a = await analyzeModel(loadModel(path), { inputShapes });
    const set = clsEvalSet({ count: 200 });
    const whole = await clsAccuracy(path, set);
    expect(whole.accuracy).toBeGreaterThan(0.95);
    const cuts = a.cuts.filter((c) => c.naturalBottleneck && c.index < a.cuts.length - 1).slice(0, 3);
    expect(cuts.length).toBeGreaterThan(0);
    for (const c of cuts) {
      const runner = await SplitExecutor.open(a, { cut: c.index, codec: null, tail: { kind: "local" } });
      try {
        const split = await clsAccuracyOf(async (x) => (await runner.run({ x })).outputs["softmax_0.tmp_0"] as ort.Tensor, set);
        expect(split.correct).toBe(whole.correct);
        expect([...split.predictions]).toEqual([...whole.predictions]);
      } finally {
        await runner.release();
      }
    }
  });
});
