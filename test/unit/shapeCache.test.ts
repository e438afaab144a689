import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel, parseModel } from "../../src/model/onnxModel.js";
import { shapeCache } from "../../src/model/shapeCache.js";
import { TailModels } from "../../src/transport/tailModels.js";
import { bytesOf, chain, ifByInt64, model, storageFields } from "../fixtures/onnxGraphs.js";

const root = mkdtempSync(join(tmpdir(), "sw-shapecache-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

let dirs = 0;
const freshDir = () => join(root, `c${dirs++}`);
/** x[N,4] through four element-wise nodes, no value_info: every shape needs the probe */
const probed = () => parseModel(bytesOf(storageFields()), "storage.onnx");
const entryFile = (dir: string) => join(dir, readdirSync(dir).find((f) => f.endsWith(".json")) as string);
/** onnxruntime sessions created while `f` runs (the probe is one; a cache hit creates none) */
async function sessionsDuring<T>(f: () => Promise<T>): Promise<{ value: T; sessions: number }> {
  const create = vi.spyOn(ort.InferenceSession, "create");
  const value = await f();
  const sessions = create.mock.calls.length;
  create.mockRestore();
  return { value, sessions };
}

describe("analysis cache (measured tensor shapes)", () => {
  it("a second analysis, in a new process's cache over the same directory, reads the file: no probe, the same cuts", async () => {
    const dir = freshDir();
    const cold = await sessionsDuring(() => analyzeModel(probed(), { shapeCache: shapeCache({ dir }) }));
    expect(cold.sessions).toBe(1);
    const warnings: string[] = [];
    const warm = await sessionsDuring(() => analyzeModel(probed(), { shapeCache: shapeCache({ dir, onWarning: (m) => warnings.push(m) }) }));
    expect(warm.sessions).toBe(0);
    expect(warnings).toEqual([]);
    expect(warm.value.cuts).toEqual(cold.value.cuts);
    expect(Object.fromEntries(warm.value.shapes)).toEqual(Object.fromEntries(cold.value.shapes));
  });

  it("the memo answers the same cache twice without touching the file", async () => {
    const dir = freshDir();
    const cache = shapeCache({ dir });
    await analyzeModel(probed(), { shapeCache: cache });
    rmSync(dir, { recursive: true });
    expect((await sessionsDuring(() => analyzeModel(probed(), { shapeCache: cache }))).sessions).toBe(0);
  });

  it("keyed by input shapes: another size is measured again and kept apart", async () => {
    const dir = freshDir();
    const m = () => parseModel(bytesOf(model({ nodes: chain().graph?.node ?? [], inputs: ["x"], outputs: ["y"], dims: ["N", "W"], valueInfo: false })), "w.onnx");
    const a4 = await analyzeModel(m(), { inputShapes: { x: [1, 4] }, shapeCache: shapeCache({ dir }) });
    const a6 = await sessionsDuring(() => analyzeModel(m(), { inputShapes: { x: [1, 6] }, shapeCache: shapeCache({ dir }) }));
    expect(a6.sessions).toBe(1);
    expect(a4.shapes.get("b")?.shape).toEqual([1, 4]);
    expect(a6.value.shapes.get("b")?.shape).toEqual([1, 6]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toHaveLength(2);
  });

  it("keyed by the batch analysed at and the given input values: each measured and kept apart", async () => {
    const dir = freshDir();
    const m = () => parseModel(bytesOf(ifByInt64()), "if.onnx");
    const runs = [{}, { inputShapes: { x: [4, 4] } }, { inputValues: { mode: [1] } }, { inputValues: { mode: [2] } }];
    for (const o of runs) expect((await sessionsDuring(() => analyzeModel(m(), { ...o, shapeCache: shapeCache({ dir }) }))).sessions).toBe(1);
    expect(readdirSync(dir).filter((f) => f.endsWith(".json"))).toHaveLength(4);
    for (const o of runs) expect((await sessionsDuring(() => analyzeModel(m(), { ...o, shapeCache: shapeCache({ dir }) }))).sessions).toBe(0);
    const key = JSON.parse(readFileSync(entryFile(dir), "utf8")).key;
    expect(Object.keys(key)).toEqual(["sha256", "inputShapes", "batch", "inputValuesSha256", "onnxruntime"]);
  });

  it.each([
    ["not JSON", (_: string) => "{ this is not json", /not JSON/],
    ["another format", (t: string) => t.replace('"format":2', '"format":99'), /not a valid entry \(format/],
    ["bytes that do not follow from the dims", (t: string) => t.replace(/"shape":\[1,4\],"batchDims":\[true,false\],"bytes":16/, '"shape":[1,4],"batchDims":[true,false],"bytes":17'), /has 17 bytes/],
    ["a tensor missing", (t: string) => t.replace(/\{"name":"idx"[^}]*\},?/, ""), /lacks tensors this model has \(idx\)/],
    ["another model's key", (t: string) => t.replace(/"sha256":"[0-9a-f]+"/, `"sha256":"${"0".repeat(64)}"`), /another model/],
  ])("an entry with %s is ignored with a warning, measured again and rewritten", async (_what, corrupt, why) => {
    const dir = freshDir();
    const first = await analyzeModel(probed(), { shapeCache: shapeCache({ dir }) });
    const file = entryFile(dir);
    const good = readFileSync(file, "utf8");
    const bad = corrupt(good);
    expect(bad).not.toBe(good);
    writeFileSync(file, bad);
    const warnings: string[] = [];
    const again = await sessionsDuring(() => analyzeModel(probed(), { shapeCache: shapeCache({ dir, onWarning: (m) => warnings.push(m) }) }));
    expect(again.sessions).toBe(1);
    expect(warnings).toEqual([expect.stringMatching(why)]);
    expect(warnings[0]).toMatch(/^ignoring the analysis cache entry .*; measuring the shapes again$/);
    expect(Object.fromEntries(again.value.shapes)).toEqual(Object.fromEntries(first.shapes));
    expect(readFileSync(file, "utf8")).toBe(good);
  });

  it("a directory that cannot be written: a warning, and the analysis goes on", async () => {
    const blocker = join(root, "a-file");
    writeFileSync(blocker, "");
    const warnings: string[] = [];
    const a = await analyzeModel(probed(), { shapeCache: shapeCache({ dir: join(blocker, "cache"), onWarning: (m) => warnings.push(m) }) });
    expect(a.cuts.length).toBeGreaterThan(2);
    expect(warnings).toEqual([expect.stringMatching(/^cannot write the analysis cache entry .*a-file\/cache\/[0-9a-f]{64}\.json/)]);
  });

  it("the tail server's on-demand split reads the cache: no probe for a model analysed before", async () => {
    const dir = freshDir();
    const path = join(root, "storage.onnx");
    writeFileSync(path, bytesOf(storageFields()));
    const a = await analyzeModel(loadModel(path), { shapeCache: shapeCache({ dir }) });
    const tails = new TailModels({ models: { m: path }, shapeCache: shapeCache({ dir }) });
    try {
      const meta = await sessionsDuring(() => tails.metadata("m.tail.3"));
      expect(meta.sessions).toBe(0);
      expect(meta.value.inputs.map((t) => t.name).sort()).toEqual(a.cuts[3]?.tensors.map((t) => t.name).sort());
    } finally {
      await tails.close();
    }
  });
});
