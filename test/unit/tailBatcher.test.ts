/**
 * Server-side batching in the tail server (src/transport/tailBatcher.ts), on a real tail of
 * tiny_cnn over loopback: concurrent requests run as batches, each answer is that request's own
 * rows (equal to the answer of a server that does not batch), a request whose payload cannot be
 * decoded fails alone, and admission still bounds what is accepted.
 */
import { deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/syntheticInputs.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import type { OipTensor } from "../../src/transport/oip/index.js";
import { TailClient, TailServerError, type InferResult } from "../../src/transport/tailClient.js";
import { TailServer } from "../../src/transport/tailServer.js";

let a: ModelAnalysis;
let cut: number;
let shape: number[];
let inName: string;
let outName: string;
const servers: TailServer[] = [];
const clients: TailClient[] = [];

async function serve(o: Partial<ConstructorParameters<typeof TailServer>[0]>): Promise<TailClient> {
  const s = new TailServer({ models: { m: await zooPath("tiny_cnn") }, port: 0, ...o });
  servers.push(s);
  const c = new TailClient({ url: await s.listen(), connections: 32 });
  clients.push(c);
  return c;
}

function input(seed: number, rows = 1): OipTensor {
  return { name: inName, datatype: "FP32", shape: [rows, ...shape.slice(1)], data: seededFloats(rows * shape.slice(1).reduce((x, y) => x * y, 1), seed) };
}

beforeAll(async () => {
  a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  const c = a.cuts.find((x) => x.index > 3 && x.tensors.length === 1) as (typeof a.cuts)[number];
  cut = c.index;
  inName = (c.tensors[0] as { name: string }).name;
  shape = (c.tensors[0] as { shape: number[] }).shape;
  outName = a.graph.outputs[0] as string;
}, 60_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  for (const s of servers) await s.close();
});

const data = (r: InferResult): Float32Array => r.outputs[outName]?.data as Float32Array;

describe("server-side batching", () => {
  it("concurrent requests for one tail run as batches of at most maxBatch rows; each answer is its own rows", async () => {
    const plain = await serve({ maxConcurrent: 1 });
    const batching = await serve({ maxConcurrent: 1, maxBatch: 4, maxQueueDelayMs: 30 });
    const name = `m.tail.${cut}`;
    // 16 clients at once, two of them sending 2 rows
    const reqs = Array.from({ length: 16 }, (_, i) => input(100 + i, i % 7 === 3 ? 2 : 1));
    const got = await Promise.all(reqs.map((t) => batching.infer(name, [t])));
    const want = await Promise.all(reqs.map((t) => plain.infer(name, [t])));
    got.forEach((r, i) => {
      const w = data(want[i] as InferResult);
      const g = data(r);
      expect(r.outputs[outName]?.shape).toEqual(want[i]?.outputs[outName]?.shape);
      expect(g.length).toBe(w.length);
      let maxDiff = 0;
      for (let k = 0; k < g.length; k++) maxDiff = Math.max(maxDiff, Math.abs((g[k] as number) - (w[k] as number)));
      expect(maxDiff).toBeLessThan(1e-5);
      expect(r.batchSize).not.toBeNull();
      expect(r.batchSize as number).toBeLessThanOrEqual(4);
      expect(r.batchSize as number).toBeGreaterThanOrEqual(reqs[i]?.shape[0] as number);
      // its share of the batch's onnxruntime time
      expect(r.computeMs as number).toBeLessThanOrEqual(r.serverMs as number);
    });
    // batching happened: fewer onnxruntime calls than requests
    expect(Math.max(...got.map((r) => r.batchSize as number))).toBeGreaterThan(1);
    // answers differ between requests (each got its own rows, not a neighbour's)
    expect(data(got[0] as InferResult)).not.toEqual(data(got[1] as InferResult));
    // a server that does not batch says nothing about batches
    expect(want[0]?.batchSize).toBeNull();
  }, 60_000);

  it("a request whose payload cannot be decoded fails alone; the rest of its batch is answered", async () => {
    const c = await serve({ maxConcurrent: 1, maxBatch: 8, maxQueueDelayMs: 50 });
    const name = `m.tail.${cut}`;
    const good = [input(1), input(2), input(3)];
    // a deflate payload that declares the right size but is not a zlib stream: caught only when decoded
    const n = shape.slice(1).reduce((x, y) => x * y, 1);
    const bytes = new Uint8Array(deflateSync(Buffer.alloc(n * 4)));
    bytes[0] = 0x00;
    const bad: OipTensor = {
      name: inName,
      datatype: "UINT8",
      shape: [bytes.length],
      data: bytes,
      parameters: { sw_codec: "raw", sw_compression: "deflate", sw_uncompressed_bytes: n * 4, sw_datatype: "FP32", sw_shape: JSON.stringify([1, ...shape.slice(1)]) },
    };
    const outcomes = await Promise.allSettled([c.infer(name, [good[0] as OipTensor]), c.infer(name, [bad]), c.infer(name, [good[1] as OipTensor]), c.infer(name, [good[2] as OipTensor], { codec: parseCodec("fp16") })]);
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const err = (outcomes[1] as PromiseRejectedResult).reason as TailServerError;
    expect(err).toBeInstanceOf(TailServerError);
    expect(err.status).toBe(400);
    const batchSizes = outcomes.filter((o) => o.status === "fulfilled").map((o) => (o as PromiseFulfilledResult<InferResult>).value.batchSize);
    expect(Math.max(...(batchSizes as number[]))).toBeGreaterThan(1);
  }, 60_000);

  it("admission still bounds the requests taken: beyond max-concurrency + max-queue they get 503 at once", async () => {
    const c = await serve({ maxConcurrent: 1, maxQueue: 2, maxBatch: 8, maxQueueDelayMs: 300 });
    const name = `m.tail.${cut}`;
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => c.infer(name, [input(i)])));
    const ok = outcomes.filter((o) => o.status === "fulfilled");
    const refused = outcomes.filter((o) => o.status === "rejected").map((o) => ((o as PromiseRejectedResult).reason as TailServerError).status);
    expect(ok.length).toBe(3);
    expect(refused).toEqual([503, 503, 503]);
    // the three taken ran as one batch (they waited together within the delay)
    expect((ok[0] as PromiseFulfilledResult<InferResult>).value.batchSize).toBe(3);
  }, 60_000);
});
