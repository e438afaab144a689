/**
 * Head then tail run by hand, without the split verifier: splitModel's parts become
 * onnxruntime-node sessions here, the head's outputs are fed to the tail by name, and the tail's
 * outputs must equal the unsplit model's bit for bit (graph optimisation off, one thread: the
 * same kernels on the same values). One such check per model the verifier is trusted with: the
 * hand-built graphs, every zoo model, the PaddleOCR classifier.
 */
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel, parseModel, serializeModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { branching, bytesOf, chain, residual } from "../fixtures/onnxGraphs.js";

// weight prepacking off: it costs far more than these single runs (the results are the same)
const SESSION: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: "disabled", intraOpNumThreads: 1, extra: { session: { disable_prepacking: "1" } } };

/** Uniform floats in [-1, 1) from a 32-bit LCG (Numerical Recipes' constants), independent of src/. */
function inputs(a: ModelAnalysis, batch: number): Record<string, ort.Tensor> {
  let s = 12345;
  const next = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of a.graph.inputs) {
    const dims = (a.inputShapes[name] as number[]).map((d, j) => (j === 0 ? batch : d));
    feeds[name] = new ort.Tensor("float32", Float32Array.from({ length: dims.reduce((x, y) => x * y, 1) }, next), dims);
  }
  return feeds;
}

/**
 * The cuts checked (never the first or last: both parts exist): the middle single-tensor cut and,
 * where more tensors cross somewhere (inside a block), the first cut with the most.
 */
function cutsOf(a: ModelAnalysis): number[] {
  const inner = a.cuts.filter((c) => c.index > 0 && c.index < a.cuts.length - 1);
  const singles = inner.filter((c) => c.tensors.length === 1);
  const most = Math.max(...inner.map((c) => c.tensors.length));
  const multi = most > 1 ? inner.find((c) => c.tensors.length === most) : undefined;
  return [singles[Math.floor(singles.length / 2)], multi].filter((c) => c !== undefined).map((c) => c.index);
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, SESSION);
}

/** Run the unsplit model, then head and tail of each cut by hand; every output must be identical. */
async function byHand(a: ModelAnalysis, batch = 2): Promise<number[]> {
  const feeds = inputs(a, batch);
  const full = await session(a.model.bytes);
  const want = await full.run(feeds);
  await full.release();
  const checked = cutsOf(a);
  for (const index of checked) {
    const cut = a.cuts[index] as (typeof a.cuts)[number];
    const { head, tail } = splitModel(a, index);
    expect(head, `cut ${index} has a head`).not.toBeNull();
    expect(tail, `cut ${index} has a tail`).not.toBeNull();
    const h = await session(serializeModel(head!));
    const t = await session(serializeModel(tail!));
    try {
      // the head takes model inputs and gives exactly the cut's tensors; the tail takes those
      expect(h.inputNames.every((n) => a.graph.inputs.includes(n))).toBe(true);
      expect([...h.outputNames].sort()).toEqual(cut.tensors.map((x) => x.name).sort());
      expect([...t.inputNames].sort()).toEqual(cut.tensors.map((x) => x.name).sort());
      const mid = await h.run(Object.fromEntries(h.inputNames.map((n) => [n, feeds[n] as ort.Tensor])));
      for (const x of cut.tensors) expect(mid[x.name]?.dims.slice(1), `${x.name} at cut ${index}`).toEqual(x.shape.slice(1));
      const got = await t.run(Object.fromEntries(t.inputNames.map((n) => [n, mid[n] as ort.Tensor])));
      expect(Object.keys(got).sort()).toEqual([...a.graph.outputs].sort());
      for (const o of a.graph.outputs) {
        const w = want[o] as ort.Tensor;
        const g = got[o] as ort.Tensor;
        expect(g.dims, `${o} at cut ${index}`).toEqual(w.dims);
        const mismatches = (w.data as Float32Array).reduce((k, v, i) => k + (Object.is(v, (g.data as Float32Array)[i]) ? 0 : 1), 0);
        expect(mismatches, `${o} at cut ${index}: elements that differ from the unsplit model`).toBe(0);
      }
    } finally {
      await h.release();
      await t.release();
    }
  }
  return checked;
}

describe("head then tail by hand (no verifySplit) equals the unsplit model", () => {
  it.each([
    ["chain", chain],
    ["residual", residual],
    ["branching", branching],
  ])("hand-built %s", async (_name, build) => {
    const a = await analyzeModel(parseModel(bytesOf(build()), "test.onnx"));
    expect((await byHand(a, 3)).length).toBeGreaterThan(0);
  });

  // the residual nets are checked inside a block too, where two tensors cross
  it.each([
    ["tiny_cnn", 1],
    ["resnet_tiny", 2],
    ["resnet18", 2],
    ["mobilenet_v2", 2],
    ["vgg16", 1],
    ["resnet50", 2],
  ])(
    "zoo %s at 32 px (up to %i tensors crossing)",
    async (name, crossing) => {
      const a = await analyzeModel(loadModel(await zooPath(name, { inputSize: 32 })));
      const checked = await byHand(a);
      expect(Math.max(...checked.map((i) => a.cuts[i]?.tensors.length ?? 0))).toBe(crossing);
    },
    120_000,
  );

  it("PaddleOCR text-direction classifier (paddle:cls)", async () => {
    const { path, inputShapes } = await resolveModel("paddle:cls");
    const a = await analyzeModel(loadModel(path), { inputShapes });
    expect(await byHand(a)).toHaveLength(2);
  }, 120_000);
});
