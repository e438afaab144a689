/**
 * Image requests to the daemon for PaddleOCR's text-direction classifier: PNG and JPEG bodies made
 * here from the evaluation set's renderer (sharp encodes them), decoded by the daemon with sharp
 * and preprocessed as PaddleOCR does; answered with the class and its score.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { clsSamples, preprocessCls } from "../../src/model/evalset/index.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { startChild, type Child } from "../fixtures/daemonProcess.js";

let dir: string;
let d: Child;
let session: ort.InferenceSession;
const samples = clsSamples({ count: 4, seed: 3 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-daemon-img-"));
  const r = await resolveModel("paddle:cls");
  const a = await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} });
  session = await ort.InferenceSession.create(r.path);
  const front = writeFront(dir, "cls.pareto.json", liveFront({ sha256: a.model.sha256, lastCut: a.cuts.length - 1, model: "paddle:cls" }));
  d = await startChild(["daemon", "--model", "paddle:cls", "--port", "0", "--front", front], { env: { SPLITWATT_STATE_DIR: join(dir, "state") } });
}, 120_000);

afterAll(async () => {
  await d?.stop("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

const classify = (body: Uint8Array, query = "deadline_ms=1000", type = "image/png") =>
  fetch(`${d.url}/v1/models/paddle-cls/classify?${query}`, { method: "POST", headers: { "content-type": type }, body }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> }));

const encode = (s: (typeof samples)[number], format: "png" | "jpeg" | "webp") => {
  const img = sharp(Buffer.from(s.rgba), { raw: { width: s.width, height: s.height, channels: 4 } });
  return (format === "png" ? img.png() : format === "jpeg" ? img.jpeg({ quality: 95 }) : img.webp()).toBuffer();
};

describe("splitwatt daemon: image requests (paddle:cls)", () => {
  it("a PNG: decoded losslessly, the class and score the model gives on PaddleOCR's preprocessing of the same pixels, plus what happened", async () => {
    for (const s of samples) {
      const r = await classify(await encode(s, "png"));
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const x = preprocessCls(s.rgba, s.width, s.height);
      const want = (await session.run({ x: new ort.Tensor("float32", x, [1, 3, 48, 192]) }))["softmax_0.tmp_0"]?.data as Float32Array;
      const best = (want[1] as number) > (want[0] as number) ? 1 : 0;
      expect(best).toBe(s.label);
      expect(r.body).toMatchObject({ model: "paddle-cls", class: ["0", "180"][best], classIndex: best, image: { width: s.width, height: s.height, format: "png" } });
      expect(r.body.score).toBeCloseTo(want[best] as number, 5);
      expect(r.body.scores["0"] + r.body.scores["180"]).toBeCloseTo(1, 5);
      expect(r.body).toMatchObject({ policy: "splitwatt", deadlineMs: 1000, deadlineMet: true, fallback: null, energySource: { device: "estimate" } });
      expect(r.body.config).toMatchObject({ cpuFreqMHz: "current" });
      expect(r.body.energyJ.device).toBeGreaterThan(0);
    }
  }, 60_000);

  it("a JPEG: the same classes (lossy pixels, labels from the renderer)", async () => {
    for (const s of samples) {
      const r = await classify(await encode(s, "jpeg"), "deadline_ms=500&policy=edge-only", "image/jpeg");
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ class: ["0", "180"][s.label], policy: "edge-only", image: { format: "jpeg" } });
      expect(r.body.score).toBeGreaterThan(0.5);
    }
  }, 60_000);

  it("bad images and parameters: 4xx saying what to send", async () => {
    const png = await encode(samples[0]!, "png");
    const cases: Array<[Promise<{ status: number; body: Record<string, any> }>, number, RegExp]> = [
      [classify(new Uint8Array([1, 2, 3, 4, 5])), 400, /not an image that can be decoded.*send PNG or JPEG/],
      [classify(png.subarray(0, 60)), 400, /cannot be decoded|not an image/],
      [classify(await encode(samples[0]!, "webp"), "deadline_ms=100", "image/webp"), 415, /the body is webp image: send PNG or JPEG/],
      [classify(new Uint8Array(0)), 400, /the body is empty/],
      [classify(png, ""), 400, /no deadline: send deadline_ms, a positive number of ms, e\.g\. \?deadline_ms=100/],
      [classify(png, "deadline_ms=-1"), 400, /deadline_ms must be a positive number of ms, got "-1": send e\.g\. \?deadline_ms=100/],
      [classify(png, "deadline_ms=10&colour=red"), 400, /unknown query parameter "colour"/],
      [classify(png, "deadline_ms=10&policy=nope"), 400, /unknown policy "nope"/],
      [fetch(`${d.url}/v1/models/other/classify?deadline_ms=10`, { method: "POST", body: png }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, any> })), 404, /unknown model "other"/],
    ];
    for (const [p, status, re] of cases) {
      const r = await p;
      expect(r.status, `${re}: ${r.body.error}`).toBe(status);
      expect(r.body.error).toMatch(re);
    }
    expect((await classify(png)).status).toBe(200);
  }, 60_000);
});
