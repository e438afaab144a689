import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { givenInputValues } from "../../src/cli/openModel.js";
import { BadModelError, UsageError } from "../../src/errors.js";
import { accuracyKey } from "../../src/measure/accuracyCache.js";
import { nodeProfile } from "../../src/measure/nodeProfile.js";
import { splitAccuracy } from "../../src/measure/splitAccuracy.js";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { shapeCache } from "../../src/model/shapeCache.js";
import { parseExecutionTarget } from "../../src/runtime/executionTarget.js";
import { readInputFile } from "../../src/runtime/inputFile.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { createSession } from "../../src/runtime/sessionFactory.js";
import { checkInputValues, inputValuesDigest, syntheticTensor } from "../../src/runtime/syntheticInputs.js";
import { verifySplit } from "../../src/runtime/verifySplit.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { bytesOf, ifByInt64, reshapeByInt64 } from "../fixtures/onnxGraphs.js";

const dir = mkdtempSync(join(tmpdir(), "sw-input-values-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function runFull(a: Awaited<ReturnType<typeof analyzeModel>>, feeds: Record<string, ort.Tensor>): Promise<ort.Tensor> {
  const s = await createSession(a.model.bytes, { purpose: "exact", label: a.model.path });
  try {
    return (await s.run(feeds)).y as ort.Tensor;
  } finally {
    await s.release();
  }
}

describe("an int64 input steering an If", () => {
  it("zeros take the else branch ([N,8] of Relu(x) - 10); given values the then branch ([N,4] of Relu(x) + 10), in the probe, the inputs and every cut", async () => {
    const zeros = await analyzeModel(parseModel(bytesOf(ifByInt64()), "if.onnx"));
    expect(zeros.shapes.get("mode")?.dtype).toBe("int64");
    expect(zeros.shapes.get("y")?.shape).toEqual([1, 8]);
    const y0 = await runFull(zeros, modelInputs(zeros, { seed: 3 }));
    expect([...(y0.data as Float32Array)].every((v) => v >= -10 && v < -9)).toBe(true);

    const given = await analyzeModel(parseModel(bytesOf(ifByInt64()), "if.onnx"), { inputValues: { mode: [16000], x: [1, -2, 3, -4] } });
    expect(given.shapes.get("y")?.shape).toEqual([1, 4]);
    expect(given.cuts.at(-1)?.bytes).toBe(16);
    const feeds = modelInputs(given, { batch: 2 });
    expect([...(feeds.mode?.data as BigInt64Array)]).toEqual([16000n]);
    // one item's values tiled over the batch
    expect([...(feeds.x?.data as Float32Array)]).toEqual([1, -2, 3, -4, 1, -2, 3, -4]);
    expect([...((await runFull(given, feeds)).data as Float32Array)]).toEqual([11, 10, 13, 10, 11, 10, 13, 10]);

    const checks = await verifySplit(given, { batch: 2 });
    expect(checks.map((c) => [c.ok, c.maxAbsDiff, c.refMaxAbs])).toEqual(given.cuts.map(() => [true, 0, 13]));
    const checks0 = await verifySplit(zeros, { batch: 2 });
    expect(checks0.every((c) => c.ok && c.maxAbsDiff === 0 && c.refMaxAbs <= 10)).toBe(true);
  });

  it("the accuracy cache keys agreement by the given values (their digest, whatever the order names were given in)", () => {
    const sha = "a".repeat(64);
    const key = (v: Record<string, number[]>) => accuracyKey(sha, 1, "raw", "agreement", 32, inputValuesDigest(v));
    expect(key({})).toBe(`${sha}|cut=1|codec=raw|set=agreement|n=32`);
    expect(key({ mode: [1] })).not.toBe(key({ mode: [2] }));
    expect(key({ mode: [1], x: [0, 1, 2, 3] })).toBe(key({ x: [0, 1, 2, 3], mode: [1] }));
  });

  it("the analysis cache keeps the shapes of each set of values apart", async () => {
    const cache = shapeCache();
    const m = () => parseModel(bytesOf(ifByInt64()), "if.onnx");
    expect((await analyzeModel(m(), { shapeCache: cache, inputValues: { mode: [1] } })).shapes.get("y")?.shape).toEqual([1, 4]);
    expect((await analyzeModel(m(), { shapeCache: cache })).shapes.get("y")?.shape).toEqual([1, 8]);
    expect((await analyzeModel(m(), { shapeCache: cache, inputValues: { mode: [1] } })).shapes.get("y")?.shape).toEqual([1, 4]);
  });
});

describe("every path that runs the model feeds the given values (a model zeros cannot run)", () => {
  it("zeros fail the probe with a one-line error naming --input-values", async () => {
    const err = await analyzeModel(parseModel(bytesOf(reshapeByInt64()), "reshape.onnx")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadModelError);
    expect((err as Error).message).toMatch(/^onnxruntime failed to run reshape\.onnx on zeros \(x=1,4 mode=1\) to measure tensor shapes: .*reshape.*; check the shapes \(--input-shape\) and values \(--input-values\)$/is);
    expect((err as Error).message).not.toMatch(/\n/);
  });

  it("with mode = 2: the probe, verification at every cut, accuracy by agreement and node profiling all run", async () => {
    const a = await analyzeModel(parseModel(bytesOf(reshapeByInt64()), "reshape.onnx"), { inputValues: { mode: [2] } });
    expect([a.shapes.get("r")?.shape, a.shapes.get("r")?.batchDims]).toEqual([[2, 2], [true, false]]);
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.map((c) => [c.ok, c.maxAbsDiff])).toEqual(a.cuts.map(() => [true, 0]));
    const acc = await splitAccuracy(a, 2, parseCodec("raw"), { evalSet: "agreement", n: 3 });
    expect([acc.value, acc.n]).toEqual([1, 3]);
    const profile = await nodeProfile(a, parseExecutionTarget("cpu", "device"), 2);
    expect(profile.nodeMs).toHaveLength(a.graph.compute.length);
  });
});

describe("given values: checks and tiling", () => {
  const specs = [
    { name: "x", dtype: "float32", shape: [1, 4] },
    { name: "mode", dtype: "int64", shape: [1] },
    { name: "flag", dtype: "bool", shape: [2] },
    { name: "u8", dtype: "uint8", shape: [1] },
  ];
  it("refuse, in one line, an unknown name (listing the real ones), a wrong count, a non-integer, out of range or non-finite value", () => {
    const check = (values: Record<string, number[]>) => {
      try {
        checkInputValues(specs, values, "--input-values");
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(check({ x: [1, 2, 3, 4], mode: [16000], flag: [0, 1], u8: [255] })).toBe("accepted");
    expect(check({ sr: [1] })).toBe("--input-values: there is no input named sr; the model's inputs are x, mode, flag, u8");
    expect(check({ mode: [1, 2] })).toBe("--input-values: 2 values for mode, but mode is int64 [1] per item (1 element): give exactly 1");
    expect(check({ x: [1] })).toBe("--input-values: 1 value for x, but x is float32 [1,4] per item (4 elements): give exactly 4");
    expect(check({ mode: [1.5] })).toMatch(/mode holds 1.5, but mode is int64 \[1\] per item: give integers in/);
    expect(check({ mode: [2 ** 53] })).toBe(`--input-values: mode holds ${2 ** 53}, but mode is int64 [1] per item: give integers in ${Number.MIN_SAFE_INTEGER}..${Number.MAX_SAFE_INTEGER}`);
    expect(check({ u8: [256] })).toBe("--input-values: u8 holds 256, but u8 is uint8 [1] per item: give integers in 0..255");
    expect(check({ flag: [0, 2] })).toBe("--input-values: flag holds 2, but flag is bool [2] per item: give integers in 0..1");
    expect(check({ x: [1, 2, Number.NaN, 4] })).toBe("--input-values: x holds NaN; give finite numbers");
  });

  it("one item is tiled over the batch wherever the batch dims are (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }), fc.nat(3), fc.integer({ min: 1, max: 4 }), (dims, at, batch) => {
        const k = at % (dims.length + 1);
        const shape = [...dims.slice(0, k), 1, ...dims.slice(k)];
        const batchDims = shape.map((_, i) => i === k);
        const n = shape.reduce((a, b) => a * b, 1);
        const item = Array.from({ length: n }, (_, i) => i + 1);
        const t = syntheticTensor({ name: "v", dtype: "float32", shape, batchDims }, { batch, values: { v: item } });
        const data = [...(t.data as Float32Array)];
        const outer = shape.slice(0, k).reduce((a, b) => a * b, 1);
        const inner = shape.slice(k + 1).reduce((a, b) => a * b, 1);
        // element (o, b, i) of [outer, batch, inner] is the item's (o, i)
        for (let o = 0; o < outer; o++) for (let b = 0; b < batch; b++) for (let i = 0; i < inner; i++) expect(data[(o * batch + b) * inner + i]).toBe(item[o * inner + i]);
      }),
    );
  });
});

describe("--input-file FILE.json", () => {
  it("reads numbers, bools and nested arrays (row-major) by input name", () => {
    const f = join(dir, "v.json");
    writeFileSync(f, JSON.stringify({ x: [[1, 2], [3, 4.5]], mode: 16000, flag: [true, false] }));
    expect(readInputFile(f)).toEqual({ x: [1, 2, 3, 4.5], mode: [16000], flag: [1, 0] });
  });

  it("refuses in one line: a missing file, not JSON, not an object, a null inside, an .npy without NAME=", () => {
    const bad = join(dir, "bad.json");
    const msg = (spec: string) => {
      try {
        readInputFile(spec);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        expect((e as Error).message).not.toMatch(/\n/);
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(msg(join(dir, "nope.json"))).toMatch(/^--input-file: cannot read .*nope\.json \(ENOENT\); give a JSON file/);
    writeFileSync(bad, "{ x: 1 ");
    expect(msg(bad)).toMatch(/bad\.json is not valid JSON \(.*\); give \{ "NAME": \[numbers\], \.\.\. \}$/);
    writeFileSync(bad, "[1, 2]");
    expect(msg(bad)).toMatch(/expected one JSON object/);
    writeFileSync(bad, JSON.stringify({ x: [1, [2, null]] }));
    expect(msg(bad)).toMatch(/: x\[1\]\[1\] is null; give numbers/);
    expect(msg("m.npy")).toBe("--input-file m.npy: an .npy file holds one input: give NAME=m.npy");
  });
});

describe("--input-values and --input-file together (givenInputValues)", () => {
  const names = ["x", "mode"];
  const given = (inputValues: string[], inputFile: string[] = []) => givenInputValues({ inputValues, inputFile }, "m.onnx", names);
  const refused = (inputValues: string[], inputFile: string[] = []) => {
    try {
      given(inputValues, inputFile);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    return "accepted";
  };

  it("merges the files (JSON and NAME=FILE.npy) and the flags by input name", () => {
    const json = join(dir, "x.json");
    writeFileSync(json, JSON.stringify({ x: [1, 2, 3, 4] }));
    expect(given(["mode=16000"], [json])).toEqual({ x: [1, 2, 3, 4], mode: [16000] });
    expect(given(["x=-1.5,2e3,.5,+4"])).toEqual({ x: [-1.5, 2000, 0.5, 4] });
  });

  it("refuses in one line: a name given twice, an unknown name, a token that is not a number, an .npy without NAME=", () => {
    const json = join(dir, "mode.json");
    writeFileSync(json, JSON.stringify({ mode: [1] }));
    expect(refused(["mode=2"], [json])).toBe(`--input-values: input mode is given by --input-file ${json} too: give each input once`);
    expect(refused(["mode=1", "mode=2"])).toBe("--input-values mode is given twice: give each input once");
    expect(refused(["sr=1"])).toBe('--input-values: m.onnx has no input named "sr"; its inputs are x, mode');
    expect(refused(["mode=1,,2"])).toBe('--input-values mode=1,,2: expected NAME=V1,V2,... with numbers ("" is not one), e.g. sr=16000');
    expect(refused(["mode=nan"])).toMatch(/\("nan" is not one\)/);
    expect(refused(["=1"])).toMatch(/^--input-values =1: expected NAME=V1,V2/);
    expect(refused([], ["mode.npy"])).toBe("--input-file mode.npy: an .npy file holds one input: give NAME=mode.npy");
  });
});
