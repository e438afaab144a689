/**
 * The split executor against the unsplit model: a local tail, a remote tail through a real
 * `splitwatt serve` child on loopback (dist/ must be built: npm test builds it first), and all
 * on the device; and the cost model on real measurements of the profiler.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryOfMeasurement } from "../../src/contracts/paretoFile.js";
import { LocalTailServer } from "../../src/measure/localTailServer.js";
import { Profiler } from "../../src/measure/profiler.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { measuredLinkState, predict } from "../../src/predict/costModel.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { createSession } from "../../src/runtime/sessionFactory.js";
import { SplitExecutor, type ExecutionResult } from "../../src/runtime/splitExecutor.js";
import { compareOutputs } from "../../src/runtime/verifySplit.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { TailClient } from "../../src/transport/tailClient.js";
import { rejected } from "../fixtures/caught.js";
import { bareMachine } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

let tiny: ModelAnalysis;
let tinyPath: string;
let cls: ModelAnalysis;
let clsPath: string;

beforeAll(async () => {
  tinyPath = await zooPath("tiny_cnn");
  tiny = await analyzeModel(loadModel(tinyPath));
  const r = await resolveModel("paddle:cls");
  clsPath = r.path;
  cls = await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} });
}, 60_000);

async function reference(a: ModelAnalysis, feeds: Record<string, ort.Tensor>, purpose: "exact" | "inference"): Promise<Record<string, ort.Tensor>> {
  const s = await createSession(a.model.bytes, { purpose });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Stage times add up to the total (within 5%, plus 0.05 ms of timer granularity). */
function expectStagesAddUp(r: ExecutionResult): void {
  const t = r.timings;
  const sum = t.headMs + t.encodeMs + t.transferMs + t.serverMs + t.decodeMs;
  expect(Math.abs(sum - t.totalMs)).toBeLessThanOrEqual(0.05 * t.totalMs + 0.05);
  for (const v of Object.values(t)) expect(v).toBeGreaterThanOrEqual(0);
}

/** Three cuts inside the model and the two ends. */
const cutsOf = (a: ModelAnalysis): number[] => {
  const L = a.cuts.length - 1;
  return [0, Math.floor(L / 3), Math.floor((2 * L) / 3), L - 1, L];
};

describe("split executor, local tail", () => {
  it("equals the unsplit model bit for bit at several cuts of two models (exact sessions, cut tensors untouched), batch of 2", async () => {
    for (const a of [tiny, cls]) {
      const feeds = modelInputs(a, { seed: 5, batch: 2 });
      const ref = await reference(a, feeds, "exact");
      for (const cut of cutsOf(a)) {
        const x = await SplitExecutor.open(a, { cut, codec: null, tail: { kind: "local" }, purpose: "exact" });
        try {
          const r = await x.run(feeds);
          expect(compareOutputs(ref, r.outputs, a.graph.outputs, 0)).toMatchObject({ maxAbsDiff: 0, ok: true });
          expectStagesAddUp(r);
          expect(r.wireBytes).toBe(0);
          if (cut === a.cuts.length - 1) expect([r.tensorBytes, r.timings.serverMs, r.timings.encodeMs]).toEqual([0, 0, 0]);
          else expect(r.tensorBytes).toBe(2 * (a.cuts[cut]?.bytes ?? 0));
        } finally {
          await x.release();
        }
      }
    }
  }, 120_000);

  it("through a lossy codec the tail sees the codec's round trip: close to, not equal to, the full model", async () => {
    const a = tiny;
    const feeds = modelInputs(a, { seed: 9 });
    const ref = await reference(a, feeds, "exact");
    const cut = Math.floor(a.cuts.length / 2);
    const x = await SplitExecutor.open(a, { cut, codec: parseCodec("int8"), tail: { kind: "local" }, purpose: "exact" });
    try {
      const r = await x.run(feeds);
      const c = compareOutputs(ref, r.outputs, a.graph.outputs, 0.05);
      expect(c.maxAbsDiff).toBeGreaterThan(0);
      expect(c.ok).toBe(true);
      // int8: one byte per element of the cut tensor, plus nothing else
      expect(r.tensorBytes).toBe((a.cuts[cut]?.bytes ?? 0) / 4);
    } finally {
      await x.release();
    }
  });

  it("refuses a cut out of range, and a remote tail without a codec, in one line", async () => {
    const e = await rejected(SplitExecutor.open(tiny, { cut: tiny.cuts.length, codec: null, tail: { kind: "local" } }));
    expect(e.message).toMatch(/out of range: this model has cuts 0-/);
    expect(e.message).not.toContain("\n");
    const client = new TailClient({ url: "http://127.0.0.1:9" });
    try {
      const f = await rejected(SplitExecutor.open(tiny, { cut: 1, codec: null, tail: { kind: "remote", client, model: "tiny" } }));
      expect(f.message).toMatch(/a remote tail needs a codec/);
    } finally {
      await client.close();
    }
  });
});

describe("split executor, remote tail through a real splitwatt serve on loopback", () => {
  let server: LocalTailServer;
  let client: TailClient;
  beforeAll(async () => {
    server = await LocalTailServer.start({ models: { model: clsPath, tiny: tinyPath }, inputShapes: cls.inputShapes });
    client = new TailClient({ url: server.url, timeoutMs: 60_000 });
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it("equals the unsplit model at several cuts (raw codec), reports bytes and the server's own times; stages add up", async () => {
    for (const [a, name] of [
      [tiny, "tiny"],
      [cls, "model"],
    ] as const) {
      const feeds = modelInputs(a, { seed: 3 });
      const ref = await reference(a, feeds, "inference");
      for (const cut of cutsOf(a)) {
        const x = await SplitExecutor.open(a, { cut, codec: parseCodec("raw"), tail: { kind: "remote", client, model: name } });
        try {
          const r = await x.run(feeds);
          // the server's sessions optimise their graphs: equal up to float reassociation
          expect(compareOutputs(ref, r.outputs, a.graph.outputs, 1e-5).ok).toBe(true);
          expectStagesAddUp(r);
          if (cut === a.cuts.length - 1) {
            expect(r.server).toBeNull();
            expect(r.wireBytes).toBe(0);
          } else {
            expect(r.tensorBytes).toBe(a.cuts[cut]?.bytes);
            // the protocol's JSON header rides on top of the tensor bytes
            expect(r.wireBytes).toBeGreaterThan(r.tensorBytes);
            expect(r.wireBytes).toBeLessThan(r.tensorBytes + 4096);
            expect(r.server?.serverMs).toBeGreaterThan(0);
            expect(r.server?.computeMs).toBeLessThanOrEqual(r.server?.serverMs as number);
            expect(r.timings.serverMs).toBe(r.server?.serverMs);
          }
        } finally {
          await x.release();
        }
      }
    }
  }, 180_000);

  it("a batch of 3 gives each input its own row, as the full model does", async () => {
    const feeds = modelInputs(cls, { seed: 4, batch: 3 });
    const ref = await reference(cls, feeds, "inference");
    const x = await SplitExecutor.open(cls, { cut: 27, codec: parseCodec("fp16"), tail: { kind: "remote", client, model: "model" } });
    try {
      const r = await x.run(feeds);
      expect(r.outputs["softmax_0.tmp_0"]?.dims).toEqual([3, 2]);
      expect(compareOutputs(ref, r.outputs, cls.graph.outputs, 1e-2).ok).toBe(true);
    } finally {
      await x.release();
    }
  });

  it("head() then tail() is run(): the device's part alone leaves the tensors to send; at the last cut it is the result", async () => {
    const feeds = modelInputs(tiny, { seed: 8 });
    const ref = await reference(tiny, feeds, "inference");
    for (const cut of [0, 3, tiny.cuts.length - 1]) {
      const x = await SplitExecutor.open(tiny, { cut, codec: parseCodec("raw"), tail: { kind: "remote", client, model: "tiny" } });
      try {
        const w0 = performance.now();
        const stage = await x.head(feeds);
        expect(stage.kind).toBe(cut === tiny.cuts.length - 1 ? "done" : "remote");
        if (stage.kind === "remote") expect(stage.tensorBytes).toBe(tiny.cuts[cut]?.bytes);
        // time between the two parts (a scheduler's queue) is not counted
        await new Promise((r) => setTimeout(r, 30));
        const r = await x.tail(stage);
        expect(compareOutputs(ref, r.outputs, tiny.graph.outputs, 1e-5).ok).toBe(true);
        expectStagesAddUp(r);
        expect(r.timings.totalMs).toBeLessThanOrEqual(performance.now() - w0 - 29);
      } finally {
        await x.release();
      }
    }
  });

  it("is cancellable: an aborted signal rejects the run", async () => {
    const x = await SplitExecutor.open(tiny, { cut: 2, codec: parseCodec("raw"), tail: { kind: "remote", client, model: "tiny" } });
    try {
      const ctl = new AbortController();
      ctl.abort(new Error("stop now"));
      const e = await rejected(x.run(modelInputs(tiny), { signal: ctl.signal }));
      expect(e.message).toBe("stop now");
    } finally {
      await x.release();
    }
  });
});

describe("cost model on real measurements", () => {
  it("under the conditions a configuration was measured in, the prediction reproduces its measured mean latency within 5%", async () => {
    const t = FakeTree.create();
    bareMachine(t);
    const p = await Profiler.open({
      analysis: tiny,
      modelName: "tiny_cnn",
      modelPath: tinyPath,
      evalSet: "agreement",
      sysfsRoot: t.sysfsRoot,
      procRoot: t.procRoot,
      devRoot: t.devRoot,
      stateDir: mkdtempSync(join(tmpdir(), "sw-cost-")),
      network: "wifi-20mbps",
      link: "app",
      accuracy: false,
      warmUp: 2,
      idleMs: 20,
      stop: { minRuns: 10, maxRuns: 40, ciRel: 0.05, maxMs: 5_000 },
      hostName: "test-host",
    });
    try {
      for (const [split, codec] of [
        [0, "raw"],
        [3, "int8"],
        [tiny.cuts.length - 1, "raw"],
      ] as const) {
        const m = (await p.measure({ split, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec })).measurement;
        const e = entryOfMeasurement(m);
        expect(e.conditions.network).toBe("wifi-20mbps");
        const state = measuredLinkState(e) ?? { bandwidthMbps: 20, rttMs: 0, serverWaitMs: 0 };
        const pr = predict(e, state);
        expect(Math.abs(pr.latencyMs - m.latencyMs.mean)).toBeLessThanOrEqual(0.05 * m.latencyMs.mean);
        expect(pr.energyJ.total).toBeCloseTo(m.energyJ.total ?? 0, 6);
        if (split !== tiny.cuts.length - 1) {
          expect(e.conditions.bandwidthMbps).toBe(20);
          expect(e.conditions.rttMs).toBe(10);
          expect(e.wireBytes).toBeGreaterThan(e.bytes ?? 0);
          // a tenth of the bandwidth: the transfer's payload part grows tenfold, the rest stays
          const slow = predict(e, { ...state, bandwidthMbps: state.bandwidthMbps / 10 });
          const payload = (pr.breakdownMs?.transfer ?? 0) - state.rttMs;
          expect((slow.breakdownMs?.transfer ?? 0) - state.rttMs).toBeCloseTo(10 * payload, 6);
          expect(slow.latencyMs).toBeGreaterThan(pr.latencyMs);
        }
      }
    } finally {
      await p.close();
      t.cleanup();
    }
  }, 120_000);
});
