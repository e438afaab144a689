import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { bytesOf, chain, ifModel } from "../fixtures/onnxGraphs.js";

describe("compute inside If/Loop/Scan bodies", () => {
  it("an If holding most of the compute: counted as a subgraph, cuts only around it, each bit-exact", async () => {
    const a = await analyzeModel(parseModel(bytesOf(ifModel()), "if.onnx"));
    expect(a.graph.subgraphs).toEqual([{ node: "y", op: "If", nodes: 8 }]);
    expect(a.cuts.map((c) => c.node?.op ?? null)).toEqual([null, "ReduceMax", "Greater", "If"]);
    expect((await verifySplit(a, { batch: 3 })).filter((c) => c.maxAbsDiff !== 0)).toEqual([]);
  });

  it("a model without bodies has none", async () => {
    expect((await analyzeModel(parseModel(bytesOf(chain()), "chain.onnx"))).graph.subgraphs).toEqual([]);
  });
});
