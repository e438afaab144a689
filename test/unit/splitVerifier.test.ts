/**
 * The split verifier must report a wrong split. Each case starts from splitModel's real parts,
 * changes one thing in a copy of the head or the tail (one weight, two cut tensors swapped, two
 * outputs swapped, an output dropped) and hands the pair to verifyParts, the verifier with its
 * parts injected: the very loop, sessions and comparison verifySplit runs.
 */
import { clone } from "@bufbuild/protobuf";
import { ModelProtoSchema, TensorProtoSchema, type ModelProto, type TensorProto } from "onnx-buf";
import { describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { splitModel, type SplitParts } from "../../src/model/splitModel.js";
import { verifyParts, verifySplit } from "../../src/runtime/verifySplit.js";
import { zooBuild } from "../../src/model/zoo/zoo.js";
import { branching, bytesOf, model, node, residual } from "../fixtures/onnxGraphs.js";

const analyse = async (m: ModelProto): Promise<ModelAnalysis> => analyzeModel(parseModel(bytesOf(m), "test.onnx"));

/** A copy of `t` whose float number `i` is `delta` larger (the original is not touched). */
function perturbed(t: TensorProto, i: number, delta: number): TensorProto {
  const c = clone(TensorProtoSchema, t);
  const raw = new Uint8Array(t.rawData); // a copy
  expect(raw.length, `${t.name} keeps its weights in raw_data`).toBeGreaterThanOrEqual(4 * (i + 1));
  const v = new DataView(raw.buffer);
  v.setFloat32(4 * i, v.getFloat32(4 * i, true) + delta, true);
  c.rawData = raw;
  return c;
}

/** A copy of `part` with the initializer `name` perturbed at element `i`. */
function withWeight(part: ModelProto | null, name: string, i: number, delta: number): ModelProto {
  expect(part).not.toBeNull();
  const m = clone(ModelProtoSchema, part as ModelProto);
  const g = m.graph;
  const k = g?.initializer.findIndex((t) => t.name === name) ?? -1;
  expect(k, `${name} is in this part`).toBeGreaterThanOrEqual(0);
  (g as NonNullable<typeof g>).initializer[k] = perturbed((g as NonNullable<typeof g>).initializer[k] as TensorProto, i, delta);
  return m;
}

/** A copy of `part` in which every node reads `a` where it read `b` and the other way round. */
function swapInputs(part: ModelProto | null, a: string, b: string): ModelProto {
  expect(part).not.toBeNull();
  const m = clone(ModelProtoSchema, part as ModelProto);
  let swapped = 0;
  for (const n of m.graph?.node ?? [])
    n.input = n.input.map((x) => {
      if (x !== a && x !== b) return x;
      swapped++;
      return x === a ? b : a;
    });
  expect(swapped).toBeGreaterThanOrEqual(2);
  return m;
}

/** A copy of `part` in which the nodes producing `a` and `b` write each other's. */
function swapOutputs(part: ModelProto | null, a: string, b: string): ModelProto {
  expect(part).not.toBeNull();
  const m = clone(ModelProtoSchema, part as ModelProto);
  let swapped = 0;
  for (const n of m.graph?.node ?? [])
    n.output = n.output.map((x) => {
      if (x !== a && x !== b) return x;
      swapped++;
      return x === a ? b : a;
    });
  expect(swapped).toBe(2);
  return m;
}

/** verifyParts at one cut with `change` applied to splitModel's parts. */
async function checkChanged(a: ModelAnalysis, index: number, change: (p: SplitParts) => Pick<SplitParts, "head" | "tail">, batch = 2) {
  const [check] = await verifyParts(a, (i) => change(splitModel(a, i)), { indices: [index], batch });
  return check as NonNullable<typeof check>;
}

describe("the split verifier reports a wrong head or tail (parts changed from splitModel's)", () => {
  it("zoo tiny_cnn: a conv weight of the head or the classifier bias of the tail, changed by 0.5", async () => {
    const a = await analyzeModel(parseModel(zooBuild("tiny_cnn", { inputSize: 32 }), "tiny_cnn-32.onnx"));
    const cut = 6; // after the second MaxPool: conv1, conv2 in the head; conv3, conv4, fc in the tail
    // the parts as they are pass, exactly: the failures below are the changes'
    expect(await checkChanged(a, cut, (p) => p)).toMatchObject({ index: cut, ok: true, maxAbsDiff: 0 });
    const head = await checkChanged(a, cut, (p) => ({ head: withWeight(p.head, "conv1.weight", 0, 0.5), tail: p.tail }));
    expect(head.ok).toBe(false);
    expect(head.maxAbsDiff).toBeGreaterThan(1e-3);
    // a bias adds straight to one logit: off by exactly the change (float32 rounding aside)
    const tail = await checkChanged(a, cut, (p) => ({ head: p.head, tail: withWeight(p.tail, "fc.bias", 3, 0.5) }));
    expect(tail.ok).toBe(false);
    expect(tail.maxAbsDiff).toBeCloseTo(0.5, 5);
  });

  it("residual: the tail reads the two cut tensors the wrong way round", async () => {
    const a = await analyse(residual());
    const cut = a.cuts.find((c) => c.tensors.map((t) => t.name).sort().join() === "r1,r2");
    expect(cut, "a cut carrying the block input r1 and the branch tensor r2").toBeDefined();
    const index = (cut as NonNullable<typeof cut>).index;
    expect(await checkChanged(a, index, (p) => p)).toMatchObject({ ok: true, maxAbsDiff: 0 });
    const swapped = await checkChanged(a, index, (p) => ({ head: p.head, tail: swapInputs(p.tail, "r1", "r2") }));
    expect(swapped.ok).toBe(false);
    expect(swapped.maxAbsDiff).toBeGreaterThan(1e-3);
  });

  it("branching: the Constant weight of the head changed", async () => {
    const a = await analyse(branching());
    const index = 2; // after Mul(x, w) and Relu: w is the head's
    const changed = await checkChanged(a, index, (p) => {
      const head = clone(ModelProtoSchema, p.head as ModelProto);
      const w = head.graph?.node.find((n) => n.opType === "Constant" && n.output[0] === "w")?.attribute[0];
      expect(w?.t).toBeDefined();
      (w as NonNullable<typeof w>).t = perturbed((w as NonNullable<typeof w>).t as TensorProto, 1, 0.5);
      return { head, tail: p.tail };
    });
    expect(changed.ok).toBe(false);
    expect(changed.maxAbsDiff).toBeGreaterThan(0.01);
  });

  it("two outputs: a tail that swaps them, or drops one, is reported", async () => {
    // x -> a = Relu(x) -> y = Sigmoid(a), z = Neg(a)
    const a = await analyse(model({ nodes: [node("Relu", ["x"], ["a"]), node("Sigmoid", ["a"], ["y"]), node("Neg", ["a"], ["z"])], inputs: ["x"], outputs: ["y", "z"] }));
    const index = 1; // after Relu
    expect(a.cuts[index]?.tensors.map((t) => t.name)).toEqual(["a"]);
    expect(await checkChanged(a, index, (p) => p)).toMatchObject({ ok: true, maxAbsDiff: 0 });
    const swapped = await checkChanged(a, index, (p) => ({ head: p.head, tail: swapOutputs(p.tail, "y", "z") }));
    expect(swapped.ok).toBe(false);
    expect(swapped.maxAbsDiff).toBeGreaterThanOrEqual(0.5); // sigmoid(a) >= 0.5 against -a <= 0
    const dropped = await checkChanged(a, index, (p) => {
      const tail = clone(ModelProtoSchema, p.tail as ModelProto);
      (tail.graph as NonNullable<typeof tail.graph>).output = tail.graph?.output.filter((o) => o.name !== "z") ?? [];
      return { head: p.head, tail };
    });
    expect(dropped).toMatchObject({ ok: false, maxAbsDiff: Number.POSITIVE_INFINITY });
  });

  it("verifySplit is verifyParts with splitModel's parts: same checks at every cut", async () => {
    const a = await analyse(residual());
    expect(await verifySplit(a, { batch: 3 })).toEqual(await verifyParts(a, (i) => splitModel(a, i), { batch: 3 }));
  });
});
