/**
 * Tails for a stock Triton / KServe server (src/transport/tritonRepository.ts): fed what the head
 * and the codec produce in their plain form (tritonCodec.ts), the exported tails give what the
 * splitwatt path gives (run here with onnxruntime, for two models of different opsets and every
 * codec), config.pbtxt parses against Triton's ModelConfig (protoc, Debian's protobuf-compiler),
 * and the planned size is the size written.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel, serializeModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { concatRows } from "../../src/runtime/batchRows.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { createSession } from "../../src/runtime/sessionFactory.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { datatypeToOrt, type OipTensor } from "../../src/transport/oip/index.js";
import { tritonTensors } from "../../src/transport/tritonCodec.js";
import { planTriton, writeTriton } from "../../src/transport/tritonRepository.js";

const PROTO_DIR = resolve(import.meta.dirname, "../fixtures/triton");
let dir: string;
const models: Array<{ label: string; a: ModelAnalysis; cut: number }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-triton-"));
  const tiny = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  const r = await resolveModel("paddle:cls");
  const cls = await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} });
  // a single FP32 cut tensor in the middle of each (tiny_cnn is opset 17, the classifier opset 9)
  const middle = (a: ModelAnalysis): number =>
    (a.cuts.find((c) => c.index >= a.cuts.length / 2 && c.tensors.length === 1 && c.tensors[0]?.dtype === "float32" && (c.tensors[0]?.shape.length ?? 0) === 4) as { index: number }).index;
  models.push({ label: "tiny_cnn", a: tiny, cut: middle(tiny) }, { label: "paddle:cls", a: cls, cut: middle(cls) });
}, 60_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ortOf(t: OipTensor): ort.Tensor {
  return new ort.Tensor(datatypeToOrt(t.datatype) as "float32", t.data as Float32Array, t.shape);
}

describe("export-triton: tails that take the codec's tensors natively", () => {
  for (const codec of ["raw", "fp16", "int8", "int8-channel"]) {
    it(`${codec}: the exported tail, fed the head's batch in plain tensors, equals the splitwatt path item by item`, async () => {
      for (const { label, a, cut } of models) {
        const spec = parseCodec(codec);
        const plan = planTriton(a, { name: "m", cuts: [cut], maxBatch: 8, kind: "KIND_CPU", codec: spec });
        const tail = await createSession(serializeModel(plan.tails[0]?.model as NonNullable<(typeof plan.tails)[0]>["model"]));
        const x = await SplitExecutor.open(a, { cut, codec: spec, tail: { kind: "local" } });
        try {
          const items = [0, 1, 2].map((i) => modelInputs(a, { seed: 21, sample: i }));
          // the splitwatt path, one item at a time
          const want = await Promise.all(items.map(async (f) => (await x.run(f)).outputs));
          // the stock-server path: the head on the batch, the cut tensor in its plain form
          const names = Object.keys(items[0] as object);
          const feeds = Object.fromEntries(names.map((n) => [n, concatRows(items.map((f) => f[n] as ort.Tensor))]));
          const h = await x.runHead(feeds);
          const cutName = x.crossing[0] as string;
          const t = h.values[cutName] as ort.Tensor;
          const plain = tritonTensors({ name: cutName, datatype: "FP32", shape: [...t.dims], data: t.data as Float32Array }, spec, true);
          expect(plain.map((p) => p.name).sort()).toEqual([...tail.inputNames].sort());
          const got = await tail.run(Object.fromEntries(plain.map((p) => [p.name, ortOf(p)])));
          for (const o of a.graph.outputs) {
            const g = got[o]?.data as Float32Array;
            const per = g.length / 3;
            let maxDiff = 0;
            let maxAbs = 0;
            want.forEach((w, i) => {
              const wd = w[o]?.data as Float32Array;
              for (let k = 0; k < per; k++) {
                maxDiff = Math.max(maxDiff, Math.abs((g[i * per + k] as number) - (wd[k] as number)));
                maxAbs = Math.max(maxAbs, Math.abs(wd[k] as number));
              }
            });
            // raw and fp16 decode exactly (0 here; the bound leaves room for kernels that batch
            // differently); int8 differs only by the scale travelling as FP32 (splitwatt sends it as a
            // JSON double), a relative 2^-24 per element through the tail: ~1e-7 here
            const tol = (codec.startsWith("int8") ? 1e-5 : 1e-6) * Math.max(1, maxAbs);
            expect(maxDiff, `${label} cut ${cut} output ${o}`).toBeLessThan(tol);
          }
        } finally {
          await tail.release();
          await x.release();
        }
      }
    }, 60_000);
  }

  it("config.pbtxt parses against Triton's ModelConfig (protoc --encode, then --decode), batched and not, with dynamic_batching", () => {
    const { a, cut } = models[1] as (typeof models)[number];
    const cases = [
      { maxBatch: 8, codec: "int8-channel", delay: 2.5 },
      { maxBatch: 0, codec: "fp16", delay: 0 },
    ];
    for (const c of cases) {
      const plan = planTriton(a, { name: "paddle_cls", cuts: [0, cut], maxBatch: c.maxBatch, kind: "KIND_CPU", codec: parseCodec(c.codec), maxQueueDelayMs: c.delay });
      for (const t of plan.tails) {
        const file = join(dir, `${t.name}.${c.codec}.pbtxt`);
        writeFileSync(file, t.config);
        const enc = spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, "--encode=inference.ModelConfig", "model_config.proto"], { input: readFileSync(file) });
        expect(enc.error, "protoc is missing: apt-get install protobuf-compiler (.ci/run installs it)").toBeUndefined();
        expect(enc.status, enc.stderr.toString()).toBe(0);
        const dec = spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, "--decode=inference.ModelConfig", "model_config.proto"], { input: enc.stdout });
        expect(dec.status, dec.stderr.toString()).toBe(0);
        const text = dec.stdout.toString();
        expect(text).toContain(`name: "${t.name}"`);
        if (c.maxBatch > 0) {
          expect(text).toMatch(/max_batch_size: 8/);
          expect(text).toMatch(/dynamic_batching \{\s+max_queue_delay_microseconds: 2500\s+\}/);
        } else {
          expect(text).not.toMatch(/max_batch_size/); // 0, proto3's default, is not printed
          expect(text).not.toMatch(/dynamic_batching/);
        }
        if (t.cut !== 0) expect(text).toMatch(c.codec === "fp16" ? /data_type: TYPE_FP16/ : /data_type: TYPE_INT8/);
      }
    }
    // the check can fail: a misspelt field is refused
    const bad = join(dir, "bad.pbtxt");
    writeFileSync(bad, 'name: "x"\nmax_batch: 4\n');
    const r = spawnSync("protoc", [`--proto_path=${PROTO_DIR}`, "--encode=inference.ModelConfig", "model_config.proto"], { input: readFileSync(bad) });
    expect(r.status).not.toBe(0);
    expect(r.stderr.toString()).toMatch(/max_batch/);
  });

  it("the planned size is what is written, to the byte", () => {
    const { a } = models[0] as (typeof models)[number];
    const cuts = a.cuts.slice(0, -1).map((c) => c.index);
    const plan = planTriton(a, { name: "tiny", cuts, maxBatch: 8, kind: "KIND_CPU", codec: parseCodec("int8") });
    const out = join(dir, "repo");
    const names = writeTriton(plan, out);
    const written = names.reduce((n, m) => n + statSync(join(out, m, "config.pbtxt")).size + statSync(join(out, m, "1", "model.onnx")).size, 0);
    expect(written).toBe(plan.totalBytes);
    expect(names).toHaveLength(cuts.length);
  });
});
