import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelProto } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { batchLayout } from "../../src/model/batchLayout.js";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { graphInfo } from "../../src/model/graphInfo.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { declaredType } from "../../src/model/tensorType.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { exportTriton } from "../../src/transport/tritonRepository.js";
import { bytesOf, model, node, recurrent, squeezeBatch, vi } from "../fixtures/onnxGraphs.js";

/** Element-wise x (+ y) -> out, with each input's declared dims. */
function inputsOf(dims: Record<string, Array<number | string>>): ModelProto {
  const names = Object.keys(dims);
  const m = model({ nodes: [node("Identity", [names[0] as string], ["out"])], inputs: names, outputs: ["out"], valueInfo: false });
  m.graph?.input.splice(0, names.length, ...names.map((n) => vi(n, dims[n] as Array<number | string>)));
  return m;
}
const layoutOf = (m: ModelProto) => batchLayout(graphInfo(parseModel(bytesOf(m), "m.onnx"))).batchDims;
const parse = (m: ModelProto, name = "m.onnx") => parseModel(bytesOf(m), name);

describe("where the batch sits in each input (batchLayout)", () => {
  it("is the dim_param the inputs share, wherever it sits: X[T, N, 4], h/c[2, N, 8] have it in dim 1", () => {
    expect(layoutOf(inputsOf({ X: ["T", "N", 4], h: [2, "N", 8], c: [2, "N", 8] }))).toEqual({ X: [false, true, false], h: [false, true, false], c: [false, true, false] });
    // the exporter's own name for it
    expect(layoutOf(inputsOf({ X: ["seq", "batch", 4], h: [2, "batch", 8] }))).toEqual({ X: [false, true, false], h: [false, true, false] });
  });

  it("a lone time-major input: a name like a batch wins over dim 0", () => {
    expect(layoutOf(inputsOf({ X: ["seq", "batch_size", 4] }))).toEqual({ X: [false, true, false] });
  });

  it("inputs whose batches are named apart (tf2onnx unk__0, unk__1) each have it at dim 0; a fixed batch with symbolic H, W has none", () => {
    expect(layoutOf(inputsOf({ a: ["unk__0", 10], b: ["unk__1", 5] }))).toEqual({ a: [true, false], b: [true, false] });
    expect(layoutOf(inputsOf({ img: [1, 3, "height", "width"] }))).toEqual({ img: [false, false, false, false] });
    expect(layoutOf(inputsOf({ img: ["N", 3, "H", "W"] }))).toEqual({ img: [true, false, false, false] });
  });
});

describe("recurrent state inputs (batch in dim 1) through analysis, split and verification", () => {
  it.each([
    ["measured by onnxruntime", false],
    ["declared in value_info", true],
  ])("LSTM with h/c [2, N, 8], shapes %s: batch dims found in dim 1, every cut bit-exact at batch 3, the parts symbolic in dim 1", async (_how, valueInfo) => {
    const a = await analyzeModel(parse(recurrent({ valueInfo })));
    expect(a.batch).toBe(1);
    expect(a.inputShapes).toEqual({ X: [3, 1, 4], h0: [2, 1, 8], c0: [2, 1, 8] });
    for (const t of ["h0", "hs", "Y_h", "Y_c", "t", "s", "y"]) {
      expect([t, a.shapes.get(t)?.shape, a.shapes.get(t)?.batchDims]).toEqual([t, [2, 1, 8], [false, true, false]]);
    }
    expect(a.shapes.get("xs")?.batchDims).toEqual([false, true, false]);
    expect(a.cuts.map((c) => c.tensors.map((t) => t.name).sort())).toEqual([["X", "c0", "h0"], ["c0", "h0", "xs"], ["c0", "hs", "xs"], ["Y_c", "Y_h"], ["Y_c", "t"], ["s"], ["y"]]);
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.map((c) => [c.index, c.maxAbsDiff])).toEqual(a.cuts.map((c) => [c.index, 0]));
    expect(checks.every((c) => c.ok && c.refMaxAbs > 0)).toBe(true);
    const { head, tail } = splitModel(a, 3);
    expect(head?.graph?.output.map((v) => v.name).sort()).toEqual(["Y_c", "Y_h"]);
    for (const v of [...(head?.graph?.output ?? []), ...(tail?.graph?.input ?? [])]) expect([v.name, declaredType(v)?.dims]).toEqual([v.name, [2, "N", 8]]);
  });

  it("export-triton: a tail whose batch is dim 1 gets no Triton batching and -1 where the batch is (it was [2, 1, 8], batch 1 only)", async () => {
    const a = await analyzeModel(parse(recurrent()));
    const out = mkdtempSync(join(tmpdir(), "sw-triton-"));
    try {
      exportTriton(a, out, { name: "lstm", cuts: [3], maxBatch: 8, kind: "KIND_CPU" });
      const config = readFileSync(join(out, "lstm.tail.3", "config.pbtxt"), "utf8");
      expect(config).toMatch(/max_batch_size: 0\n/);
      expect(config.match(/dims: \[ [^\]]* \]/g)).toEqual(["dims: [ 2, -1, 8 ]", "dims: [ 2, -1, 8 ]", "dims: [ 2, -1, 8 ]"]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it("the --input-shape hint of a symbolic sequence length puts the batch where it is: X=?,1,4", async () => {
    const err = await analyzeModel(parse(recurrent({ seq: "T" }), "lstm.onnx")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe("lstm.onnx: input X dim 0 is symbolic (T): give the shape with --input-shape X=?,1,4");
    const a = await analyzeModel(parse(recurrent({ seq: "T" })), { inputShapes: { X: [5, 1, 4] } });
    expect(a.inputShapes).toEqual({ X: [5, 1, 4], h0: [2, 1, 8], c0: [2, 1, 8] });
    expect(a.shapes.get("xs")?.shape).toEqual([5, 1, 4]);
  });

  it("a batch in --input-shape is the batch analysed at: X=5,4,4 sets batch 4 for h0 and c0 too, shapes stay per item; inputs that disagree are refused", async () => {
    const a = await analyzeModel(parse(recurrent({ seq: "T" })), { inputShapes: { X: [5, 4, 4] } });
    expect(a.batch).toBe(4);
    expect(a.inputShapes).toEqual({ X: [5, 1, 4], h0: [2, 1, 8], c0: [2, 1, 8] });
    expect([a.shapes.get("Y_h")?.shape, a.shapes.get("Y_h")?.bytes]).toEqual([[2, 1, 8], 64]);
    const checks = await verifySplit(a);
    expect(checks.every((c) => c.ok && c.maxAbsDiff === 0)).toBe(true);
    await expect(analyzeModel(parse(recurrent({ seq: "T" })), { inputShapes: { X: [5, 4, 4], h0: [2, 3, 8] } })).rejects.toThrow(
      "--input-shape: the inputs disagree on the batch: X has 4 at dim 1 but h0 has 3 at dim 1; give every input the same batch (or batch 1)",
    );
    await expect(analyzeModel(parse(recurrent()), { inputShapes: { h0: [2, 8] } })).rejects.toThrow(/h0 has 3 dims \(\[2,N,8\]\), not 2; e\.g\. h0=2,1,8/);
    await expect(analyzeModel(parse(recurrent({ seq: "T" })), { inputShapes: { X: [5, 4, 4] }, singleItem: "measurements are per request of one item" })).rejects.toThrow(
      "--input-shape gives batch 4 (X has 4 at dim 1), but measurements are per request of one item: give the shape of one item, X=5,1,4",
    );
  });

  it("the probe runs at the given batch: a Squeeze of the batch dim is [3] at batch 1 but [1, 3] per item at batch 4, verified at batch 4", async () => {
    const one = await analyzeModel(parse(squeezeBatch()));
    expect([one.shapes.get("s")?.shape, one.shapes.get("s")?.batchDims]).toEqual([[3], [false]]);
    const four = await analyzeModel(parse(squeezeBatch()), { inputShapes: { x: [4, 3] } });
    expect(four.batch).toBe(4);
    expect(four.inputShapes).toEqual({ x: [1, 3] });
    expect(four.cuts.map((c) => c.tensors.map((t) => [t.name, t.shape, t.bytes]))).toEqual([[["x", [1, 3], 12]], [["s", [1, 3], 12]], [["r", [1, 3], 12]], [["y", [1, 3], 12]]]);
    const checks = await verifySplit(four);
    expect(checks.map((c) => [c.ok, c.maxAbsDiff])).toEqual(four.cuts.map(() => [true, 0]));
  });
});
