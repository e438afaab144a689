/**
 * The device thread (src/runtime/deviceThread.ts) with real onnxruntime on a real worker thread
 * (dist/ must be built: npm test builds it first): the same outputs as a session in this thread,
 * the event loop free while a head computes, the caller's tensors untouched, errors that say so.
 */
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadModelError } from "../../src/errors.js";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { DeviceThread, DeviceThreadError } from "../../src/runtime/deviceThread.js";
import { createSession } from "../../src/runtime/sessionFactory.js";
import { SplitExecutor } from "../../src/runtime/splitExecutor.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { rejected } from "../fixtures/caught.js";

let bytes: Uint8Array;
let thread: DeviceThread;
const input = (rows: number, seed = 5): ort.Tensor => new ort.Tensor("float32", seededFloats(rows * 3072, seed), [rows, 3, 32, 32]);

beforeAll(async () => {
  bytes = new Uint8Array(readFileSync(await zooPath("tiny_cnn")));
  thread = new DeviceThread();
});

afterAll(async () => {
  await thread.close();
});

/** Timer ticks (1 ms interval) seen while `work` runs, and how long it ran. */
async function ticksDuring(work: () => Promise<unknown>): Promise<{ ticks: number; ms: number }> {
  let ticks = 0;
  const iv = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await work();
  const ms = performance.now() - t0;
  clearInterval(iv);
  return { ticks, ms };
}

describe("DeviceThread", () => {
  it("gives the same outputs, bit for bit, as a session in this thread (a batch of 4)", async () => {
    const here = await createSession(bytes, { purpose: "exact" });
    const there = await thread.open(bytes, { purpose: "exact" });
    expect(there.inputNames).toEqual(here.inputNames);
    expect(there.outputNames).toEqual(here.outputNames);
    const x = input(4);
    const a = (await here.run({ input: x }))[here.outputNames[0] as string] as ort.Tensor;
    const b = (await there.run({ input: x }))[there.outputNames[0] as string] as ort.Tensor;
    expect(b.dims).toEqual(a.dims);
    expect(b.type).toBe("float32");
    expect(Buffer.from((b.data as Float32Array).buffer).equals(Buffer.from((a.data as Float32Array).buffer))).toBe(true);
    // the caller's input is copied, not moved
    expect(x.data.length).toBe(4 * 3072);
    expect((x.data as Float32Array)[7]).toBe(seededFloats(4 * 3072, 5)[7]);
    await there.release();
    await here.release();
  });

  it("leaves the event loop free while a run computes (a session in this thread blocks it)", async () => {
    const x = input(512);
    const here = await createSession(bytes);
    const there = await thread.open(bytes);
    await here.run({ input: x });
    await there.run({ input: x });
    const blocked = await ticksDuring(() => here.run({ input: x }));
    const free = await ticksDuring(() => there.run({ input: x }));
    // onnxruntime-node computes on the calling thread: at most a tick or two get through
    expect(blocked.ticks, `${blocked.ticks} ticks in ${blocked.ms.toFixed(0)} ms in this thread`).toBeLessThanOrEqual(3);
    // on the device thread the timer keeps firing through the run (>= a quarter of its ms, under load)
    expect(free.ticks, `${free.ticks} ticks in ${free.ms.toFixed(0)} ms on the device thread`).toBeGreaterThanOrEqual(Math.max(10, free.ms / 4));
    await there.release();
    await here.release();
  });

  it("runs a split executor's head there: the same outputs as the whole model", async () => {
    const a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
    const last = a.cuts.length - 1;
    const onThread = await SplitExecutor.open(a, { cut: last, codec: null, tail: { kind: "local" }, purpose: "exact", deviceThread: thread });
    const here = await SplitExecutor.open(a, { cut: last, codec: null, tail: { kind: "local" }, purpose: "exact" });
    const x = input(2, 9);
    const out = (await onThread.run({ input: x })).outputs;
    const want = (await here.run({ input: x })).outputs;
    for (const [n, t] of Object.entries(want)) expect(Array.from(out[n]?.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    // a middle cut: the head there, the tail here, fed what the head gave
    const mid = Math.floor(last / 2);
    const split = await SplitExecutor.open(a, { cut: mid, codec: null, tail: { kind: "local" }, purpose: "exact", deviceThread: thread, parts: splitModel(a, mid) });
    const got = (await split.run({ input: x })).outputs;
    for (const [n, t] of Object.entries(want)) expect(Array.from(got[n]?.data as Float32Array)).toEqual(Array.from(t.data as Float32Array));
    await Promise.all([onThread.release(), here.release(), split.release()]);
  });

  it("a model onnxruntime cannot load is a BadModelError saying why; the thread serves on", async () => {
    const broken = bytes.slice(0, 200);
    const e = await rejected(thread.open(broken, { label: "a truncated tiny_cnn" }));
    expect(e).toBeInstanceOf(BadModelError);
    expect(e.message).toMatch(/onnxruntime cannot load a truncated tiny_cnn on cpu: /);
    const s = await thread.open(bytes);
    expect((await s.run({ input: input(1) }))[s.outputNames[0] as string]?.dims).toEqual([1, 10]);
    await s.release();
  });

  it("after close, pending and later calls reject with a DeviceThreadError (nothing hangs)", async () => {
    const t = new DeviceThread();
    const s = await t.open(bytes);
    const pending = rejected(s.run({ input: input(1024) }));
    await t.close();
    expect(await pending).toBeInstanceOf(DeviceThreadError);
    const later = await rejected(s.run({ input: input(1) }));
    expect(later).toBeInstanceOf(DeviceThreadError);
    expect(later.message).toMatch(/the device thread is closed/);
  });
});
