/**
 * The daemon's pipeline endpoints end to end: the built CLI as a child process, a real
 * `splitwatt serve` child on loopback for the tail, tiny_cnn from the zoo (real onnxruntime):
 * POST /v1/models/<name>/infer-batch and the newline-delimited JSON stream, their order and
 * answers (against the unsplit model), back-pressure to the client, a server that dies mid-stream,
 * SIGTERM mid-stream, and bad input.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { decodeInferResponse, encodeInferRequest } from "../../src/transport/oip/index.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { startChild, type Child } from "../fixtures/daemonProcess.js";

let dir: string;
let tinyPath: string;
let sha: string;
let L: number;
let session: ort.InferenceSession;
/** cut 3: 16 KiB crosses */
const REMOTE = { split: 3, bytes: 16384 };
const SHAPE = [1, 3, 32, 32];
const children: Child[] = [];
const env = (): Record<string, string> => ({ SPLITWATT_STATE_DIR: join(dir, "state") });
const item = (k: number): Float32Array => seededFloats(3072, 1000 + k);

async function daemon(args: string[], stream: Record<string, unknown> = {}): Promise<Child> {
  const cfg = join(dir, `d${children.length}.yaml`);
  writeFileSync(cfg, `stream: ${JSON.stringify(stream)}\n`);
  const c = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", "--config", cfg, ...args], { env: env() });
  children.push(c);
  return c;
}

async function serve(): Promise<Child> {
  const c = await startChild(["serve", "--model", "model=tiny_cnn", "--port", "0"], { env: env() });
  children.push(c);
  return c;
}

const front = (name: string, spec: Partial<Parameters<typeof liveFront>[0]> = {}): string =>
  writeFront(dir, name, liveFront({ sha256: sha, lastCut: L, remote: [REMOTE], throughputPerS: 1000, ...spec }));

async function expected(k: number): Promise<Float32Array> {
  const out = await session.run({ input: new ort.Tensor("float32", item(k), SHAPE) });
  return out.logits?.data as Float32Array;
}

function closeTo(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((got[i] as number) - (want[i] as number)));
  expect(worst, what).toBeLessThan(1e-4);
}

const line = (k: number, extra: Record<string, unknown> = {}): string => JSON.stringify({ id: `i${k}`, inputs: [{ name: "input", datatype: "FP32", shape: SHAPE, data: Array.from(item(k)) }], ...extra });

type Line = Record<string, unknown> & { id?: string; error?: string; parameters?: Record<string, unknown>; outputs?: Array<{ name: string; data: number[] }>; summary?: Record<string, unknown> };

/**
 * A full-duplex NDJSON client (node:http): lines go out as the socket takes them (send waits for
 * 'drain'), answers are collected as they arrive.
 */
function streamClient(url: string, model = "tiny_cnn") {
  const lines: Line[] = [];
  let status = 0;
  let buf = "";
  let notify: (() => void) | null = null;
  const req = request(`${url}/v1/models/${model}/stream`, { method: "POST", headers: { "content-type": "application/x-ndjson" } });
  let ended = false;
  const finished = new Promise<{ status: number; lines: Line[] }>((resolve, reject) => {
    req.on("response", (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        buf += c;
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          lines.push(JSON.parse(buf.slice(0, nl)) as Line);
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
        }
        notify?.();
      });
      res.on("end", () => resolve({ status, lines }));
      // a connection cut mid-answer: what came so far (the test's assertions say what is missing)
      res.on("error", () => resolve({ status, lines }));
    });
    req.on("error", (e) => (status !== 0 ? resolve({ status, lines }) : reject(e)));
  });
  const done = finished.finally(() => {
    ended = true;
    notify?.();
  });
  done.catch(() => undefined);
  let closed = false;
  req.on("close", () => {
    closed = true;
    req.emit("drain");
  });
  return {
    lines,
    done,
    /** resolves once the socket took it (false: it did not within `ms`) */
    send: (text: string, ms = 30_000): Promise<boolean> =>
      new Promise((resolve) => {
        if (closed) return resolve(false);
        if (req.write(`${text}\n`)) return resolve(true);
        const t = setTimeout(() => resolve(false), ms);
        req.once("drain", () => {
          clearTimeout(t);
          resolve(!closed);
        });
      }),
    end: () => req.end(),
    /** resolves once at least n lines came back */
    until: async (n: number): Promise<void> => {
      while (lines.length < n && !ended) await new Promise<void>((r) => (notify = r));
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-dstream-"));
  tinyPath = await zooPath("tiny_cnn");
  const a = await analyzeModel(loadModel(tinyPath));
  sha = a.model.sha256;
  L = a.cuts.length - 1;
  expect(a.cuts[REMOTE.split]?.bytes).toBe(REMOTE.bytes);
  session = await ort.InferenceSession.create(tinyPath);
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  await session?.release();
  rmSync(dir, { recursive: true, force: true });
});

describe("daemon pipeline endpoints", () => {
  let d: Child;
  let s: Child;
  beforeAll(async () => {
    s = await serve();
    d = await daemon(["--front", front("main.pareto.json"), "--server", s.url], { deviceBatch: 2, serverBatch: 3, tailConcurrency: 2 });
  }, 60_000);

  it("infer-batch: N items as N rows (JSON and binary) run through the pipeline; each row equals the unsplit model's answer, in input order", async () => {
    const n = 7;
    const data = new Float32Array(n * 3072);
    for (let k = 0; k < n; k++) data.set(item(k), k * 3072);
    const r = await fetch(`${d.url}/v1/models/tiny_cnn/infer-batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ id: "b1", inputs: [{ name: "input", datatype: "FP32", shape: [n, 3, 32, 32], data: Array.from(data) }] }) });
    const body = (await r.json()) as { id?: string; outputs: Array<{ name: string; shape: number[]; data: number[] }>; parameters: Record<string, unknown> };
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(body.id).toBe("b1");
    expect(body.outputs[0]?.shape).toEqual([n, 10]);
    for (let k = 0; k < n; k++) closeTo(body.outputs[0]?.data.slice(k * 10, k * 10 + 10) ?? [], await expected(k), `item ${k}`);
    // the front's highest throughput (the remote cut), at the stream options' batch sizes
    expect(body.parameters).toMatchObject({ items: n, failed: 0, fell_back: 0, config_split: REMOTE.split, config_codec: "raw", device_batch: 2, server_batch: 3, tail_concurrency: 2, energy_source: "estimate" });
    expect(body.parameters.throughput_per_s as number).toBeGreaterThan(0);
    expect(body.parameters.peak_in_flight as number).toBeLessThanOrEqual(body.parameters.capacity as number);
    // binary tensors in and out
    const req = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: [3, 3, 32, 32], data: data.subarray(0, 3 * 3072) }], parameters: { binary_data_output: true } }, { binary: true });
    const rb = await fetch(`${d.url}/v1/models/tiny_cnn/infer-batch`, {
      method: "POST",
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.toLowerCase() !== "content-length")),
      body: Buffer.concat(Array.isArray(req.body) ? req.body : [req.body]),
    });
    expect(rb.status).toBe(200);
    const dec = decodeInferResponse(new Uint8Array(await rb.arrayBuffer()), Object.fromEntries(rb.headers), { maxTensorBytes: 1 << 20, maxTensors: 4 });
    const logits = dec.outputs[0]?.data as Float32Array;
    for (let k = 0; k < 3; k++) closeTo(logits.subarray(k * 10, k * 10 + 10), await expected(k), `binary item ${k}`);
    // the heads went through the device queue (as stream jobs)
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as { queue: { byKind: Record<string, number> }; stream: Record<string, unknown> };
    expect(st.queue.byKind.stream ?? 0).toBeGreaterThan(0);
    expect(st.stream).toMatchObject({ split: REMOTE.split, deviceBatch: 2, serverBatch: 3, tailConcurrency: 2, maxStreams: 4 });
  }, 60_000);

  it("stream: one answer line per item in input order, equal to the unsplit model, then the summary; a bad line gets its own error line and the stream goes on", async () => {
    const c = streamClient(d.url);
    const n = 12;
    for (let k = 0; k < n; k++) {
      if (k === 5) await c.send(JSON.stringify({ id: "bad", inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, 16, 16], data: new Array(768).fill(0) }] }));
      if (k === 8) await c.send("{not json");
      await c.send(line(k));
    }
    c.end();
    const { status, lines } = await c.done;
    expect(status).toBe(200);
    expect(lines).toHaveLength(n + 2 + 1);
    const answers = lines.slice(0, -1);
    expect(answers.map((l) => l.parameters?.index)).toEqual(Array.from({ length: n + 2 }, (_, i) => i));
    const bad = answers.filter((l) => l.error !== undefined);
    expect(bad.map((l) => l.parameters?.index)).toEqual([5, 9]);
    expect(bad[0]?.error).toMatch(/has shape \[-1,3,32,32\].*got \[1,3,16,16\]/);
    expect(bad[0]?.parameters?.status).toBe(400);
    expect(bad[1]?.error).toMatch(/could not decode request|JSON/i);
    const good = answers.filter((l) => l.error === undefined);
    expect(good.map((l) => l.id)).toEqual(Array.from({ length: n }, (_, k) => `i${k}`));
    for (let k = 0; k < n; k++) {
      closeTo(good[k]?.outputs?.[0]?.data ?? [], await expected(k), `item ${k}`);
      expect(good[k]?.parameters?.fallback).toBe(false);
    }
    const summary = lines.at(-1)?.summary as Record<string, unknown>;
    expect(summary).toMatchObject({ items: n, failed: 0, fell_back: 0, interrupted: false, config_split: REMOTE.split });
  }, 60_000);

  it("back-pressure: with the tail server stopped, a client sending as fast as it can is held back; the daemon holds no more than the pipeline's bound; resumed, every item is answered in order", async () => {
    const c = streamClient(d.url);
    const one = line(0);
    const n = 4000; // ~240 MB of JSON if it were all read
    s.child.kill("SIGSTOP");
    let sent = 0;
    try {
      const t0 = Date.now();
      while (sent < n && Date.now() - t0 < 3000) {
        // a line the socket did not take within 1.5 s is still queued in the client: it counts
        const taken = await c.send(one, 1500);
        sent++;
        if (!taken) break;
      }
      // held back: the socket stopped taking lines long before the body was sent
      expect(sent).toBeLessThan(n / 4);
      const st = (await (await fetch(`${d.url}/v1/status`)).json()) as { stream: { active: number }; queue: { queued: number } };
      expect(st.stream.active).toBe(1);
    } finally {
      s.child.kill("SIGCONT");
    }
    // the rest goes once the server answers again
    const more = 20;
    for (let k = 0; k < more; k++) await c.send(one);
    c.end();
    const { lines } = await c.done;
    const summary = lines.at(-1)?.summary as Record<string, unknown>;
    expect(summary.items).toBe(sent + more);
    expect(summary.peak_in_flight as number).toBeLessThanOrEqual(summary.capacity as number);
    expect(summary.capacity as number).toBeLessThan(64);
    expect(lines.slice(0, -1).map((l) => l.parameters?.index)).toEqual(Array.from({ length: sent + more }, (_, i) => i));
    const want = await expected(0);
    for (const l of lines.slice(0, -1)) closeTo(l.outputs?.[0]?.data ?? [], want, `index ${String(l.parameters?.index)}`);
  }, 90_000);
});

describe("daemon pipeline endpoints: failures and shutdown", () => {
  it("the tail server killed mid-stream: the items in flight and every later one run their tail on the device; every item answered, equal to the unsplit model", async () => {
    const s = await serve();
    const d = await daemon(["--front", front("kill.pareto.json"), "--server", s.url], { deviceBatch: 2, serverBatch: 2, tailConcurrency: 2 });
    const c = streamClient(d.url);
    const n = 40;
    for (let k = 0; k < 10; k++) await c.send(line(k));
    await c.until(4);
    await s.stop("SIGKILL");
    for (let k = 10; k < n; k++) await c.send(line(k));
    c.end();
    const { lines } = await c.done;
    const answers = lines.slice(0, -1);
    expect(answers.map((l) => l.id)).toEqual(Array.from({ length: n }, (_, k) => `i${k}`));
    for (let k = 0; k < n; k++) closeTo(answers[k]?.outputs?.[0]?.data ?? [], await expected(k), `item ${k}`);
    const fellBack = answers.filter((l) => l.parameters?.fallback === true).length;
    expect(fellBack).toBeGreaterThan(0);
    // once fallen back, the rest stays local: the last items all ran here
    expect(answers.slice(-5).every((l) => l.parameters?.fallback === true)).toBe(true);
    expect(lines.at(-1)?.summary).toMatchObject({ items: n, failed: 0, fell_back: fellBack });
    expect(String(lines.at(-1)?.summary?.notes)).toMatch(/tail server failed/);
    expect(d.records().some((r) => r.msg === "tail server failed mid-stream: the items in flight and every later one run their tail on the device")).toBe(true);
    expect((await d.stop()).code).toBe(0);
  }, 90_000);

  it("a pipeline request while the tail server is out (down at start, breaker open) runs the whole model on the device and says so", async () => {
    const dead = "http://127.0.0.1:9"; // the discard port: nothing listens there
    const d = await daemon(["--front", front("down.pareto.json"), "--server", dead], { deviceBatch: 2, serverBatch: 2 });
    const r = await fetch(`${d.url}/v1/models/tiny_cnn/infer-batch`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: SHAPE, data: Array.from(item(4)) }] }) });
    const body = (await r.json()) as { outputs: Array<{ data: number[] }>; parameters: Record<string, unknown> };
    expect(r.status, JSON.stringify(body)).toBe(200);
    expect(body.parameters).toMatchObject({ items: 1, config_split: L, config_key: "whole model on the device" });
    expect(String(body.parameters.notes)).toMatch(/the tail server is out .*: this request runs the whole model on the device/);
    closeTo(body.outputs[0]?.data ?? [], await expected(4), "whole model");
    expect((await d.stop()).code).toBe(0);
  }, 60_000);

  it("SIGTERM mid-stream: the daemon stops reading, answers every item it accepted, ends with the summary (interrupted) and exits 0", async () => {
    const s = await serve();
    const d = await daemon(["--front", front("term.pareto.json"), "--server", s.url], { deviceBatch: 2, serverBatch: 2 });
    const c = streamClient(d.url);
    let k = 0;
    let sending = true;
    const feeder = (async () => {
      while (sending) {
        if (!(await c.send(line(k % 8), 500))) continue;
        k++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await c.until(10);
    const exited = d.stop("SIGTERM");
    const { lines } = await c.done;
    sending = false;
    await feeder;
    const ex = await exited;
    expect(ex.code).toBe(0);
    const summary = lines.at(-1)?.summary as Record<string, unknown>;
    expect(summary).toMatchObject({ interrupted: true, failed: 0 });
    expect(String(summary.notes)).toMatch(/interrupted: the daemon is shutting down; every item it accepted was answered/);
    const answers = lines.slice(0, -1);
    // every accepted item answered: as many answers as the summary's items, contiguous from 0, in order
    expect(answers).toHaveLength(summary.items as number);
    expect(answers.map((l) => l.parameters?.index)).toEqual(Array.from({ length: answers.length }, (_, i) => i));
    expect(answers.length).toBeGreaterThanOrEqual(10);
    expect(answers.length).toBeLessThanOrEqual(k);
    for (const a of answers) closeTo(a.outputs?.[0]?.data ?? [], await expected(Number(String(a.id).slice(1))), String(a.id));
    await s.stop();
  }, 90_000);

  it("bad input is a 4xx with {error} saying what to send, and the daemon keeps serving", async () => {
    const d = await daemon(["--front", front("bad.pareto.json"), "--max-body-mb", "1"], { maxStreams: 1 });
    const post = (path: string, body: string, headers: Record<string, string> = { "content-type": "application/json" }) => fetch(`${d.url}${path}`, { method: "POST", headers, body });
    const batch = (shape: number[], n: number, extra: Record<string, unknown> = {}) => JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape, data: new Array(n).fill(0) }], ...extra });
    const cases: Array<[() => Promise<Response>, number, RegExp]> = [
      [() => post("/v1/models/tiny_cnn/infer-batch", "{not json"), 400, /could not decode request|JSON/i],
      [() => post("/v1/models/tiny_cnn/infer-batch", batch([2, 3, 16, 16], 1536)), 400, /has shape \[-1,3,32,32\] \(-1 = any\), got \[2,3,16,16\]/],
      [() => post("/v1/models/tiny_cnn/infer-batch", batch([0, 3, 32, 32], 0)), 400, /no items/],
      [() => post("/v1/models/tiny_cnn/infer-batch", batch([1, 3, 32, 32], 3072, { parameters: { deadline_ms: 100 } })), 400, /unknown parameter "deadline_ms"; pipeline requests take none/],
      [() => post("/v1/models/tiny_cnn/infer-batch?bd=4", batch([1, 3, 32, 32], 3072)), 400, /unknown query parameter "bd"/],
      [() => post("/v1/models/resnet/infer-batch", batch([1, 3, 32, 32], 3072)), 404, /unknown model "resnet": this daemon serves "tiny_cnn" \(\/v1\/models\/tiny_cnn\/infer-batch\)/],
      [() => post("/v1/models/resnet/stream", line(0), { "content-type": "application/x-ndjson" }), 404, /unknown model "resnet"/],
      [() => fetch(`${d.url}/v1/models/tiny_cnn/stream`), 405, /takes POST/],
    ];
    for (const [call, status, re] of cases) {
      const r = await call();
      const body = (await r.json()) as { error?: string };
      expect(r.status, `${re}: ${body.error}`).toBe(status);
      expect(body.error).toMatch(re);
      expect(body.error).not.toContain("\n");
    }
    // a second stream while one runs (maxStreams 1): 429 with Retry-After
    const c = streamClient(d.url);
    await c.send(line(0));
    await c.until(1);
    const busy = await post("/v1/models/tiny_cnn/stream", line(1), { "content-type": "application/x-ndjson" });
    expect(busy.status).toBe(429);
    expect(busy.headers.get("retry-after")).toBe("1");
    expect(((await busy.json()) as { error: string }).error).toMatch(/stream\.maxStreams/);
    // a line over maxBodyMb (1 MiB here) ends the stream; the items before it are answered
    await c.send(`{"inputs": []${" ".repeat(1.5 * 2 ** 20)}}`);
    await c.send(line(2));
    c.end();
    const ended = await c.done;
    expect(ended.lines.map((l) => l.parameters?.index ?? "summary")).toEqual([0, "summary"]);
    expect(ended.lines.at(-1)?.summary).toMatchObject({ items: 1, config_split: L });
    expect(String(ended.lines.at(-1)?.summary?.notes)).toMatch(/the stream ended early: a line of more than 1048576 bytes/);
    // it serves on
    const ok = await post("/v1/models/tiny_cnn/infer-batch", JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: SHAPE, data: Array.from(item(3)) }] }));
    expect(ok.status).toBe(200);
    closeTo(((await ok.json()) as { outputs: Array<{ data: number[] }> }).outputs[0]?.data ?? [], await expected(3), "after the bad ones");
    expect((await d.stop()).code).toBe(0);
  }, 90_000);

  it("a stream outlives the request timeout (a camera sends for as long as it runs); a slow plain request still gets 408", async () => {
    const d = await daemon(["--front", front("long.pareto.json"), "--request-timeout-ms", "600"]);
    const c = streamClient(d.url);
    for (let k = 0; k < 15; k++) {
      await c.send(line(k));
      await new Promise((r) => setTimeout(r, 100));
    }
    c.end();
    const { status, lines } = await c.done;
    expect(status).toBe(200);
    expect(lines.at(-1)?.summary).toMatchObject({ items: 15, failed: 0 });
    // Node's own answer to a body that does not arrive in time is kept for every other request
    const slow = await new Promise<number>((resolve, reject) => {
      const r = request(`${d.url}/v2/models/tiny_cnn/infer`, { method: "POST", headers: { "content-type": "application/json", "content-length": "100" } }, (res) => resolve(res.statusCode ?? 0));
      r.on("error", reject);
      r.write("{");
    });
    expect(slow).toBe(408);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);
});
