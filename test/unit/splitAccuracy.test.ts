import { beforeAll, describe, expect, it } from "vitest";
import { splitAccuracy } from "../../src/measure/splitAccuracy.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";

let a: ModelAnalysis;
beforeAll(async () => {
  a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
});

describe("split accuracy (agreement with the unsplit model)", () => {
  it("a lossless split agrees on every input at every cut; the interval is Wilson's", async () => {
    for (const cut of [0, 6, a.cuts.length - 1]) {
      const r = await splitAccuracy(a, cut, { codec: "raw", compression: "none" }, { evalSet: "agreement", n: 8 });
      expect(r).toMatchObject({ value: 1, n: 8, evalSet: "agreement" });
      expect(r.ci95[1]).toBe(1);
      expect(r.ci95[0]).toBeLessThan(1);
    }
  });

  it("a lossy codec can only lose agreement, and the same inputs give the same answer", async () => {
    const once = await splitAccuracy(a, 6, { codec: "int8", compression: "none" }, { evalSet: "agreement", n: 8 });
    const again = await splitAccuracy(a, 6, { codec: "int8", compression: "none" }, { evalSet: "agreement", n: 8 });
    expect(once.value).toBeLessThanOrEqual(1);
    expect(again).toEqual(once);
  });
});
