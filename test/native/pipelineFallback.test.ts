/**
 * A tail server that dies mid-stream (a real `splitwatt serve` child, SIGKILL): the pipeline
 * sends the groups in flight, and every later one, to a tail loaded in this process; every item
 * still gets its result, equal to serial execution. Needs dist/ (npm test builds it first).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalTailServer } from "../../src/measure/localTailServer.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { PipelineExecutor, type Feeds } from "../../src/runtime/pipelineExecutor.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { TailClient } from "../../src/transport/tailClient.js";

let a: ModelAnalysis;
let path: string;

beforeAll(async () => {
  path = await zooPath("tiny_cnn");
  a = await analyzeModel(loadModel(path));
}, 60_000);

describe("pipeline, server failure mid-stream", () => {
  let server: LocalTailServer | null = null;
  afterAll(async () => server?.stop());

  it("the items in flight when the server dies run their tail locally; nothing is lost and the outputs equal serial execution", async () => {
    server = await LocalTailServer.start({ models: { m: path } });
    // a 4 Mbit/s emulated link keeps several requests in flight for a while
    const client = new TailClient({ url: server.url, connections: 8, timeoutMs: 10_000, shape: { uplinkMbps: 4, downlinkMbps: null } });
    const cut = a.cuts.find((c) => c.index > 2 && c.bytes >= 4096)?.index as number;
    const codec = parseCodec("int8");
    const remote = await SplitExecutor.open(a, { cut, codec, tail: { kind: "remote", client, model: "m" } });
    const local = await SplitExecutor.open(a, { cut, codec, tail: { kind: "local" } });
    try {
      const inputs: Feeds[] = Array.from({ length: 30 }, (_, i) => modelInputs(a, { seed: 4, sample: i }));
      const serial: Feeds[] = [];
      for (const f of inputs) serial.push((await local.run(f)).outputs);
      let told = 0;
      const p = new PipelineExecutor(remote, { deviceBatch: 2, serverBatch: 2, tailConcurrency: 3, onFallback: () => told++ });
      const got: Feeds[] = [];
      const fellBack: boolean[] = [];
      let inFlightAtKill = -1;
      for await (const r of p.map(inputs)) {
        got.push(r.value);
        fellBack.push(r.fallback);
        if (got.length === 6) {
          const s = p.pipeline.stats();
          inFlightAtKill = s.accepted - s.settled;
          process.kill(server.pid as number, "SIGKILL");
        }
      }
      await p.close();
      expect(got).toHaveLength(30);
      expect(inFlightAtKill).toBeGreaterThan(0);
      got.forEach((o, i) => {
        const want = serial[i] as Feeds;
        for (const [k, t] of Object.entries(want)) {
          const g = o[k]?.data as Float32Array;
          const w = t.data as Float32Array;
          let d = 0;
          for (let j = 0; j < w.length; j++) d = Math.max(d, Math.abs((g[j] as number) - (w[j] as number)));
          expect(d).toBeLessThan(1e-5);
        }
      });
      const s = p.pipeline.stats();
      expect(s.failed).toBe(0);
      expect(s.fellBack).toBeGreaterThan(0);
      // the first results came from the server, the last ones from the fallback
      expect(fellBack.slice(0, 4).every((f) => !f)).toBe(true);
      expect(fellBack.slice(-5).every((f) => f)).toBe(true);
      expect(told).toBe(1);
      expect(p.notes.join(" ")).toMatch(/the tail server failed \(cannot reach the tail server/);
    } finally {
      await remote.release();
      await local.release();
      await client.close();
    }
  }, 60_000);
});
