/**
 * Model inputs through the built CLI: the batch where the inputs share it (recurrent state inputs
 * [2, N, 8]), --input-shape with a batch other than 1, and real values for inputs whose zeros
 * take the wrong branch (--input-values, --input-file JSON and .npy) on inspect, split, measure
 * and serve. Hand-built models, each through inspect + split with head then tail bit-exact.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { seededFloats } from "../../src/runtime/syntheticInputs.js";
import { bytesOf, ifByInt64, recurrent, reshapeByInt64, squeezeBatch } from "../fixtures/onnxGraphs.js";

const repo = resolve(import.meta.dirname, "../..");
const dir = mkdtempSync(join(tmpdir(), "sw-e2e-inputs-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  // a state directory of its own: the analysis cache starts empty
  const r = spawnSync(process.execPath, [join(repo, "bin/splitwatt.js"), ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: join(dir, "state") } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** exit 2 and exactly one line on stderr matching `re`, no "internal error". */
function userError(args: string[], re: RegExp): void {
  const r = cli(args);
  const what = `exit ${r.code}: ${r.stderr}`;
  expect(r.code, what).toBe(2);
  expect(r.stderr.trim().split("\n"), what).toHaveLength(1);
  expect(r.stderr, what).not.toMatch(/internal error/);
  expect(r.stderr.trim(), what).toMatch(re);
}

function ok(args: string[]): string {
  const r = cli(args);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

const file = (name: string, bytes: Uint8Array | string) => {
  const p = join(dir, name);
  writeFileSync(p, bytes);
  return p;
};

/** An .npy (format 1.0) of little-endian int64 values, shape [n]. */
function npyInt64(values: bigint[]): Uint8Array {
  const dict = `{'descr': '<i8', 'fortran_order': False, 'shape': (${values.length},), }`;
  const pad = 64 - ((10 + dict.length + 1) % 64);
  const header = new TextEncoder().encode(`${dict}${" ".repeat(pad % 64)}\n`);
  const out = new Uint8Array(10 + header.length + values.length * 8);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(header, 10);
  new DataView(out.buffer).setBigInt64(10 + header.length, 0n, true);
  values.forEach((v, i) => new DataView(out.buffer).setBigInt64(10 + header.length + i * 8, v, true));
  return out;
}

describe("recurrent state inputs: the batch in dim 1", () => {
  const lstm = file("lstm.onnx", bytesOf(recurrent({ seq: "T" })));

  it("the hint puts the batch where it is; inspect and split run, and the parts take any batch in dim 1 bit-exact", async () => {
    userError(["inspect", lstm], /input X dim 0 is symbolic \(T\): give the shape with --input-shape X=\?,1,4$/);
    const j = JSON.parse(ok(["inspect", lstm, "--input-shape", "X=5,1,4", "--json"]));
    expect(j.batch).toBe(1);
    expect(j.inputs.map((t: { name: string; shape: number[] }) => [t.name, t.shape])).toEqual([
      ["X", [5, 1, 4]],
      ["h0", [2, 1, 8]],
      ["c0", [2, 1, 8]],
    ]);
    const out = join(dir, "lstm-3");
    const s = JSON.parse(ok(["split", lstm, "--at", "3", "--out", out, "--input-shape", "X=5,1,4", "--json"]));
    expect(s.cut.tensors.map((t: { name: string; shape: number[] }) => [t.name, t.shape])).toEqual([
      ["Y_h", [2, 1, 8]],
      ["Y_c", [2, 1, 8]],
    ]);
    expect([s.verified.ok, s.verified.maxAbsDiff]).toEqual([true, 0]);
    // the written parts at batch 3 (dim 1), against the full model: exact with no graph optimisation
    const o = { graphOptimizationLevel: "disabled" as const };
    const [full, head, tail] = await Promise.all([lstm, join(out, "head.onnx"), join(out, "tail.onnx")].map((p) => ort.InferenceSession.create(p, o)));
    const feeds = {
      X: new ort.Tensor("float32", seededFloats(5 * 3 * 4, 1), [5, 3, 4]),
      h0: new ort.Tensor("float32", seededFloats(2 * 3 * 8, 2), [2, 3, 8]),
      c0: new ort.Tensor("float32", seededFloats(2 * 3 * 8, 3), [2, 3, 8]),
    };
    const want = (await full!.run(feeds)).y;
    const got = (await tail!.run(await head!.run(feeds))).y;
    expect(got?.dims).toEqual([2, 3, 8]);
    expect([...(got?.data as Float32Array)]).toEqual([...(want?.data as Float32Array)]);
  });

  it("--input-shape X=5,4,4 is the batch to analyse at: batch 4 for every input, figures per item, verified at batch 4; measure refuses it", () => {
    const j = JSON.parse(ok(["inspect", lstm, "--input-shape", "X=5,4,4", "--json"]));
    expect(j.batch).toBe(4);
    expect(j.inputs.map((t: { shape: number[]; bytes: number }) => [t.shape, t.bytes])).toEqual([
      [[5, 1, 4], 80],
      [[2, 1, 8], 64],
      [[2, 1, 8], 64],
    ]);
    expect(ok(["inspect", lstm, "--input-shape", "X=5,4,4"])).toMatch(/shapes measured at batch 4 \(--input-shape\); shapes, bytes and MACs are per item/);
    const out = join(dir, "lstm-b4");
    expect(ok(["split", lstm, "--at", "3", "--out", out, "--input-shape", "X=5,4,4"])).toMatch(/head then tail matches the full model at batch 4 \(max abs diff 0\)/);
    expect(JSON.parse(readFileSync(join(out, "split.json"), "utf8"))).toMatchObject({ batch: 4, inputShapes: { X: [5, 1, 4], h0: [2, 1, 8], c0: [2, 1, 8] } });
    userError(["inspect", lstm, "--input-shape", "X=5,4,4", "--input-shape", "h0=2,3,8"], /the inputs disagree on the batch: X has 4 at dim 1 but h0 has 3 at dim 1/);
    userError(
      ["measure", lstm, "--cut", "3", "--input-shape", "X=5,4,4", "--store", join(dir, "m.jsonl")],
      /--input-shape gives batch 4 \(X has 4 at dim 1\), but measurements are per request of one item: give the shape of one item, X=5,1,4$/,
    );
  });

  it("a model written for batch 1 (Squeeze of the batch dim) is probed at the given batch: [1, 3] per item (at batch 1 it is [3])", () => {
    const sq = file("squeeze.onnx", bytesOf(squeezeBatch()));
    const cut1 = (j: { cuts: Array<{ tensors: Array<{ shape: number[] }> }> }) => j.cuts[1]?.tensors[0]?.shape;
    expect(cut1(JSON.parse(ok(["inspect", sq, "--input-shape", "x=4,3", "--json"])))).toEqual([1, 3]);
    expect(ok(["split", sq, "--at", "1", "--out", join(dir, "sq"), "--input-shape", "x=4,3"])).toMatch(/matches the full model at batch 4 \(max abs diff 0\)/);
  });
});

describe("given input values: an int64 input steering an If", () => {
  const model = file("if.onnx", bytesOf(ifByInt64()));
  const yShape = (stdout: string) => JSON.parse(stdout).outputs[0].shape as number[];

  it("zeros take the else branch ([1, 8]); --input-values, a JSON file and an .npy file the then branch ([1, 4])", () => {
    const zeros = JSON.parse(ok(["inspect", model, "--json"]));
    expect(zeros.inputs[1]).toMatchObject({ name: "mode", dtype: "int64", shape: [1] });
    expect(zeros.outputs[0].shape).toEqual([1, 8]);
    const given = JSON.parse(ok(["inspect", model, "--input-values", "mode=1", "--json"]));
    expect([given.outputs[0].shape, given.inputValues]).toEqual([[1, 4], ["mode"]]);
    // the text output: the last cut carries y [1x4] (16 bytes), and a line names the given values
    const text = ok(["inspect", model, "--input-file", file("v.json", JSON.stringify({ mode: [1] }))]);
    expect(text).toMatch(/inputs x\[1x4\], mode\[1\] int64\nshapes measured with the given values of mode \(zeros elsewhere\)\n/);
    expect(text).toMatch(/^ +3 +If if_mode +\[1x4\] +0\.0 KiB/m);
    expect(yShape(ok(["inspect", model, "--input-file", `mode=${file("mode.npy", npyInt64([16000n]))}`, "--json"]))).toEqual([1, 4]);
  });

  it("split verifies on the given values: refMaxAbs shows the branch (then: Relu(x) + 10 >= 10; else: |Relu(x) - 10| <= 10), head then tail bit-exact", () => {
    const zeros = JSON.parse(ok(["split", model, "--at", "2", "--out", join(dir, "if-0"), "--json"]));
    expect(zeros.verified.maxAbsDiff).toBe(0);
    expect(zeros.verified.refMaxAbs).toBeLessThanOrEqual(10);
    const given = JSON.parse(ok(["split", model, "--at", "2", "--out", join(dir, "if-1"), "--input-values", "mode=16000", "--json"]));
    expect([given.verified.ok, given.verified.maxAbsDiff, given.inputValues]).toEqual([true, 0, ["mode"]]);
    expect(given.verified.refMaxAbs).toBeGreaterThanOrEqual(10);
    // the parts were typed from the then branch: the full model's output is [N, 4]
    expect(given.cut.tensors.map((t: { name: string }) => t.name).sort()).toEqual(["a", "cond"]);
  });

  it.each([
    [["--input-values", "mode=1,2"], /given input values: 2 values for mode, but mode is int64 \[1\] per item \(1 element\): give exactly 1$/],
    [["--input-values", "sr=16000"], /--input-values: .*if\.onnx has no input named "sr"; its inputs are x, mode$/],
    [["--input-values", "mode=abc"], /--input-values mode=abc: expected NAME=V1,V2,\.\.\. with numbers \("abc" is not one\)/],
    [["--input-file", join(dir, "missing.json")], /--input-file: cannot read .*missing\.json \(ENOENT\)/],
  ])("inspect %j: one line, exit 2", (args, re) => {
    userError(["inspect", model, ...args], re);
  });
});

describe("given values on measure and serve (the profiler, accuracy by agreement, the local tail server's probe)", () => {
  const model = file("reshape.onnx", bytesOf(reshapeByInt64()));

  it("a model zeros cannot run: refused in one line without values; measured with --input-values mode=2", () => {
    userError(["inspect", model], /on zeros \(x=1,4 mode=1\) to measure tensor shapes: .*; check the shapes \(--input-shape\) and values \(--input-values\)$/);
    const r = cli(["measure", model, "--cut", "2", "--input-values", "mode=2", "--network", "none", "--store", join(dir, "m.jsonl"), "--json", "--min-runs", "3", "--max-runs", "3", "--max-seconds", "2", "--warm-up", "1", "--idle-ms", "20", "--accuracy-n", "3"]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.accuracy).toMatchObject({ value: 1, n: 3 });
    expect(j.latencyMs.n).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it("serve refuses a value for an input no served model has", () => {
    userError(["serve", "--model", `m=${model}`, "--port", "0", "--input-values", "mode=2", "--input-values", "nope=1"], /--input-values nope: no served model has an input named "nope"; their inputs are x, mode$/);
  });
});
