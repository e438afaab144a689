#!/usr/bin/env node
// WebGPU versus CPU heads, and what switching the head's accelerator costs (not a test). For each
// model, at its middle cut, one child process (a new Dawn device, as a new splitwatt process
// gets) switches the head cpu -> webgpu -> cpu -> webgpu, as a daemon changing configuration
// would: each step opens the head on its target (SplitExecutor.open) and warms it up
// (SplitExecutor.warmUpHead): session creation, first run (shader compilation on WebGPU),
// steady state (median of the next runs), and acceleratorSwitchCostMs, the figure the daemon
// counts (src/runtime/warmUp.ts). Two children per model: the first with an empty Mesa shader
// cache (MESA_SHADER_CACHE_DIR in a new temporary directory: a board's first run), the second
// with the cache the first filled (every later process). Also the largest output difference of
// the split with a webgpu head against the cpu head's.
//
// The adapter is printed: on a software adapter (lavapipe, SwiftShader) these are NOT
// accelerator figures, only what the software path costs. Real figures need a GPU: see the
// README's "WebGPU on a board".
//
//   npx tsc -p tsconfig.json && node test/bench/webgpu-switch.js [model ...]   # default tiny_cnn paddle:cls
//   SPLITWATT_BENCH_RUNS=10 node test/bench/webgpu-switch.js                    # steady runs per step (default 5)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const RUNS = Number(process.env.SPLITWATT_BENCH_RUNS ?? "5");
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`SPLITWATT_BENCH_RUNS must be a positive integer (got ${process.env.SPLITWATT_BENCH_RUNS})`);
const models = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["tiny_cnn", "paddle:cls"];
const repo = fileURLToPath(new URL("../..", import.meta.url));

/** The child: one model, four switches; prints one JSON line. */
const CHILD = `
import { analyzeModel } from "./dist/model/cutPoints.js";
import { loadModel } from "./dist/model/onnxModel.js";
import { resolveModel } from "./dist/model/resolveModel.js";
import { modelInputs } from "./dist/runtime/modelInputs.js";
import { SplitExecutor } from "./dist/runtime/splitExecutor.js";
import { compareOutputs } from "./dist/runtime/verifySplit.js";
import { acceleratorSwitchCostMs } from "./dist/runtime/warmUp.js";
import { webgpuProbe } from "./dist/runtime/webgpu.js";
const [spec, runs] = [process.env.BENCH_MODEL, Number(process.env.BENCH_RUNS)];
const r = await resolveModel(spec);
const a = await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} });
const cut = Math.floor((a.cuts.length - 1) / 2);
const feeds = modelInputs(a, { seed: 7 });
const steps = [];
const outputs = {};
for (const target of ["cpu", "webgpu", "cpu", "webgpu"]) {
  const x = await SplitExecutor.open(a, { cut, deviceTarget: target === "cpu" ? { kind: "cpu", threads: 0 } : { kind: "webgpu" }, codec: null, tail: { kind: "local" } });
  const w = await x.warmUpHead(feeds, runs);
  outputs[target] ??= (await x.run(feeds)).outputs;
  await x.release();
  steps.push({ target, sessionCreateMs: w.sessionCreateMs, firstRunMs: w.firstRunMs, steadyRunMs: w.steadyRunMs, switchCostMs: acceleratorSwitchCostMs(w) });
}
const diff = compareOutputs(outputs.cpu, outputs.webgpu, a.graph.outputs, 1e-5);
const probe = await webgpuProbe();
console.log(JSON.stringify({ cut, cuts: a.cuts.length - 1, steps, maxDiff: diff.maxAbsDiff, refMaxAbs: diff.refMaxAbs, adapter: probe.available ? probe.adapter : probe.reason }));
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

const ms = (v) => (v < 10 ? `${v.toFixed(2)} ms` : v < 10_000 ? `${v.toFixed(0)} ms` : `${(v / 1000).toFixed(1)} s`);
const STEP = ["open on cpu", "switch to webgpu", "switch back to cpu", "webgpu again (same process)"];
for (const model of models) {
  const cache = mkdtempSync(join(tmpdir(), "sw-mesa-cache-"));
  try {
    const cold = child(model, cache);
    const warm = child(model, cache);
    const a = cold.adapter;
    const software = typeof a !== "string" && a.software === true;
    console.log(`${model}, head at cut ${cold.cut} of ${cold.cuts}: adapter ${typeof a === "string" ? a : `${a.device} (${a.description})`}${software ? " -- SOFTWARE: not accelerator figures" : ""}`);
    console.log(`  split output, webgpu head vs cpu head: max |diff| ${cold.maxDiff.toExponential(2)} (largest |output| ${cold.refMaxAbs.toExponential(2)})`);
    for (const [label, r] of [
      ["empty shader cache", cold],
      ["warm shader cache ", warm],
    ]) {
      console.log(`  ${label}:`);
      r.steps.forEach((s, i) =>
        console.log(
          `    ${STEP[i].padEnd(28)} session ${ms(s.sessionCreateMs).padStart(8)}  first run ${ms(s.firstRunMs).padStart(8)}  steady ${ms(s.steadyRunMs).padStart(8)}  switch cost ${ms(s.switchCostMs).padStart(8)}`,
        ),
      );
    }
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}
