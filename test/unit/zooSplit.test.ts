import { describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { lazyZooModel } from "../../src/model/zoo/registry.js";
import { zooBuild } from "../../src/model/zoo/zoo.js";

// Every zoo model at a small input size: head then tail equals the unsplit model at every cut.
describe.each([
  ["tiny_cnn", 32],
  ["resnet_tiny", 32],
  ["resnet18", 32],
  ["mobilenet_v2", 32],
  ["vgg16", 32],
  ["resnet50", 32],
])("zoo %s at %i px", (name, inputSize) => {
  it("split equality at every cut, cuts at block boundaries carry one tensor", async () => {
    const m = parseModel(zooBuild(name, { inputSize }), `${name}-${inputSize}.onnx`);
    const a = await analyzeModel(m);
    expect(a.shapes.size).toBeGreaterThan(0);
    // the builders declare every shape: no onnxruntime probing needed
    expect([...a.shapes.values()].every((s) => s.from === "value_info")).toBe(true);
    expect(a.cuts.filter((c) => c.tensors.length === 1).length).toBeGreaterThan(2);
    const checks = await verifySplit(a, { batch: 2 });
    expect(checks.length).toBe(a.cuts.length);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
    // MACs grow along the cuts and end at the total
    const macs = a.cuts.map((c) => c.headMacs);
    expect(macs).toEqual([...macs].sort((x, y) => x - y));
    expect(macs.at(-1)).toBe(a.totalMacs);
  }, 300_000);
});

// torchvision's model cards list GFLOPS counted as multiply-accumulates: vgg16 15.47,
// resnet18 1.81, resnet50 4.09, mobilenet_v2 0.30 (IMAGENET1K_V1 weights, 224x224).
it.each([
  ["vgg16", 15.47],
  ["resnet18", 1.81],
  ["resnet50", 4.09],
  ["mobilenet_v2", 0.3],
])("%s at 224: head MACs of the last cut match torchvision's %f GFLOPS", async (name, gmacs) => {
  // the graph without weights is enough: every shape is declared
  const skeleton = lazyZooModel(name, { inputSize: 224 }).skeleton();
  const a = await analyzeModel(parseModel(skeleton, `${name}.onnx`));
  expect(a.totalMacs / 1e9).toBeCloseTo(gmacs, 1);
});
