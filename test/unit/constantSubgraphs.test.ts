import { create } from "@bufbuild/protobuf";
import { TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { bytesOf, constantSubgraphs, model, node, op } from "../fixtures/onnxGraphs.js";

const CONSTANT_DERIVED = ["pads", "zeros", "s", "target", "pa", "pb", "minus1", "zshape"];

describe("constant-only subgraphs travel with their consumers", () => {
  it("a late Pad, Add and Reshape fed by constant-only subgraphs: a single-tensor cut after every compute node, none carrying a constant", async () => {
    const a = await analyzeModel(parseModel(bytesOf(constantSubgraphs()), "const.onnx"), { maxTensors: 1 });
    // 0 (input), after each of the 7 compute nodes: 8 single-tensor cuts
    expect(a.cuts.map((c) => c.tensors.map((t) => t.name))).toEqual([["x"], ["a1"], ["a2"], ["a3"], ["a4"], ["r"], ["p"], ["y"]]);
    expect(a.graph.compute.map((n) => n.opType)).toEqual(["Relu", "Neg", "Abs", "Sigmoid", "Reshape", "Pad", "Add"]);
    expect(a.graph.constantOnly.map((n) => n.opType).sort()).toEqual(["Concat", "Concat", "ConstantOfShape", "Shape"]);
    for (const c of a.cuts) for (const t of c.tensors) expect(CONSTANT_DERIVED).not.toContain(t.name);
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.filter((c) => c.maxAbsDiff !== 0)).toEqual([]);
  });

  it("each part holds the constant-only nodes it reads (transitively), the other part none", async () => {
    const a = await analyzeModel(parseModel(bytesOf(constantSubgraphs()), "const.onnx"));
    const { head, tail } = splitModel(a, 4);
    const ops = (nodes: Array<{ opType: string; output: string[] }> | undefined) => (nodes ?? []).map((n) => `${n.opType}:${n.output[0]}`).sort();
    expect(ops(head?.graph?.node)).toEqual(["Abs:a3", "Neg:a2", "Relu:a1", "Sigmoid:a4"]);
    expect(ops(tail?.graph?.node)).toEqual(
      ["Add:y", "Concat:pads", "Concat:target", "Constant:minus1", "Constant:pa", "Constant:pb", "Constant:s", "ConstantOfShape:zeros", "Pad:p", "Reshape:r"].sort(),
    );
    expect(tail?.graph?.initializer.map((t) => t.name)).toEqual(["zshape"]);
    expect(head?.graph?.initializer).toEqual([]);
  });

  it("a Shape that reads the batch dim, and random ops, stay on the compute path", async () => {
    const m = model({
      nodes: [
        op("Shape", ["x"], ["s"]),
        node("Relu", ["x"], ["a"]),
        node("Neg", ["a"], ["b"]),
        node("Reshape", ["b", "s"], ["c"]),
        op("RandomUniformLike", ["w"], ["noise"]),
        op("Mul", ["noise", "zero"], ["silence"]),
        node("Add", ["c", "silence"], ["y"]),
      ],
      inputs: ["x"],
      outputs: ["y"],
      valueInfo: false,
    });
    m.graph?.initializer.push(
      create(TensorProtoSchema, { name: "w", dataType: TensorProto_DataType.FLOAT, dims: [4n], floatData: [1, 2, 3, 4] }),
      create(TensorProtoSchema, { name: "zero", dataType: TensorProto_DataType.FLOAT, dims: [], floatData: [0] }),
    );
    const a = await analyzeModel(parseModel(bytesOf(m), "shape.onnx"));
    expect(a.graph.constantOnly).toEqual([]);
    expect(a.graph.compute.map((n) => n.opType)).toContain("Shape");
    expect(a.graph.compute.map((n) => n.opType)).toContain("RandomUniformLike");
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.filter((c) => c.maxAbsDiff !== 0)).toEqual([]);
  });
});
