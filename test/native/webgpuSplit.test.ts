/**
 * Heads and tails on onnxruntime's WebGPU provider for real, on this machine's Vulkan driver
 * (.ci/run installs Mesa's lavapipe from bookworm-backports; without it these tests fail, they
 * never skip). Correctness only: lavapipe is a CPU implementation of Vulkan, so nothing here
 * says anything about speed.
 *
 * Tolerance: a head on WebGPU equals the same head on the CPU provider within
 * 1e-5 x max(1, largest |CPU output|) (compareOutputs). Both compute in float32 but sum in other
 * orders (WGSL shaders vs MLAS kernels); measured here, the worst relative difference over the
 * cuts below is 1.3e-6 (tiny_cnn cut 10), absolute 2.4e-5 at a CPU value of 30.7 (paddle:cls
 * cut 110): the tolerance leaves a factor of ~8 on top.
 *
 * Shader compilation is slow on lavapipe with an empty Mesa shader cache (~40 s for a
 * paddle:cls head on a fresh machine), seconds with a warm one: the time limits allow for the
 * first.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalTailServer } from "../../src/measure/localTailServer.js";
import { Profiler } from "../../src/measure/profiler.js";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel, serializeModel } from "../../src/model/onnxModel.js";
import { resolveModel } from "../../src/model/resolveModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { modelInputs } from "../../src/runtime/modelInputs.js";
import { createSession } from "../../src/runtime/sessionFactory.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { compareOutputs } from "../../src/runtime/verifySplit.js";
import { acceleratorSwitchCostMs } from "../../src/runtime/warmUp.js";
import { webgpuProbe } from "../../src/runtime/webgpu.js";
import { parseCodec } from "../../src/transport/codecs/codecs.js";
import { TailClient } from "../../src/transport/tailClient.js";
import { bareMachine } from "../fixtures/boards.js";
import { rejected } from "../fixtures/caught.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const RTOL = 1e-5;
const WEBGPU = { kind: "webgpu" } as const;
const models = new Map<string, { a: ModelAnalysis; path: string }>();

beforeAll(async () => {
  const p = await webgpuProbe();
  if (!p.available) throw new Error(`WebGPU unavailable here (run .ci/run's install step): ${p.reason}`);
  for (const spec of ["tiny_cnn", "resnet_tiny", "paddle:cls"]) {
    const r = await resolveModel(spec);
    models.set(spec, { a: await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} }), path: r.path });
  }
}, 120_000);

const model = (spec: string): { a: ModelAnalysis; path: string } => models.get(spec) as { a: ModelAnalysis; path: string };

/** The first cut, the quartiles and the last (all on the device). */
const cutsOf = (a: ModelAnalysis): number[] => {
  const L = a.cuts.length - 1;
  return [...new Set([1, Math.floor(L / 4), Math.floor(L / 2), Math.floor((3 * L) / 4), L])];
};

async function run(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return s.run(Object.fromEntries(s.inputNames.map((n) => [n, feeds[n] as ort.Tensor])));
}

/**
 * Which execution provider ran each compute node (Conv, MatMul, Gemm) of `head` on a webgpu
 * session, from onnxruntime's own profile: the equality below means something only if the GPU
 * did the work (onnxruntime silently falls back to the CPU for nodes a provider cannot run).
 */
async function computeProviders(head: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "sw-wgpu-prof-"));
  try {
    const s = await createSession(head, { target: WEBGPU, purpose: "profile", profileFilePrefix: join(dir, "p") });
    await run(s, feeds);
    s.endProfiling();
    await s.release();
    const file = readdirSync(dir).find((f) => f.endsWith(".json")) as string;
    const events = JSON.parse(readFileSync(join(dir, file), "utf8")) as Array<{ cat?: string; args?: { op_name?: string; provider?: string } }>;
    return events.filter((e) => e.cat === "Node" && /^(Conv|MatMul|Gemm)$/.test(e.args?.op_name ?? "")).map((e) => e.args?.provider ?? "none");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("a head on webgpu equals the same head on cpu", () => {
  for (const spec of ["tiny_cnn", "resnet_tiny", "paddle:cls"]) {
    it(`${spec}: at the first cut, the quartiles and the last, within ${RTOL} x max(1, |cpu|)`, async () => {
      const { a } = model(spec);
      const feeds = modelInputs(a, { seed: 5 });
      const cuts = cutsOf(a);
      expect(cuts.length).toBeGreaterThanOrEqual(4);
      for (const cut of cuts) {
        const head = serializeModel(splitModel(a, cut).head as NonNullable<ReturnType<typeof splitModel>["head"]>);
        const gpu = await createSession(head, { target: WEBGPU, label: `${spec} head ${cut}` });
        const cpu = await createSession(head, { label: `${spec} head ${cut}` });
        try {
          const want = await run(cpu, feeds);
          const got = await run(gpu, feeds);
          const c = compareOutputs(want, got, cpu.outputNames, RTOL);
          expect({ cut, ...c }).toMatchObject({ cut, ok: true });
          // the head really computes something (not all zeros on both)
          expect(c.refMaxAbs).toBeGreaterThan(0);
        } finally {
          await gpu.release();
          await cpu.release();
        }
      }
      // and the GPU computed it: every convolution and matrix product of the middle head ran on the WebGPU provider
      const mid = cuts[2] as number;
      const providers = await computeProviders(serializeModel(splitModel(a, mid).head as NonNullable<ReturnType<typeof splitModel>["head"]>), feeds);
      expect(providers.length).toBeGreaterThan(0);
      expect(new Set(providers)).toEqual(new Set(["WebGpuExecutionProvider"]));
    }, 300_000);
  }
});

describe("the split executor with a webgpu head and a remote tail (a real splitwatt serve child)", () => {
  let server: LocalTailServer;
  let client: TailClient;
  beforeAll(async () => {
    server = await LocalTailServer.start({ models: { tiny: model("tiny_cnn").path, cls: model("paddle:cls").path }, inputShapes: model("paddle:cls").a.inputShapes });
    client = new TailClient({ url: server.url, timeoutMs: 120_000 });
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it("equals the unsplit model on cpu at several cuts, with the head's warm-up timed apart", async () => {
    for (const [spec, name] of [
      ["tiny_cnn", "tiny"],
      ["paddle:cls", "cls"],
    ] as const) {
      const { a } = model(spec);
      const feeds = modelInputs(a, { seed: 6 });
      const whole = await createSession(a.model.bytes, { label: spec });
      const ref = await whole.run(feeds);
      await whole.release();
      const L = a.cuts.length - 1;
      for (const cut of [Math.floor(L / 3), Math.floor((2 * L) / 3)]) {
        const x = await SplitExecutor.open(a, { cut, deviceTarget: WEBGPU, codec: parseCodec("raw"), tail: { kind: "remote", client, model: name } });
        try {
          const w = await x.warmUpHead(feeds);
          expect(w).toMatchObject({ target: "webgpu", steadyRunsMs: expect.any(Array) });
          expect(w?.sessionCreateMs).toBeGreaterThan(0);
          expect(acceleratorSwitchCostMs(w as NonNullable<typeof w>)).toBeGreaterThanOrEqual(w?.sessionCreateMs as number);
          const r = await x.run(feeds);
          expect({ spec, cut, ...compareOutputs(ref, r.outputs, a.graph.outputs, RTOL) }).toMatchObject({ ok: true });
          expect(r.server?.serverMs).toBeGreaterThan(0);
          expect(r.timings.headMs).toBeGreaterThan(0);
        } finally {
          await x.release();
        }
      }
    }
  }, 300_000);
});

describe("serve --target webgpu: tails on the GPU adapter, reported in the server metadata", () => {
  it("a cpu head and a webgpu tail equal the unsplit model; GET /v2 names the target and the (software) adapter, which the profiler records", async () => {
    const { a, path } = model("tiny_cnn");
    const server = await LocalTailServer.start({ models: { tiny: path }, target: "webgpu" });
    const client = new TailClient({ url: server.url, timeoutMs: 120_000 });
    try {
      const info = await client.serverInfo();
      const probe = await webgpuProbe();
      expect(info.target).toBe("webgpu");
      expect(info.adapter).toEqual(probe.available ? probe.adapter : null);
      // this machine: lavapipe, a software adapter (the probe's own test checks it is the only Vulkan device)
      expect(info.adapter?.software).toBe(true);
      const feeds = modelInputs(a, { seed: 8 });
      const whole = await createSession(a.model.bytes, { label: "tiny_cnn" });
      const ref = await whole.run(feeds);
      await whole.release();
      for (const cut of [2, 9]) {
        const x = await SplitExecutor.open(a, { cut, codec: parseCodec("raw"), tail: { kind: "remote", client, model: "tiny" } });
        try {
          const r = await x.run(feeds);
          expect({ cut, ...compareOutputs(ref, r.outputs, a.graph.outputs, RTOL) }).toMatchObject({ ok: true });
        } finally {
          await x.release();
        }
      }
      // the profiler against that server: the record names its adapter; a server target it does not run is refused
      const t = FakeTree.create();
      bareMachine(t);
      const p = await Profiler.open({
        analysis: a,
        modelName: "tiny_cnn",
        modelPath: path,
        evalSet: "agreement",
        serverUrl: server.url,
        serverModel: "tiny",
        sysfsRoot: t.sysfsRoot,
        procRoot: t.procRoot,
        devRoot: t.devRoot,
        stateDir: mkdtempSync(join(tmpdir(), "sw-wgpu-state-")),
        network: null,
        accuracy: false,
        warmUp: 1,
        idleMs: 0,
        stop: { minRuns: 3, maxRuns: 5, ciRel: 1, maxMs: 1_000 },
        hostName: "test-host",
      });
      try {
        expect(await p.offeredTargets("server")).toEqual(["webgpu"]);
        const e = await rejected(p.measure({ split: 9, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" }));
        expect(e.message).toMatch(/runs tails on webgpu, not cpu: give --server-target webgpu/);
        const m = (await p.measure({ split: 9, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "webgpu", codec: "raw" })).measurement;
        expect(m.adapter).toEqual({ device: null, server: info.adapter });
      } finally {
        await p.close();
        t.cleanup();
      }
    } finally {
      await client.close();
      await server.stop();
    }
  }, 300_000);
});
