/**
 * The pipeline executor on real sessions (tiny_cnn, a hand-built graph) and a real tail server
 * on loopback: outputs equal serial execution and keep input order at independent batch sizes,
 * a slow link with a fast producer keeps every stage within its bound, a model with a fixed
 * batch size runs at b = 1 and says so, and the stage totals add up.
 */
import * as ort from "onnxruntime-node";
import { TensorProto_DataType } from "onnx-buf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel, parseModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { boundPerS, PipelineExecutor, stageTimesPerItem, tailConcurrencyFor, type Feeds } from "../../src/runtime/pipelineExecutor.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { TailClient } from "../../src/transport/tailClient.js";
import { TailServer } from "../../src/transport/tailServer.js";
import { bytesOf, model, node } from "../fixtures/onnxGraphs.js";

let a: ModelAnalysis;
let server: TailServer;
let url: string;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  const path = await zooPath("tiny_cnn");
  a = await analyzeModel(loadModel(path));
  server = new TailServer({ models: { m: path }, port: 0, maxConcurrent: 1, maxBatch: 8 });
  url = await server.listen();
}, 60_000);

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  await server.close();
});

const items = (n: number): Feeds[] => Array.from({ length: n }, (_, i) => modelInputs(a, { seed: 3, sample: i }));

function maxDiff(x: Feeds, y: Feeds): number {
  let m = 0;
  for (const [k, t] of Object.entries(x)) {
    const u = y[k] as ort.Tensor;
    expect(u.dims).toEqual(t.dims);
    const p = t.data as Float32Array;
    const q = u.data as Float32Array;
    for (let i = 0; i < p.length; i++) m = Math.max(m, Math.abs((p[i] as number) - (q[i] as number)));
  }
  return m;
}

async function collect(g: AsyncIterable<{ value: Feeds }>): Promise<Feeds[]> {
  const out: Feeds[] = [];
  for await (const r of g) out.push(r.value);
  return out;
}

async function open(cut: number, tail: "local" | { client: TailClient }): Promise<SplitExecutor> {
  const x = await SplitExecutor.open(a, { cut, codec: parseCodec("raw"), tail: tail === "local" ? { kind: "local" } : { kind: "remote", client: tail.client, model: "m" } });
  closers.push(() => x.release());
  return x;
}

describe("pipeline executor", () => {
  it("outputs equal serial execution, in input order, at independent batch sizes (local and remote tails, every kind of cut)", async () => {
    const client = new TailClient({ url, connections: 8 });
    closers.push(() => client.close());
    const L = a.cuts.length - 1;
    const inputs = items(23);
    for (const cut of [0, Math.floor(L / 2), L]) {
      for (const tail of ["local", { client }] as const) {
        const x = await open(cut, tail);
        const serial: Feeds[] = [];
        for (const f of inputs) serial.push((await x.run(f)).outputs);
        for (const [bd, bs] of [
          [1, 1],
          [3, 4],
          [5, 2],
        ] as const) {
          const p = new PipelineExecutor(x, { deviceBatch: bd, serverBatch: bs, tailConcurrency: 3 });
          const got = await collect(p.map(inputs));
          await p.close();
          expect(got).toHaveLength(inputs.length);
          got.forEach((o, i) => expect(maxDiff(o, serial[i] as Feeds)).toBeLessThan(1e-5));
          const t = p.stageTotals();
          expect(t.items).toBe(inputs.length);
          const s = p.pipeline.stats();
          expect(Math.max(...s.headBatches)).toBe(Math.min(bd, inputs.length));
          if (cut !== L) expect(t.tailGroups).toBe(s.tailGroups.length);
          if (cut !== L && tail !== "local") expect(t.remoteItems).toBe(inputs.length);
        }
      }
    }
  }, 120_000);

  it("back-pressure: a slow link and a fast producer never hold more items than the bound, and the producer is held back", async () => {
    // 4 Mbit/s: tiny_cnn's cut tensor takes tens of ms per item on the emulated link
    const slow = new TailClient({ url, connections: 8, shape: { uplinkMbps: 4, downlinkMbps: null } });
    closers.push(() => slow.close());
    const cut = a.cuts.find((c) => c.index > 2 && c.bytes >= 4096)?.index as number;
    const x = await open(cut, { client: slow });
    const p = new PipelineExecutor(x, { deviceBatch: 2, serverBatch: 2, tailConcurrency: 2, inputCapacity: 4, handoverCapacity: 4 });
    const inputs = items(24);
    let maxOutstanding = 0;
    let n = 0;
    const t0 = performance.now();
    for await (const _ of p.map(inputs)) {
      n++;
      const st = p.pipeline.stats();
      maxOutstanding = Math.max(maxOutstanding, st.accepted - st.settled);
    }
    const ms = performance.now() - t0;
    await p.close();
    const s = p.pipeline.stats();
    expect(n).toBe(24);
    expect(s.capacity).toMatchObject({ input: 4, head: 2, handover: 4, tail: 4 });
    for (const k of ["input", "head", "handover", "tail"] as const) expect(s.peak[k]).toBeLessThanOrEqual(s.capacity[k]);
    expect(maxOutstanding).toBeLessThanOrEqual(s.capacity.total);
    // the link was the bottleneck: the queues in front of it filled
    expect(s.peak.handover).toBe(4);
    expect(s.peak.input).toBe(4);
    // and the stream took about what the link allows: 24 items x bytes x 8 / 4 Mbit/s
    const linkMs = (24 * (a.cuts[cut]?.bytes ?? 0) * 8) / 4000;
    expect(ms).toBeGreaterThan(0.8 * linkMs);
  }, 60_000);

  it("a model that fixes its batch size runs at b = 1 and says which tensor fixes it", async () => {
    const m = model({ nodes: [node("Relu", ["x"], ["a"]), node("Neg", ["a"], ["y"])], inputs: ["x"], outputs: ["y"], dims: [1, 4], elemType: TensorProto_DataType.FLOAT });
    const fixed = await analyzeModel(parseModel(bytesOf(m), "fixed.onnx"));
    const x = await SplitExecutor.open(fixed, { cut: 1, codec: parseCodec("raw"), tail: { kind: "local" } });
    closers.push(() => x.release());
    const p = new PipelineExecutor(x, { deviceBatch: 4, serverBatch: 4 });
    expect([p.deviceBatch, p.serverBatch]).toEqual([1, 1]);
    expect(p.notes.join(" ")).toMatch(/fixes its batch size \(tensor x has shape \[1,4\]/);
    const inputs = [0, 1, 2].map((i) => ({ x: new ort.Tensor("float32", Float32Array.from([i + 1, -i, 2 * i + 1, -3]), [1, 4]) }));
    const got = await collect(p.map(inputs));
    await p.close();
    // y = -relu(x), in input order (+ 0 makes -0 a plain 0)
    expect(got.map((o) => [...(o.y?.data as Float32Array)].map((v) => v + 0))).toEqual([
      [-1, 0, -1, 0],
      [-2, 0, -3, 0],
      [-3, 0, -5, 0],
    ]);
  });

  it("the bound is the slowest stage; requests in flight cover a round trip (Little's law)", () => {
    const s = stageTimesPerItem(
      { items: 10, headBatches: 10, headMs: 20, tailGroups: 5, remoteItems: 10, requests: 5, encodeMs: 5, transferMs: 5 * 12, rttSleptMs: 20, serverMs: 40, computeMs: 30, decodeMs: 5, tensorBytes: 0, wireBytes: 0, receivedBytes: 0, serverEnergyJ: null, serverEnergySource: null },
      6,
    );
    // head (20 + 5 + 5) / 10; transfer (60 - 20 emulated RTT as spent - 5 x 6 network RTT) / 10; tail 30 / 10
    expect(s).toEqual({ head: 3, transfer: 1, tail: 3 });
    expect(boundPerS(s)).toBeCloseTo(1000 / 3);
    // a group of 2: round trip (1 + 3) x 2 + 10 = 18 ms over 6 ms of the slowest stage: 3 + 1
    expect(tailConcurrencyFor(s, 10, 2)).toBe(4);
    expect(tailConcurrencyFor({ head: 0, transfer: 0, tail: 0 }, 10, 1)).toBe(2);
  });
});
