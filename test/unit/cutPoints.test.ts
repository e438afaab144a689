import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { AttributeProto_AttributeType, AttributeProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel, parseModel, serializeModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { branching, bytesOf, chain, externalData, model, node, residual } from "../fixtures/onnxGraphs.js";

const parse = (m: ReturnType<typeof chain>, name = "test.onnx") => parseModel(bytesOf(m), name);

describe("cut points", () => {
  it("a chain: one single-tensor cut after every node, 0 = input, L = output", async () => {
    const a = await analyzeModel(parse(chain()));
    expect(a.cuts.map((c) => c.tensors.map((t) => t.name))).toEqual([["x"], ["a"], ["b"], ["c"], ["y"]]);
    expect(a.cuts.map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
    expect(a.cuts[1]?.node).toEqual({ name: "a", op: "Relu" });
    expect(a.cuts[0]?.node).toBeNull();
    expect(a.cuts.every((c) => c.bytes === 16)).toBe(true); // [1,4] float32 at batch 1
  });

  it("a residual block: inside it two tensors cross; with maxTensors 1 only block boundaries remain", async () => {
    const all = await analyzeModel(parse(residual()));
    expect(all.cuts.map((c) => c.tensors.map((t) => t.name).sort())).toEqual([["x"], ["r1"], ["r1", "r2"], ["r1", "r3"], ["s"], ["y"]]);
    const single = await analyzeModel(parse(residual()), { maxTensors: 1 });
    expect(single.cuts.map((c) => c.tensors.map((t) => t.name))).toEqual([["x"], ["r1"], ["s"], ["y"]]);
  });

  it("branches: a Constant weight never crosses; the graph input read at the end crosses every cut", async () => {
    const a = await analyzeModel(parse(branching()));
    for (const c of a.cuts) expect(c.tensors.map((t) => t.name)).not.toContain("w");
    expect(a.cuts[1]?.tensors.map((t) => t.name).sort()).toEqual(["a", "x"]);
    expect(a.cuts.at(-1)?.tensors.map((t) => t.name)).toEqual(["y"]);
  });

  it("measures shapes with onnxruntime when the model declares none, batch dims symbolic", async () => {
    const a = await analyzeModel(parse(model({ ...{ nodes: chain().graph?.node ?? [] }, inputs: ["x"], outputs: ["y"], valueInfo: false })));
    const b = a.shapes.get("b");
    expect(b).toMatchObject({ shape: [1, 4], from: "onnxruntime", batchDims: [true, false] });
  });

  it("natural bottlenecks: fewer bytes than the input and every earlier cut (Dynamic Split Computing)", async () => {
    const pool = (i: string, o: string) => {
      const n = node("MaxPool", [i], [o]);
      n.attribute.push(
        create(AttributeProtoSchema, { name: "kernel_shape", type: AttributeProto_AttributeType.INTS, ints: [2n] }),
        create(AttributeProtoSchema, { name: "strides", type: AttributeProto_AttributeType.INTS, ints: [2n] }),
      );
      return n;
    };
    // x[1,1,8] -> p1[1,1,4] -> r[1,1,4] -> p2[1,1,2] -> y = Concat(p2 x4)[1,1,8]
    const cat = node("Concat", ["p2", "p2", "p2", "p2"], ["y"]);
    cat.attribute.push(create(AttributeProtoSchema, { name: "axis", type: AttributeProto_AttributeType.INT, i: 2n }));
    const m = model({ nodes: [pool("x", "p1"), node("Relu", ["p1"], ["r"]), pool("r", "p2"), cat], inputs: ["x"], outputs: ["y"], dims: [1, 1, 8], valueInfo: false });
    const a = await analyzeModel(parse(m));
    expect(a.cuts.map((c) => c.bytes)).toEqual([32, 16, 16, 8, 32]);
    expect(a.cuts.map((c) => c.naturalBottleneck)).toEqual([false, true, false, true, false]);
  });
});

describe("split", () => {
  it.each([
    ["chain", chain],
    ["residual", residual],
    ["branching", branching],
  ])("%s: head then tail equals the full model at every cut", async (_name, build) => {
    const a = await analyzeModel(parse(build()));
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.length).toBe(a.cuts.length);
    for (const c of checks) expect(c).toMatchObject({ ok: true, maxAbsDiff: 0 });
  });

  it("parts carry typed inputs/outputs with the batch dim symbolic, and only the weights they use", async () => {
    const a = await analyzeModel(parse(branching()));
    const { head, tail } = splitModel(a, 2);
    expect(head?.graph?.output.map((o) => o.name).sort()).toEqual(a.cuts[2]?.tensors.map((t) => t.name).sort());
    expect(tail?.graph?.input.map((o) => o.name).sort()).toEqual(a.cuts[2]?.tensors.map((t) => t.name).sort());
    const dim0 = tail?.graph?.input[0]?.type?.value.case === "tensorType" ? tail.graph.input[0].type.value.value.shape?.dim[0]?.value : undefined;
    expect(dim0).toEqual({ case: "dimParam", value: "N" });
    expect(head?.graph?.node.some((n) => n.opType === "Constant")).toBe(true);
    expect(tail?.graph?.node.some((n) => n.opType === "Constant")).toBe(false);
  });

  it("index 0 has no head and index L no tail; out of range is a usage error", async () => {
    const a = await analyzeModel(parse(chain()));
    expect(splitModel(a, 0).head).toBeNull();
    expect(splitModel(a, 4).tail).toBeNull();
    expect(() => splitModel(a, 5)).toThrow(/cut index 5 is out of range: this model has cuts 0-4/);
  });
});

describe("reading models", () => {
  it("refuses non-ONNX, truncated, unsupported opset and IR, naming the file", () => {
    expect(() => parseModel(new TextEncoder().encode("hello, I am not a model"), "x.onnx")).toThrow(expect.objectContaining({ code: "E_BAD_MODEL" }));
    const good = bytesOf(chain());
    expect(() => parseModel(good.subarray(0, good.length - 7), "cut.onnx")).toThrow(/cut\.onnx/);
    expect(() => parseModel(bytesOf(model({ nodes: [node("Relu", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], opset: 99 })), "o.onnx")).toThrow(/opset 99/);
    expect(() => parseModel(bytesOf(model({ nodes: [node("Relu", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], irVersion: 42 })), "i.onnx")).toThrow(/IR version 42/);
  });

  it("external data: inlined when present, a clear error when the file is missing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-ext-"));
    writeFileSync(join(dir, "m.onnx"), bytesOf(externalData("weights.bin")));
    expect(() => loadModel(join(dir, "m.onnx"))).toThrow(/external data file .*weights\.bin of tensor w is missing/);
    writeFileSync(join(dir, "weights.bin"), new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
    const m = loadModel(join(dir, "m.onnx"));
    const s = await ort.InferenceSession.create(serializeModel(m.proto));
    const r = await s.run({ x: new ort.Tensor("float32", new Float32Array([1, 1, 1, 1]), [1, 4]) });
    expect([...(r.y?.data as Float32Array)]).toEqual([1, 2, 3, 4]);
  });
});
