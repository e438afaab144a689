#!/usr/bin/env node
// WebGPU first run versus steady state (not a test). For a zoo model on onnxruntime's WebGPU
// provider, each measurement runs in a fresh child process (a new Dawn device, as a new splitwatt
// run would get) and reports session creation, the first run (shader compilation) and the median
// of the next runs, next to the CPU provider's steady state in the same child. Two children per
// model: the first with an empty Mesa shader cache (MESA_SHADER_CACHE_DIR in a new temporary
// directory: what the first splitwatt run on a board pays), the second with the cache the first
// one filled (every later run). Also prints the adapter (webgpuProbe): on a software adapter
// (lavapipe, SwiftShader) these are NOT accelerator figures.
//
//   npx tsc -p tsconfig.json && node test/bench/webgpu-first-run.js [model ...]   # default tiny_cnn
//   SPLITWATT_BENCH_RUNS=10 node test/bench/webgpu-first-run.js                   # steady runs (default 5)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNS = Number(process.env.SPLITWATT_BENCH_RUNS ?? "5");
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`SPLITWATT_BENCH_RUNS must be a positive integer (got ${process.env.SPLITWATT_BENCH_RUNS})`);
const models = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["tiny_cnn"];
const repo = fileURLToPath(new URL("../..", import.meta.url));

/** The child: one model, one provider pass each; prints one JSON line. */
const CHILD = `
import * as ort from "onnxruntime-node";
import { zooBuild, zooList } from "./dist/model/zoo/zoo.js";
import { warmUp } from "./dist/runtime/warmUp.js";
import { webgpuProbe, webgpuSessionOptions } from "./dist/runtime/webgpu.js";
const [name, runs] = [process.env.BENCH_MODEL, Number(process.env.BENCH_RUNS)];
const entry = zooList().find((e) => e.name === name);
if (entry === undefined) throw new Error("unknown zoo model " + name);
const bytes = zooBuild(name);
const cpu = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
const shape = [1, 3, entry.defaultInputSize, entry.defaultInputSize];
const x = new ort.Tensor("float32", Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)), shape);
const feeds = { [cpu.inputNames[0]]: x };
const cpuTimes = await warmUp(cpu, feeds, runs);
const t0 = performance.now();
const gpu = await ort.InferenceSession.create(bytes, webgpuSessionOptions());
const createMs = performance.now() - t0;
const gpuTimes = await warmUp(gpu, feeds, runs);
const a = (await cpu.run(feeds))[cpu.outputNames[0]].data, b = (await gpu.run(feeds))[gpu.outputNames[0]].data;
let maxDiff = 0; for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
const probe = await webgpuProbe();
console.log(JSON.stringify({ createMs, gpu: gpuTimes, cpu: cpuTimes, maxDiff, adapter: probe.available ? probe.adapter : probe.reason }));
`;

function child(model, cacheDir) {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD], {
    cwd: repo,
    encoding: "utf8",
    env: { ...process.env, BENCH_MODEL: model, BENCH_RUNS: String(RUNS), MESA_SHADER_CACHE_DIR: cacheDir },
  });
  if (r.status !== 0) throw new Error(`child failed for ${model}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const ms = (v) => `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`;
for (const model of models) {
  const cache = mkdtempSync(join(tmpdir(), "sw-mesa-cache-"));
  try {
    const cold = child(model, cache);
    const warm = child(model, cache);
    const a = cold.adapter;
    console.log(`${model}: adapter ${typeof a === "string" ? a : `${a.device} (${a.description})${a.software ? " SOFTWARE: not accelerator figures" : ""}`}`);
    console.log(`  max |webgpu - cpu| = ${cold.maxDiff.toExponential(2)}`);
    for (const [label, r] of [["empty shader cache", cold], ["warm shader cache ", warm]]) {
      console.log(
        `  ${label}: session ${ms(r.createMs)}, first run ${ms(r.gpu.firstRunMs)}, steady ${ms(r.gpu.steadyRunMs)} (median of ${RUNS}); ` +
          `cpu steady ${ms(r.cpu.steadyRunMs)}; first/steady ${(r.gpu.firstRunMs / r.gpu.steadyRunMs).toFixed(0)}x`,
      );
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}
