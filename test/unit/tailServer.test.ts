import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { constants as zlibConstants, deflateRawSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TensorProto_DataType } from "onnx-buf";
import { bytesOf, model, node } from "../fixtures/onnxGraphs.js";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { encodeInferRequest, type OipTensor } from "../../src/transport/oip/index.js";
import { TailClient, TailServerError } from "../../src/transport/tailClient.js";
import { TailServer } from "../../src/transport/tailServer.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { splitModel } from "../../src/model/splitModel.js";
import { serializeModel } from "../../src/model/onnxModel.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";

let CUT = 0;
let server: TailServer;
let url: string;
let client: TailClient;
let x: Float32Array;
let want: Float32Array;
let cut: { name: string; data: Float32Array; shape: number[] };

/** Raw HTTP for the cases a well-behaved client never produces. */
function raw(method: string, path: string, body: Uint8Array | string = "", headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = request({ method, hostname: u.hostname, port: u.port, path: u.pathname, timeout: 10_000, headers: { "content-length": String(Buffer.byteLength(body)), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`no answer to ${method} ${path} within 10 s`)));
    req.end(body);
  });
}

beforeAll(async () => {
  server = new TailServer({ models: { cls: "paddle:cls" }, port: 0, maxConcurrent: 2, maxQueue: 8 });
  url = await server.listen();
  client = new TailClient({ url });
  const { path, inputShapes } = await resolveModel("paddle:cls");
  const a = await analyzeModel(loadModel(path), { inputShapes });
  CUT = (a.cuts.find((c) => c.naturalBottleneck && c.index > 20 && c.tensors.length === 1) as { index: number }).index;
  x = seededFloats(2 * 3 * 48 * 192, 11);
  const full = await ort.InferenceSession.create(path);
  want = (await full.run({ x: new ort.Tensor("float32", x, [2, 3, 48, 192]) }))["softmax_0.tmp_0"]?.data as Float32Array;
  const head = await ort.InferenceSession.create(serializeModel(splitModel(a, CUT).head as NonNullable<ReturnType<typeof splitModel>["head"]>));
  const mid = await head.run({ x: new ort.Tensor("float32", x, [2, 3, 48, 192]) });
  const [name, t] = Object.entries(mid)[0] as [string, ort.Tensor];
  expect(Object.keys(mid)).toHaveLength(1);
  cut = { name, data: t.data as Float32Array, shape: [...t.dims] };
});
afterAll(async () => {
  await client.close();
  await server.close();
});

const fp32 = (name: string, data: Float32Array, shape: number[]): OipTensor => ({ name, datatype: "FP32", shape, data });
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - (b[i] as number))));

describe("Open Inference Protocol endpoints", () => {
  it("health, server metadata, model metadata and readiness", async () => {
    expect((await raw("GET", "/v2/health/live")).status).toBe(200);
    expect((await raw("GET", "/v2/health/ready")).status).toBe(200);
    expect(JSON.parse((await raw("GET", "/v2")).text)).toMatchObject({ name: "splitwatt", extensions: expect.arrayContaining(["binary_tensor_data", "splitwatt_target"]) });
    // where it runs tails, and on which GPU adapter (none: a CPU target)
    expect(await client.serverInfo()).toEqual({ name: "splitwatt", target: "cpu", adapter: null });
    const meta = JSON.parse((await raw("GET", "/v2/models/cls")).text);
    expect(meta).toMatchObject({ name: "cls", versions: ["1"], inputs: [{ name: "x", datatype: "FP32", shape: [-1, 3, 48, 192] }] });
    const tail = JSON.parse((await raw("GET", `/v2/models/cls.tail.${CUT}/versions/1`)).text);
    expect(tail.inputs).toEqual([{ name: cut.name, datatype: "FP32", shape: [-1, ...cut.shape.slice(1)] }]);
    expect((await raw("GET", `/v2/models/cls.tail.${CUT}/ready`)).status).toBe(200);
  });

  it("infer on the whole model, JSON and binary, equals onnxruntime", async () => {
    for (const binary of [false, true]) {
      const r = await client.infer("cls", [fp32("x", x, [2, 3, 48, 192])], { binary });
      expect([...(r.outputs["softmax_0.tmp_0"]?.data as Float32Array)]).toEqual([...want]);
      expect(r.load).toMatchObject({ queueDepth: 0 });
      expect(r.serverMs).toBeGreaterThan(0);
      expect(r.bytesSent).toBeGreaterThan(binary ? 110592 * 2 : 0);
    }
  });

  it("a tail fed the head's output computes what the whole model computes", async () => {
    const r = await client.infer(`cls.tail.${CUT}`, [fp32(cut.name, cut.data, cut.shape)]);
    expect(maxDiff(r.outputs["softmax_0.tmp_0"]?.data as Float32Array, want)).toBeLessThanOrEqual(1e-5);
  });

  it.each(["raw", "fp16", "int8", "int8-channel", "raw+deflate", "fp16+zstd", "int8+zstd", "int8-channel+deflate"])("the cut tensor with codec %s decodes on the server", async (codec) => {
    const r = await client.infer(`cls.tail.${CUT}`, [fp32(cut.name, cut.data, cut.shape)], { codec: parseCodec(codec) });
    const got = r.outputs["softmax_0.tmp_0"]?.data as Float32Array;
    // class probabilities: lossless codecs match, lossy ones stay close
    expect(maxDiff(got, want)).toBeLessThanOrEqual(codec.startsWith("raw") ? 1e-5 : 0.05);
    if (codec.includes("+")) expect(r.bytesSent).toBeLessThan(cut.data.byteLength);
  });
});

describe("server time", () => {
  it("server_time_ms starts when the whole body has arrived: a body that takes 300 ms to upload is the link's time, not the server's", async () => {
    const req = encodeInferRequest({ inputs: [fp32("x", x.subarray(0, 3 * 48 * 192), [1, 3, 48, 192])] }, { binary: false });
    const body = Buffer.concat(Array.isArray(req.body) ? req.body : [req.body]);
    const u = new URL("/v2/models/cls/infer", url);
    const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const q = request({ method: "POST", hostname: u.hostname, port: u.port, path: u.pathname, headers: { "content-type": "application/json", "content-length": String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      });
      q.on("error", reject);
      q.flushHeaders();
      q.write(body.subarray(0, 100));
      setTimeout(() => q.end(body.subarray(100)), 300);
    });
    expect(r.status).toBe(200);
    const p = (JSON.parse(r.text) as { parameters: Record<string, number> }).parameters;
    expect(p.server_time_ms).toBeLessThan(250);
    expect(p.compute_time_ms).toBeLessThanOrEqual(p.server_time_ms as number);
  });
});

describe("app-level link shaping in the client", () => {
  it("a shaped upload takes bytes / uplink rate + RTT longer, reported as shapedMs; results unchanged", async () => {
    const one = fp32("x", x.subarray(0, 3 * 48 * 192), [1, 3, 48, 192]); // 110.6 kB of FP32
    const shape = { uplinkMbps: 4, downlinkMbps: 4, rttMs: 20 };
    const shaped = new TailClient({ url, shape });
    try {
      // warm both paths (session load, keep-alive connection), then compare
      await client.infer("cls", [one]);
      await shaped.infer("cls", [one]);
      const plain = await client.infer("cls", [one]);
      const r = await shaped.infer("cls", [one]);
      expect(plain.shapedMs).toBe(0);
      expect([...(r.outputs["softmax_0.tmp_0"]?.data as Float32Array)]).toEqual([...(plain.outputs["softmax_0.tmp_0"]?.data as Float32Array)]);
      const upMs = (r.bytesSent * 8) / (shape.uplinkMbps * 1e3);
      const downMs = (r.bytesReceived * 8) / (shape.downlinkMbps * 1e3);
      const expected = upMs + shape.rttMs + downMs; // about 245 ms
      expect(upMs).toBeGreaterThan(200);
      // the bucket's burst (1500 bytes) may save a few ms
      expect(r.shapedMs).toBeGreaterThan(expected - 10);
      expect(r.shapedMs).toBeLessThanOrEqual(expected + 1e-6);
      const added = r.totalMs - plain.totalMs;
      expect(added, `shaped ${r.totalMs.toFixed(1)} ms vs plain ${plain.totalMs.toFixed(1)} ms, expected +${expected.toFixed(1)} ms`).toBeGreaterThan(expected * 0.8);
      expect(added).toBeLessThan(expected + 250);
      // the shaped delay counts as transfer time, which feeds the bandwidth estimator and radio energy
      expect(r.transferMs ?? 0).toBeGreaterThan(expected * 0.8);
    } finally {
      await shaped.close();
    }
  });

  it("cancellation reaches a request waiting in the shaper; a nonsense shape is a usage error", async () => {
    const slow = new TailClient({ url, shape: { uplinkMbps: 0.1, downlinkMbps: 10 } });
    try {
      const t0 = performance.now();
      // 110.6 kB at 0.1 Mbit/s would take 9 s; the caller gives up after 100 ms
      await expect(slow.infer("cls", [fp32("x", x.subarray(0, 3 * 48 * 192), [1, 3, 48, 192])], { signal: AbortSignal.timeout(100) })).rejects.toThrow();
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      await slow.close();
    }
    expect(() => new TailClient({ url, shape: { uplinkMbps: 0, downlinkMbps: 1 } })).toThrow(/uplinkMbps must be a positive number/);
    expect(() => new TailClient({ url, shape: { uplinkMbps: 1, downlinkMbps: 1, rttMs: -5 } })).toThrow(/rttMs must be a non-negative/);
  });
});

describe("errors, limits and security", () => {
  it("unknown model 404, cut out of range 404, wrong shape and missing input 400, all as {error}", async () => {
    const nope = await raw("POST", "/v2/models/nope/infer", "{}", { "content-type": "application/json" });
    expect(nope.status).toBe(404);
    expect(JSON.parse(nope.text).error).toMatch(/unknown model "nope"/);
    expect((await raw("GET", "/v2/models/cls.tail.9999")).status).toBe(404);
    await expect(client.infer("cls", [fp32("x", new Float32Array(6), [1, 3, 2, 1])])).rejects.toMatchObject({ status: 400 });
    await expect(client.infer(`cls.tail.${CUT}`, [fp32("other", cut.data, cut.shape)])).rejects.toThrow(/has no input "other"/);
    const bad = await raw("POST", "/v2/models/cls/infer", "{not json", { "content-type": "application/json" });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toHaveProperty("error");
  });

  it("413 over the body limit, 401 without the token, 503 with Retry-After over the queue bound", async () => {
    const small = new TailServer({ models: { cls: "paddle:cls" }, port: 0, maxBodyBytes: 1000, token: "s3cret", maxConcurrent: 1, maxQueue: 0 });
    const u = await small.listen();
    try {
      const anon = new TailClient({ url: u });
      await expect(anon.infer("cls", [fp32("x", x.subarray(0, 3 * 48 * 192), [1, 3, 48, 192])])).rejects.toMatchObject({ status: 401 });
      await anon.close();
      const authed = new TailClient({ url: u, token: "s3cret" });
      await expect(authed.infer("cls", [fp32("x", x.subarray(0, 3 * 48 * 192), [1, 3, 48, 192])])).rejects.toMatchObject({ status: 413 });
      await authed.close();
      const roomy = new TailServer({ models: { cls: "paddle:cls" }, port: 0, maxConcurrent: 1, maxQueue: 0 });
      const ru = await roomy.listen();
      const c = new TailClient({ url: ru, connections: 8 });
      const calls = Array.from({ length: 8 }, () => c.infer("cls", [fp32("x", x, [2, 3, 48, 192])]).then(() => 200, (e: TailServerError) => e));
      const results = await Promise.all(calls);
      const rejected = results.filter((r): r is TailServerError => r instanceof TailServerError);
      expect(rejected.length).toBeGreaterThan(0);
      for (const r of rejected) {
        expect(r.status).toBe(503);
        expect(r.retryAfterS).toBeGreaterThanOrEqual(1);
      }
      expect(results.filter((r) => r === 200).length).toBeGreaterThan(0);
      await c.close();
      await roomy.close();
    } finally {
      await small.close();
    }
  });

  it("a request over the server's timeout gets 504; a client's own timeout and AbortSignal cancel the call", async () => {
    const slow = new TailServer({ models: { cls: "paddle:cls" }, port: 0, timeoutMs: 1 });
    const su = await slow.listen();
    const c = new TailClient({ url: su });
    try {
      // the first call also loads the session: far more than 1 ms
      await expect(c.infer("cls", [fp32("x", x, [2, 3, 48, 192])])).rejects.toMatchObject({ status: 504 });
    } finally {
      await c.close();
      await slow.close();
    }
    const ctl = new AbortController();
    ctl.abort();
    await expect(client.infer("cls", [fp32("x", x, [2, 3, 48, 192])], { signal: ctl.signal })).rejects.toThrow(/abort/i);
    // a fresh server loads the session on the first call: always longer than the client's 1 ms
    const fresh = new TailServer({ models: { cls: "paddle:cls" }, port: 0 });
    const impatient = new TailClient({ url: await fresh.listen(), timeoutMs: 1 });
    try {
      await expect(impatient.infer("cls", [fp32("x", x, [2, 3, 48, 192])])).rejects.toThrow(/no answer within 1 ms/);
    } finally {
      await impatient.close();
      await fresh.close();
    }
  });

  it("a server that is not there: E_UNREACHABLE (exit 2) naming its URL and what to check", async () => {
    const gone = new TailServer({ models: { cls: "paddle:cls" }, port: 0 });
    const u = await gone.listen();
    await gone.close();
    const c = new TailClient({ url: u });
    try {
      const err = await c.infer("cls", [fp32("x", x, [2, 3, 48, 192])]).then(() => null, (e: unknown) => e);
      expect(err).toMatchObject({ code: "E_UNREACHABLE", exitCode: 2 });
      expect((err as Error).message).toMatch(new RegExp(`^cannot reach the tail server at ${u} \\(connection refused, ECONNREFUSED, also on a retry\\): check that`));
      await expect(c.metadata("cls")).rejects.toMatchObject({ code: "E_UNREACHABLE" });
    } finally {
      await c.close();
    }
  });

  it("the client survives a server restart on the same port", async () => {
    const s1 = new TailServer({ models: { cls: "paddle:cls" }, port: 0 });
    const u = await s1.listen();
    const port = Number(new URL(u).port);
    const c = new TailClient({ url: u });
    await c.infer("cls", [fp32("x", x, [2, 3, 48, 192])]);
    await s1.close();
    const s2 = new TailServer({ models: { cls: "paddle:cls" }, port });
    await s2.listen();
    const r = await c.infer("cls", [fp32("x", x, [2, 3, 48, 192])]);
    expect([...(r.outputs["softmax_0.tmp_0"]?.data as Float32Array)]).toEqual([...want]);
    await c.close();
    await s2.close();
  });

  it("serves Prometheus metrics", async () => {
    const m = await raw("GET", "/metrics");
    expect(m.status).toBe(200);
    expect(m.text).toMatch(/splitwatt_requests_total\{route="infer",status="200"\} \d+/);
    expect(m.text).toMatch(/splitwatt_infer_duration_seconds_bucket/);
    expect(m.text).toMatch(/splitwatt_queue_depth 0/);
  });

  it("fuzz: random and mutated bodies all get a 4xx, and the server keeps serving", async () => {
    const valid = encodeInferRequest({ inputs: [fp32(cut.name, cut.data, cut.shape)] }, { binary: true });
    const base = Buffer.concat((Array.isArray(valid.body) ? valid.body : [valid.body]).map((b) => Buffer.from(b)));
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const statuses = new Map<number, number>();
    for (let i = 0; i < 120; i++) {
      let body: Buffer;
      const { "Content-Length": _ignored, ...validHeaders } = valid.headers;
      const headers: Record<string, string> = { ...validHeaders };
      switch (i % 6) {
        case 0:
          body = Buffer.from(Array.from({ length: 1 + rnd(300) }, () => rnd(256)));
          break;
        case 1:
          body = Buffer.from(base.subarray(0, rnd(base.length)));
          break;
        case 2:
          body = Buffer.from(base);
          for (let k = 0; k < 8; k++) body[rnd(Math.min(body.length, 400))] = rnd(256);
          break;
        case 3:
          body = Buffer.from(base);
          headers["Inference-Header-Content-Length"] = String(rnd(base.length * 2));
          break;
        case 4:
          body = Buffer.from(JSON.stringify({ inputs: [{ name: cut.name, datatype: ["FP32", "FP99", "BYTES", "INT8"][rnd(4)], shape: [rnd(3) === 0 ? -1 : 1e9, 1e9], data: [1, 2, 3] }] }));
          delete headers["Inference-Header-Content-Length"];
          headers["content-type"] = "application/json";
          break;
        default:
          body = Buffer.concat([base, Buffer.from(Array.from({ length: 1 + rnd(64) }, () => rnd(256)))]);
      }
      const r = await raw("POST", `/v2/models/cls.tail.${CUT}/infer`, body, headers);
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      // a mutation may leave the body valid (a flipped byte in tensor data): 200 is fine then;
      // anything else must be a 4xx with an {error}, never a 5xx or a hang
      if (r.status === 200) continue;
      expect(r.status, `case ${i}: ${r.text}`).toBeGreaterThanOrEqual(400);
      expect(r.status, `case ${i}: ${r.text}`).toBeLessThan(500);
      expect(JSON.parse(r.text)).toHaveProperty("error");
    }
    expect([...statuses.keys()].filter((st) => st >= 400).length).toBeGreaterThan(0);
    expect((statuses.get(400) ?? 0) + (statuses.get(413) ?? 0)).toBeGreaterThan(60);
    const ok = await client.infer(`cls.tail.${CUT}`, [fp32(cut.name, cut.data, cut.shape)]);
    expect(maxDiff(ok.outputs["softmax_0.tmp_0"]?.data as Float32Array, want)).toBeLessThanOrEqual(1e-5);
  });
});

describe("datatypes, session cache and targets", () => {
  it.each([
    ["INT64", TensorProto_DataType.INT64, () => BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
    ["INT32", TensorProto_DataType.INT32, () => Int32Array.from([-2147483648, -1, 0, 2147483647])],
    ["UINT8", TensorProto_DataType.UINT8, () => Uint8Array.from([0, 1, 128, 255])],
    ["INT8", TensorProto_DataType.INT8, () => Int8Array.from([-128, -1, 0, 127])],
    ["BOOL", TensorProto_DataType.BOOL, () => Uint8Array.from([1, 0, 0, 1])],
    ["FP16", TensorProto_DataType.FLOAT16, () => Uint16Array.from([0x3c00, 0x8000, 0x7bff, 0x0001])],
    ["FP64", TensorProto_DataType.DOUBLE, () => Float64Array.from([Math.PI, -0, 1e300, -1e-300])],
  ] as const)("%s tensors go through the server unchanged (binary and, where JSON can carry them, JSON)", async (datatype, elemType, values) => {
    const dir = mkdtempSync(join(tmpdir(), "sw-dt-"));
    const m = model({ nodes: [node("Identity", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], dims: ["N", 4], elemType });
    writeFileSync(join(dir, "id.onnx"), bytesOf(m));
    const s = new TailServer({ models: { id: join(dir, "id.onnx") }, port: 0 });
    const c = new TailClient({ url: await s.listen() });
    try {
      for (const binary of datatype === "FP16" ? [true] : [false, true]) {
        const data = values();
        const r = await c.infer("id", [{ name: "x", datatype, shape: [1, 4], data }], { binary });
        expect(r.outputs.y?.datatype).toBe(datatype);
        expect(Array.from(r.outputs.y?.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
      }
    } finally {
      await c.close();
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sessions load lazily and the least recently used is released past the cache bound", async () => {
    const s = new TailServer({ models: { cls: "paddle:cls" }, port: 0, cacheBytes: 1 });
    const c = new TailClient({ url: await s.listen() });
    try {
      expect(s.models.loadedNames()).toEqual([]);
      await c.infer(`cls.tail.${CUT}`, [fp32(cut.name, cut.data, cut.shape)]);
      expect(s.models.loadedNames()).toEqual([`cls.tail.${CUT}`]);
      await c.infer("cls", [fp32("x", x, [2, 3, 48, 192])]);
      // a 1-byte bound keeps only the session in use
      expect(s.models.loadedNames()).toEqual(["cls"]);
    } finally {
      await c.close();
      await s.close();
    }
  });

  it("a GPU target that is not installed is refused at start, not assumed", () => {
    const cuda = ort.listSupportedBackends().find((b) => b.name === "cuda");
    const start = () => new TailServer({ models: { cls: "paddle:cls" }, target: { kind: "cuda" } });
    // with the CUDA build of onnxruntime-node the server starts; without it, it refuses
    if (cuda?.bundled === true) expect(start).not.toThrow();
    else expect(start).toThrow(/cuda execution provider is not installed/);
  });
});

describe("hostile input and unservable models (issue 11, items 1-4)", () => {
  /** A deflate stream (zlib format) of `mib` MiB of zeros built from one compressed MiB: ~1 KB per MiB, valid to the checksum. */
  function deflateBomb(mib: number): Buffer {
    const piece = deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH });
    const adler = Buffer.alloc(4);
    adler.writeUInt32BE((((mib * (1 << 20)) % 65521) * 65536 + 1) >>> 0); // zeros: a = 1, b = length mod 65521
    return Buffer.concat([Buffer.from([0x78, 0xda]), ...Array<Buffer>(mib).fill(piece), Buffer.from([0x03, 0x00]), adler]);
  }

  /** A compressed cut tensor that claims `shape` (sw_shape) around `payload`. */
  function coded(payload: Uint8Array, shape: number[], compression: "deflate" | "zstd"): OipTensor {
    const bytes = shape.reduce((n, d) => n * d, 4);
    return { name: cut.name, datatype: "UINT8", shape: [payload.length], data: payload, parameters: { sw_codec: "raw", sw_compression: compression, sw_uncompressed_bytes: bytes, sw_datatype: "FP32", sw_shape: JSON.stringify(shape) } };
  }

  async function post(tensor: OipTensor, at = url): Promise<{ status: number; text: string; ms: number }> {
    const e = encodeInferRequest({ inputs: [tensor] }, { binary: true });
    const body = Buffer.concat((Array.isArray(e.body) ? e.body : [e.body]).map((b) => Buffer.from(b)));
    const { "Content-Length": _l, ...headers } = e.headers;
    const t0 = performance.now();
    const saved = url;
    url = at;
    try {
      const r = await raw("POST", `/v2/models/cls.tail.${CUT}/infer`, body, headers);
      return { ...r, ms: performance.now() - t0 };
    } finally {
      url = saved;
    }
  }

  it("a deflate bomb declaring a shape the tail does not take is refused before anything is inflated", async () => {
    const bomb = deflateBomb(1024); // 1 MB inflating to 1 GiB
    expect(bomb.length).toBeLessThan(1.1e6);
    expect((await raw("GET", `/v2/models/cls.tail.${CUT}`)).status).toBe(200); // the model is analysed once, before timing
    const r = await post(coded(bomb, [1, 268435456], "deflate"));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toMatch(/has shape \[-1,\d+,\d+,\d+\] \(-1 = any\), got \[1,268435456\]/);
    expect(r.ms).toBeLessThan(1000);
  });

  it("a right-rank shape with a huge batch is 413 before decoding: a decoded tensor may not exceed the body limit", async () => {
    const dims = cut.shape.slice(1);
    const r = await post(coded(deflateBomb(64), [100_000, ...dims], "deflate"));
    expect(r.status).toBe(413);
    expect(JSON.parse(r.text).error).toMatch(/would decode to \d+ bytes .* over this server's limit of 67108864 bytes/);
  });

  /**
   * A client that sends the head of a request and a first part of its body, pauses (the server has
   * decided by then), sends the rest, and only then reads the answer, as a client blocked in its
   * writes does. Resolves with the answer, or the socket error that cost it.
   */
  function pausingClient(port: number, head: string, first: Buffer, rest: Buffer, pauseMs: number): Promise<string> {
    return new Promise((resolve) => {
      // allowHalfOpen: like curl, keep sending after the server's FIN
      const sock = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
      let got = "";
      let failed: string | null = null;
      sock.on("data", (b) => (got += String(b)));
      sock.on("error", (e: NodeJS.ErrnoException) => (failed ??= `socket error ${e.code}`));
      sock.on("close", () => resolve(failed ?? got));
      sock.write(head);
      sock.write(first);
      setTimeout(() => sock.end(rest), pauseMs);
    });
  }

  it("413 is answered after draining the body: a client still sending gets it, not EPIPE / ECONNRESET", async () => {
    const small = new TailServer({ models: { cls: "paddle:cls" }, port: 0, maxBodyBytes: 1000 });
    const port = Number(new URL(await small.listen()).port);
    try {
      const first = Buffer.alloc(1 << 20);
      const rest = Buffer.alloc(15 << 20);
      const withLength = await pausingClient(port, `POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${16 << 20}\r\n\r\n`, first, rest, 300);
      expect(withLength).toMatch(/^HTTP\/1\.1 413 [^]*over this server's limit of 1000 bytes/);
      const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
      const chunked = await pausingClient(port, "POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", chunk(first), Buffer.concat([chunk(rest), Buffer.from("0\r\n\r\n")]), 300);
      expect(chunked).toMatch(/^HTTP\/1\.1 413 [^]*over this server's limit of 1000 bytes/);
    } finally {
      await small.close();
    }
  });

  it("GET /v2/models/%ZZ is 400 (bad percent-encoding), not 500", async () => {
    const r = await raw("GET", "/v2/models/%ZZ");
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error).toMatch(/not valid percent-encoding/);
  });

  it("the bearer scheme is case-insensitive (RFC 7235); a wrong scheme or token is 401", async () => {
    const s = new TailServer({ models: { cls: "paddle:cls" }, port: 0, token: "s3cret" });
    const u = await s.listen();
    const saved = url;
    url = u;
    try {
      for (const auth of ["Bearer s3cret", "bearer s3cret", "BEARER s3cret"]) expect((await raw("GET", "/v2", "", { authorization: auth })).status, auth).toBe(200);
      for (const auth of ["Basic s3cret", "bearer wrong", "bearers3cret"]) expect((await raw("GET", "/v2", "", { authorization: auth })).status, auth).toBe(401);
    } finally {
      url = saved;
      await s.close();
    }
  });

  it("a client that sends its body too slowly is cut off after the request timeout (408)", async () => {
    const s = new TailServer({ models: { cls: "paddle:cls" }, port: 0, requestTimeoutMs: 400 });
    const u = new URL(await s.listen());
    try {
      const t0 = performance.now();
      const answer = await new Promise<string>((resolve, reject) => {
        const sock = connect(Number(u.port), u.hostname, () => {
          sock.write(`POST /v2/models/cls/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"inputs":`);
        });
        let got = "";
        sock.on("data", (b) => (got += String(b)));
        sock.on("close", () => resolve(got));
        sock.on("error", reject);
        setTimeout(() => {
          sock.destroy();
          resolve(got);
        }, 5_000);
      });
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(performance.now() - t0).toBeLessThan(2_500);
    } finally {
      await s.close();
    }
  });

  it("a model that cannot be loaded: not ready, and clients get a neutral error without server paths (the log has them)", async () => {
    const log: Array<Record<string, unknown>> = [];
    const missing = join(tmpdir(), "sw-no-such-dir", "nosuch.onnx");
    const s = new TailServer({ models: { cls: missing }, port: 0, log: (r) => log.push(r) });
    const u = await s.listen();
    const saved = url;
    url = u;
    try {
      await expect(s.models.checkAll()).rejects.toThrow(/--model cls=.*nosuch\.onnx cannot be served: model ".*nosuch\.onnx" is neither a file nor a known name/);
      const ready = await raw("GET", "/v2/health/ready");
      expect(ready.status).toBe(503);
      expect((await raw("GET", "/v2/health/live")).status).toBe(200);
      for (const r of [ready, await raw("GET", "/v2/models/cls"), await raw("GET", "/v2/models/cls/ready"), await raw("POST", "/v2/models/cls/infer", "{}", { "content-type": "application/json" })]) {
        expect(r.status).toBeGreaterThanOrEqual(500);
        expect(r.text).not.toContain("sw-no-such-dir");
        expect(JSON.parse(r.text).error).toMatch(/cannot be loaded.*server log/);
      }
      expect(JSON.stringify(log)).toContain("sw-no-such-dir");
    } finally {
      url = saved;
      await s.close();
    }
    // a file onnxruntime refuses (an operator it does not know) fails the same check
    const dir = mkdtempSync(join(tmpdir(), "sw-badop-"));
    try {
      writeFileSync(join(dir, "bad.onnx"), bytesOf(model({ nodes: [node("NoSuchOperator", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], dims: [1, 4] })));
      const bad = new TailServer({ models: { bad: join(dir, "bad.onnx") }, port: 0 });
      await expect(bad.models.checkAll()).rejects.toThrow(/--model bad=.*bad\.onnx cannot be served: /);
      await bad.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
