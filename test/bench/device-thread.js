#!/usr/bin/env node
// The device thread's cost and what it buys (not a test). For tiny_cnn (a 0.1 ms model) and
// resnet18 (about 20 ms here), one session in this thread and one on a DeviceThread (the daemon's
// and `splitwatt run`'s heads), run alternately in rounds (A B B A): per-call time p50 of each and
// the hop (thread - here), and how many 1 ms timer ticks the event loop ran during the calls
// (onnxruntime-node computes on the calling thread: in this thread the loop is stalled).
//
//   npx tsc -p tsconfig.json && npm run bench:device-thread
//   SPLITWATT_BENCH_CALLS=400 SPLITWATT_BENCH_ROUNDS=4 npm run bench:device-thread
import { readFileSync } from "node:fs";
import * as ort from "onnxruntime-node";
import { createSession, DeviceThread, resolveModel, seededFloats } from "../../dist/index.js";

const CALLS = Number(process.env.SPLITWATT_BENCH_CALLS ?? "300");
const ROUNDS = Number(process.env.SPLITWATT_BENCH_ROUNDS ?? "4");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function bench(spec, shape, calls) {
  const bytes = new Uint8Array(readFileSync((await resolveModel(spec)).path));
  const here = await createSession(bytes, { target: { kind: "cpu", threads: 1 } });
  const thread = new DeviceThread();
  const there = await thread.open(bytes, { target: { kind: "cpu", threads: 1 } });
  const n = shape.reduce((a, b) => a * b, 1);
  const feeds = { [here.inputNames[0]]: new ort.Tensor("float32", seededFloats(n, 3), shape) };
  const side = { here: { ms: [], ticks: 0, wallMs: 0 }, thread: { ms: [], ticks: 0, wallMs: 0 } };
  const run = async (name, s) => {
    let ticks = 0;
    const iv = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await s.run(feeds);
      side[name].ms.push(performance.now() - t);
    }
    side[name].wallMs += performance.now() - t0;
    clearInterval(iv);
    side[name].ticks += ticks;
  };
  for (let i = 0; i < 20; i++) {
    await here.run(feeds);
    await there.run(feeds);
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? ["here", "thread"] : ["thread", "here"];
    for (const name of order) await run(name, name === "here" ? here : there);
  }
  await there.release();
  await thread.close();
  await here.release();
  const p50 = { here: median(side.here.ms), thread: median(side.thread.ms) };
  return { spec, p50, hopMs: p50.thread - p50.here, ticksPerS: { here: (1000 * side.here.ticks) / side.here.wallMs, thread: (1000 * side.thread.ticks) / side.thread.wallMs } };
}

const rows = [await bench("tiny_cnn", [1, 3, 32, 32], CALLS), await bench("resnet18", [1, 3, 224, 224], Math.max(10, Math.round(CALLS / 20)))];
console.log(`device thread vs this thread (one onnxruntime thread each, ${ROUNDS} rounds A B B A)`);
console.log("| model | this thread p50 | device thread p50 | hop | timer ticks/s during calls (this thread / device thread) |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.spec} | ${r.p50.here.toFixed(3)} ms | ${r.p50.thread.toFixed(3)} ms | ${r.hopMs.toFixed(3)} ms | ${r.ticksPerS.here.toFixed(0)} / ${r.ticksPerS.thread.toFixed(0)} |`);
console.log(JSON.stringify(rows));
