#!/usr/bin/env node
// Sampler overhead benchmark (not a test). Builds a fake 2-socket RAPL + INA3221 tree in a temp
// dir (10 sources), runs the native sampler for DURATION seconds at 1 ms and at 10 ms, and reports
// the sampler thread's CPU time as % of one core. Then compares the cost of one small-file read
// through the addon (Sysfs.readSync) with fs.readFileSync.
//
//   node test/bench/sampler-overhead.js            # 10 s per period
//   SPLITWATT_BENCH_SECONDS=3 node test/bench/sampler-overhead.js
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

const native = createRequire(import.meta.url)("../../build/Release/splitwatt.node");

const DURATION_S = Number(process.env.SPLITWATT_BENCH_SECONDS ?? "10");
if (!(DURATION_S > 0)) throw new Error(`SPLITWATT_BENCH_SECONDS must be > 0 (got ${process.env.SPLITWATT_BENCH_SECONDS})`);
const READS = 20_000;
const TARGET_PCT_AT_1MS = 2;
const MAX_RANGE_UJ = 262_143_328_850n;

function buildTree(root) {
  const write = (rel, value) => {
    const p = path.join(root, rel);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, `${value}\n`);
    return p;
  };
  const sources = [];
  for (const socket of [0, 1]) {
    const zone = `sys/class/powercap/intel-rapl:${socket}`;
    sources.push({ kind: "counter-file", id: `package-${socket}`, path: write(`${zone}/energy_uj`, 81_234_567_890 + socket), scaleToNJ: 1000, maxRange: MAX_RANGE_UJ });
    sources.push({ kind: "counter-file", id: `core-${socket}`, path: write(`${zone}/intel-rapl:${socket}:0/energy_uj`, 41_234_567_890 + socket), scaleToNJ: 1000, maxRange: MAX_RANGE_UJ });
    sources.push({ kind: "counter-file", id: `dram-${socket}`, path: write(`${zone}/intel-rapl:${socket}:1/energy_uj`, 11_234_567_890 + socket), scaleToNJ: 1000, maxRange: MAX_RANGE_UJ });
  }
  sources.push({ kind: "counter-file", id: "psys", path: write("sys/class/powercap/intel-rapl:2/energy_uj", 123_456_789_012), scaleToNJ: 1000, maxRange: MAX_RANGE_UJ });
  const rails = [["VDD_IN", 5080, 1216], ["VDD_CPU_GPU_CV", 5080, 412], ["VDD_SOC", 5080, 640]];
  rails.forEach(([label, mv, ma], i) => {
    const hw = "sys/class/hwmon/hwmon1";
    write(`${hw}/in${i + 1}_label`, label);
    sources.push({
      kind: "power-vi",
      id: `ina3221/${label}`,
      voltagePath: write(`${hw}/in${i + 1}_input`, mv),
      currentPath: write(`${hw}/curr${i + 1}_input`, ma),
      scaleToUW: 1,
    });
  });
  return sources;
}

async function runSampler(sources, periodMs) {
  let batches = 0;
  let dropped = 0;
  const sampler = new native.Sampler({
    sources,
    periodMs,
    onBatch: (b) => {
      batches++;
      dropped += b.droppedBatches;
    },
  });
  try {
    const t0 = process.hrtime.bigint();
    sampler.start();
    await sleep(DURATION_S * 1000);
    await sampler.stop();
    const wallNs = Number(process.hrtime.bigint() - t0);
    const cpuNs = Number(sampler.threadCpuNs());
    const snap = sampler.snapshot();
    // with no sources, count loop iterations from the clock instead
    const samples = snap.sources[0]?.samples ?? Math.floor(wallNs / 1e6 / periodMs);
    const errors = snap.sources.reduce((n, s) => n + s.errors, 0);
    return {
      periodMs,
      sources: sources.length,
      wallS: wallNs / 1e9,
      samples,
      expectedSamples: Math.floor((wallNs / 1e6) / periodMs),
      cpuMs: cpuNs / 1e6,
      cpuPctOfCore: (100 * cpuNs) / wallNs,
      cpuUsPerSample: samples > 0 ? cpuNs / 1e3 / samples : 0,
      batches,
      droppedBatches: dropped,
      errors,
    };
  } finally {
    sampler.dispose();
  }
}

function readCost(file) {
  const sysfs = new native.Sysfs();
  // warm up both paths
  for (let i = 0; i < 1000; i++) {
    sysfs.readSync(file);
    fs.readFileSync(file, "utf8");
  }
  let nativeNs = 0n;
  let fsNs = 0n;
  let sink = 0;
  for (let i = 0; i < READS; i++) {
    // interleaved so both see the same cache and frequency conditions
    let t = process.hrtime.bigint();
    sink += sysfs.readSync(file).length;
    nativeNs += process.hrtime.bigint() - t;
    t = process.hrtime.bigint();
    sink += fs.readFileSync(file, "utf8").length;
    fsNs += process.hrtime.bigint() - t;
  }
  if (sink === 0) throw new Error("reads returned nothing");
  const nativeNsPerRead = Number(nativeNs) / READS;
  const fsNsPerRead = Number(fsNs) / READS;
  return { file, reads: READS, nativeNsPerRead, fsNsPerRead, fsOverNative: fsNsPerRead / nativeNsPerRead };
}

const pad = (s, n) => String(s).padStart(n);

async function main() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "splitwatt-bench-"));
  try {
    const sources = buildTree(root);
    console.log(`splitwatt sampler overhead: ${sources.length} sources (6 RAPL counters + psys + 3 INA3221 V×I rails), ${DURATION_S} s per period`);
    console.log(`addon: ${native.buildInfo}`);
    console.log(`host: ${os.cpus()[0]?.model ?? "unknown cpu"} × ${os.cpus().length}, node ${process.version}, fake tree in ${os.tmpdir()}`);
    console.log("");

    const runs = [];
    for (const periodMs of [1, 10]) runs.push(await runSampler(sources, periodMs));
    // The same thread with nothing to read: the sleep/wake-up cost of this host at 1 ms.
    const floor = await runSampler([], 1);

    console.log(" period | samples (expected) | thread CPU | % of one core | µs CPU/sample | batches | dropped | errors");
    console.log("--------+--------------------+------------+---------------+---------------+---------+---------+-------");
    for (const r of runs) {
      console.log(
        `${pad(`${r.periodMs} ms`, 7)} | ${pad(`${r.samples} (${r.expectedSamples})`, 18)} | ${pad(`${r.cpuMs.toFixed(1)} ms`, 10)} | ${pad(`${r.cpuPctOfCore.toFixed(3)} %`, 13)} | ${pad(r.cpuUsPerSample.toFixed(2), 13)} | ${pad(r.batches, 7)} | ${pad(r.droppedBatches, 7)} | ${pad(r.errors, 6)}`,
      );
    }
    console.log(
      `${pad("1 ms", 7)} | ${pad("0 sources (floor)", 18)} | ${pad(`${floor.cpuMs.toFixed(1)} ms`, 10)} | ${pad(`${floor.cpuPctOfCore.toFixed(3)} %`, 13)} | ${pad(floor.cpuUsPerSample.toFixed(2), 13)} |`,
    );
    const at1 = runs.find((r) => r.periodMs === 1);
    const files = sources.reduce((n, s) => n + (s.kind === "power-vi" ? 2 : 1), 0);
    const usPerFileRead = (at1.cpuUsPerSample - floor.cpuUsPerSample) / files;
    const pass = at1.cpuPctOfCore < TARGET_PCT_AT_1MS;
    console.log("");
    console.log(`target: sampler < ${TARGET_PCT_AT_1MS}% of one core at 1 ms -> ${at1.cpuPctOfCore.toFixed(3)}% ${pass ? "PASS" : "FAIL"}`);
    console.log(
      `  breakdown at 1 ms: ${floor.cpuUsPerSample.toFixed(1)} µs/sample sleep+wake floor + ${files} file reads × ${usPerFileRead.toFixed(2)} µs (≈ one pread syscall each on this host)`,
    );

    const cost = readCost(sources[0].path);
    console.log("");
    console.log(`read cost of one energy_uj file (${READS} interleaved reads each, fake tree = regular file):`);
    console.log(`  Sysfs.readSync            ${pad(cost.nativeNsPerRead.toFixed(0), 7)} ns/read`);
    console.log(`  fs.readFileSync(p,'utf8') ${pad(cost.fsNsPerRead.toFixed(0), 7)} ns/read`);
    console.log(`  ratio fs / native         ${pad(cost.fsOverNative.toFixed(2), 7)} x`);
    console.log("");
    console.log(
      JSON.stringify({
        bench: "sampler-overhead",
        durationS: DURATION_S,
        sources: sources.length,
        runs,
        wakeFloorAt1ms: floor,
        filesPerSample: files,
        usPerFileRead,
        targetPctAt1ms: TARGET_PCT_AT_1MS,
        pass,
        readCost: { ...cost, file: path.relative(root, cost.file) },
        node: process.version,
        buildInfo: native.buildInfo,
      }),
    );
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

await main();
