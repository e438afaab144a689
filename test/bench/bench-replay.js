#!/usr/bin/env node
// Replay at scale (not a test): `splitwatt bench --replay` over DynaSplit's VGG16 pool with a
// generated workload of 1,000,000 deadlines (their VGG16 range, shape 1) and the 8 default
// strategies, through the CLI as a user runs it. Prints, per run: requests, wall time of the
// whole command (reports included), the replay's own time (results.json run.wallMs: reading,
// deciding, drawing, tallying) and peak RSS (results.json run.peakRssBytes, taken when the
// replay ends), for 100,000 and 1,000,000 requests on the machine's cores (the default), and
// 1,000,000 again on one thread, without and with the V8 heap capped at 40 MB (a run that fits
// there streams in bounded memory). Then the decision cost of each strategy in this process (CPU
// microseconds per decision over 20,000 decisions).
//
//   npx tsc -p tsconfig.json && node test/bench/bench-replay.js
//   SPLITWATT_BENCH_REQUESTS=200000 node test/bench/bench-replay.js
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createPolicy, readParetoFile } from "../../dist/index.js";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const bin = join(repo, "bin/splitwatt.js");
const data = fileURLToPath(new URL("../../../shared/data/dynasplit/", import.meta.url));
const pool = join(data, "simulation_pool_vgg16.csv");
const N = Number(process.env.SPLITWATT_BENCH_REQUESTS ?? "1000000");
const dir = mkdtempSync(join(tmpdir(), "sw-bench-replay-"));

function cli(args, nodeArgs = []) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [...nodeArgs, bin, ...args], { encoding: "utf8", cwd: repo, env: { ...process.env, CI: "true" }, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`splitwatt ${args.join(" ")} failed: ${r.stderr}`);
  return performance.now() - t0;
}

try {
  const front = join(dir, "vgg16.pareto.json");
  cli(["optimize", "--replay", pool, "--seed", "1", "--out", front]);
  const big = join(dir, "w.csv");
  cli(["workload", "--weibull-shape", "1", "--min-ms", "90.6", "--max-ms", "5026.8", "--n", String(N), "--seed", "1", "--network", "vgg16", "--out", big]);
  const small = join(dir, "w-small.csv");
  const lines = readFileSync(big, "utf8").split("\n");
  const { writeFileSync } = await import("node:fs");
  writeFileSync(small, `${lines.slice(0, Math.floor(N / 10) + 1).join("\n")}\n`);

  console.log(`| requests x strategies | threads | V8 heap cap | command wall s | replay s | peak RSS MiB |`);
  console.log(`| --- | --- | --- | ---: | ---: | ---: |`);
  for (const [file, n, threads, cap] of [[small, Math.floor(N / 10), null, null], [big, N, null, null], [big, N, 1, null], [big, N, 1, 40]]) {
    const out = join(dir, `run-${n}-${threads ?? "auto"}-${cap ?? "nocap"}`);
    const wall = cli(["bench", "--replay", pool, "--workload", file, "--front", front, "--out", out, ...(threads === null ? [] : ["--threads", String(threads)])], cap === null ? [] : [`--max-old-space-size=${cap}`]);
    const r = JSON.parse(readFileSync(join(out, "results.json"), "utf8"));
    console.log(`| ${r.workload.requests} x ${r.strategies.length} | ${threads ?? `default (${availableParallelism()})`} | ${cap === null ? "none" : `${cap} MB`} | ${(wall / 1000).toFixed(1)} | ${(r.run.wallMs / 1000).toFixed(1)} | ${(r.run.peakRssBytes / 2 ** 20).toFixed(0)} |`);
  }

  const file = readParetoFile(front);
  console.log(`\n| strategy | CPU us per decision (archive ${file.doc.archive.length}, front ${file.doc.front.length}) |`);
  console.log(`| --- | ---: |`);
  for (const name of ["cloud-only", "edge-only", "static-fastest", "static-min-energy", "neurosurgeon", "dynasplit", "splitwatt", "random"]) {
    const p = createPolicy(name, file, {});
    const state = { nowMs: 0, link: { bandwidthMbps: null, rttMs: null, serverWaitMs: null }, serverUp: true, current: null };
    const M = 20000;
    for (let i = 0; i < 2000; i++) p.decide({ deadlineMs: 90 + ((i * 7919) % 5000) }, state);
    const c0 = process.cpuUsage();
    for (let i = 0; i < M; i++) {
      state.nowMs = i;
      const d = p.decide({ deadlineMs: 90 + ((i * 7919) % 5000) }, state);
      state.current = d.entry.config;
    }
    const c = process.cpuUsage(c0);
    console.log(`| ${name} | ${((c.user + c.system) / M).toFixed(2)} |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
