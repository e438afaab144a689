/**
 * `--server-kind triton` end to end: `splitwatt export-triton --codec int8` writes the tails, a
 * stock Open Inference Protocol server serves them (test/fixtures/stockOipServer.ts: a stand-in
 * for Triton / KServe, which this machine cannot install, that knows no splitwatt parameter), and
 * the daemon and `splitwatt run` send it plain tensors (INT8 with each row's scale and zero
 * point). Their answers equal the splitwatt path (the same head, codec and tail in one process).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { writeNpy } from "../../src/runtime/npy.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { bin, inferJson, startChild, type Child } from "../fixtures/daemonProcess.js";
import { startStockServer, type StockServer } from "../fixtures/stockOipServer.js";

let dir: string;
let a: ModelAnalysis;
let L: number;
let stock: StockServer;
let local: SplitExecutor;
const CUT = 3;
const SHAPE = [1, 3, 32, 32];
const children: Child[] = [];
const env = (): Record<string, string> => ({ SPLITWATT_STATE_DIR: join(dir, "state") });
const item = (k: number): Float32Array => seededFloats(3072, 500 + k);

/** The splitwatt path: head, int8 round trip and tail in this process. */
async function expected(k: number): Promise<Float32Array> {
  return (await local.run({ input: new ort.Tensor("float32", item(k), SHAPE) })).outputs.logits?.data as Float32Array;
}

function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
  // the scale travels as FP32 here and as a JSON double on the splitwatt path: ~1e-7 relative
  expect(worst, what).toBeLessThan(1e-4);
}

/** The CLI to its end without blocking this process (the stand-in server lives in it). */
function runAsync(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, CI: "true", ...env() } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += String(b)));
    child.stderr.on("data", (b) => (stderr += String(b)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-triton-e2e-"));
  a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  L = a.cuts.length - 1;
  const r = spawnSync(process.execPath, [bin, "export-triton", "tiny_cnn", "--out", join(dir, "repo"), "--name", "model", "--cuts", String(CUT), "--codec", "int8"], { encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  stock = await startStockServer(join(dir, "repo"));
  local = await SplitExecutor.open(a, { cut: CUT, codec: parseCodec("int8"), tail: { kind: "local" } });
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  await stock?.close();
  await local?.release();
  rmSync(dir, { recursive: true, force: true });
});

describe("a stock OIP server (Triton / KServe) serving export-triton --codec int8 tails", () => {
  it("the daemon with --server-kind triton: infer, infer-batch and stream answers equal the splitwatt path; the server got INT8 tensors with their scale and zero point, no splitwatt parameter", async () => {
    const front = writeFront(dir, "int8.pareto.json", liveFront({ sha256: a.model.sha256, lastCut: L, remote: [{ split: CUT, bytes: 16384 }], codec: "int8", throughputPerS: 1000 }));
    const d = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", front, "--server", stock.url, "--server-kind", "triton"], { env: env() });
    children.push(d);
    const r = await inferJson(d.url, "tiny_cnn", { name: "input", shape: SHAPE, data: item(0) }, { deadline_ms: 5000 });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(JSON.parse(String(r.body.parameters?.config))).toMatchObject({ split: CUT, codec: "int8" });
    expect(r.body.parameters?.fallback).toBe(false);
    closeTo(r.body.outputs?.[0]?.data ?? [], await expected(0), "infer");
    const n = 5;
    const data = new Float32Array(n * 3072);
    for (let k = 0; k < n; k++) data.set(item(k), k * 3072);
    const b = await fetch(`${d.url}/v1/models/tiny_cnn/infer-batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [n, 3, 32, 32], data: Array.from(data) }] }) });
    const body = (await b.json()) as { outputs: Array<{ data: number[] }>; parameters: Record<string, unknown> };
    expect(b.status, JSON.stringify(body)).toBe(200);
    expect(body.parameters).toMatchObject({ items: n, fell_back: 0, config_split: CUT, config_codec: "int8" });
    for (let k = 0; k < n; k++) closeTo(body.outputs[0]?.data.slice(k * 10, k * 10 + 10) ?? [], await expected(k), `batch item ${k}`);
    const lines = Array.from({ length: 4 }, (_, k) => JSON.stringify({ id: `s${k}`, inputs: [{ name: "input", datatype: "FP32", shape: SHAPE, data: Array.from(item(k)) }] })).join("\n");
    const s = await fetch(`${d.url}/v1/models/tiny_cnn/stream`, { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: lines });
    const out = (await s.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { id?: string; outputs?: Array<{ data: number[] }>; summary?: Record<string, unknown> });
    expect(out.at(-1)?.summary).toMatchObject({ items: 4, fell_back: 0 });
    for (let k = 0; k < 4; k++) closeTo(out[k]?.outputs?.[0]?.data ?? [], await expected(k), `stream item ${k}`);
    const tensor = a.cuts[CUT]?.tensors[0]?.name as string;
    expect(stock.datatypes.get(`model.tail.${CUT}/${tensor}`)).toEqual(new Set(["INT8"]));
    expect(stock.datatypes.get(`model.tail.${CUT}/${tensor}_scale`)).toEqual(new Set(["FP32"]));
    expect(stock.datatypes.get(`model.tail.${CUT}/${tensor}_zero_point`)).toEqual(new Set(["INT8"]));
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as { server: { kind: string; up: boolean } };
    expect(st.server).toMatchObject({ kind: "triton", up: true });
    expect((await d.stop()).code).toBe(0);
  }, 90_000);

  it("splitwatt run --server URL --server-kind triton: the stream's answers equal the splitwatt path, in input order", async () => {
    const inputs = join(dir, "inputs");
    mkdirSync(inputs, { recursive: true });
    for (let k = 0; k < 4; k++) writeFileSync(join(inputs, `x${k}.npy`), writeNpy({ dtype: "float32", shape: SHAPE, data: item(k) }));
    const before = stock.requests.get(`model.tail.${CUT}`) ?? 0;
    const r = await runAsync(["run", "tiny_cnn", "--stream", inputs, "--split", String(CUT), "--codec", "int8", "--bd", "2", "--bs", "2", "--server", stock.url, "--server-kind", "triton", "--warm-up", "1", "--calibration", "4", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    const results = lines.slice(0, -1);
    expect(results.map((l) => l.input)).toEqual(["x0.npy", "x1.npy", "x2.npy", "x3.npy"]);
    for (let k = 0; k < 4; k++) {
      const want = await expected(k);
      let argmax = 0;
      for (let i = 1; i < want.length; i++) if ((want[i] as number) > (want[argmax] as number)) argmax = i;
      expect(results[k]?.outputs.logits.argmax).toBe(argmax);
      expect(results[k]?.outputs.logits.max).toBeCloseTo(want[argmax] as number, 4);
    }
    expect(lines.at(-1)).toMatchObject({ items: 4, fellBack: 0, split: CUT, codec: "int8" });
    expect((stock.requests.get(`model.tail.${CUT}`) ?? 0) - before).toBeGreaterThan(0);
  }, 180_000);

  it("a front the exported tails cannot serve: the daemon refuses to start, in one line (another codec at a cut, two codecs at one cut, a compressed codec)", async () => {
    const spec = { sha256: a.model.sha256, lastCut: L, remote: [{ split: CUT, bytes: 16384 }] };
    const raw = writeFront(dir, "raw.pareto.json", liveFront(spec));
    const two = liveFront({ ...spec, codec: "int8" });
    const remote = two.archive.find((e) => e.config.split === CUT);
    if (remote === undefined) throw new Error("no remote entry");
    two.archive.push({ ...remote, config: { ...remote.config, codec: "raw" } });
    two.evaluations = two.archive.length;
    two.budget = Math.max(two.budget, two.archive.length);
    const zstd = liveFront({ ...spec, codec: "int8+zstd" });
    const cases: Array<[string, RegExp]> = [
      [raw, /serves model\.tail\.3 with inputs .*_scale.*but cut 3 of this model sends/],
      [writeFront(dir, "two.pareto.json", two), /sends cut 3 both as int8 and as raw, but a Triton\/KServe tail takes the one codec it was exported with/],
      [writeFront(dir, "zstd.pareto.json", zstd), /codec int8\+zstd: a stock server \(Triton, KServe\) cannot decompress/],
    ];
    for (const [front, re] of cases) {
      const r = await runAsync(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", front, "--server", stock.url, "--server-kind", "triton"], 60_000);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  }, 120_000);
});
