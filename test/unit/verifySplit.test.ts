import { TensorProto_DataType } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { bytesOf, model, node, op, vi } from "../fixtures/onnxGraphs.js";

describe("verifySplit compares every output type", () => {
  it("NaN where the full model gives NaN is agreement (Log of the negative half of the inputs)", async () => {
    const a = await analyzeModel(parseModel(bytesOf(model({ nodes: [node("Neg", ["x"], ["n"]), node("Log", ["n"], ["y"])], inputs: ["x"], outputs: ["y"] })), "log.onnx"));
    const checks = await verifySplit(a, { batch: 4 });
    expect(checks.map((c) => [c.ok, c.maxAbsDiff])).toEqual(a.cuts.map(() => [true, 0]));
    expect(checks.every((c) => Number.isFinite(c.refMaxAbs))).toBe(true);
  });

  it("int64 outputs (ArgMax) are compared element by element", async () => {
    const m = model({ nodes: [node("Relu", ["x"], ["r"]), op("ArgMax", ["r"], ["y"], { axis: 1, keepdims: 1 })], inputs: ["x"], outputs: ["y"] });
    m.graph?.output.splice(0, 1, vi("y", ["N", 1], TensorProto_DataType.INT64));
    const checks = await verifySplit(await analyzeModel(parseModel(bytesOf(m), "argmax.onnx")), { batch: 3 });
    expect(checks.map((c) => [c.ok, c.maxAbsDiff])).toEqual([[true, 0], [true, 0], [true, 0]]);
  });
});
