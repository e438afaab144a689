// Benchmark (not a test): the profiler on this machine.
//  - wall time per configuration (warm-up + idle baseline + measured requests + accuracy when
//    not cached) and requests measured, with the default stopping rule (95% CI of the mean
//    within ±5%, at least 10 requests, 30 s cap);
//  - repeatability: the coefficient of variation of the mean latency at a fixed configuration
//    over 5 runs (each a fresh measurement), side by side for three configurations of paddle:cls
//    (all on the server, a natural bottleneck with int8, all on the device) over the wifi-20mbps
//    profile (kernel netns + tbf as root, else the app token bucket: the output says which).
// Run: npm run bench:profiler   (after npx tsc -p tsconfig.json)
// Env: SPLITWATT_BENCH_RUNS (5), SPLITWATT_BENCH_MODEL (paddle:cls), SPLITWATT_BENCH_NETWORK (wifi-20mbps)
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const api = () => import(pathToFileURL(join(root, "dist", "index.js")).href);

const RUNS = Number(process.env.SPLITWATT_BENCH_RUNS ?? 5);
const MODEL = process.env.SPLITWATT_BENCH_MODEL ?? "paddle:cls";
const NETWORK = process.env.SPLITWATT_BENCH_NETWORK ?? "wifi-20mbps";

const { resolveModel, loadModel, analyzeModel, Profiler, AccuracyCache } = await api();

const resolved = await resolveModel(MODEL);
const analysis = await analyzeModel(loadModel(resolved.path), { inputShapes: resolved.inputShapes ?? {} });
const L = analysis.cuts.length - 1;
const bottleneck = analysis.cuts.find((c) => c.naturalBottleneck && c.index > 0 && c.bytes <= 16 * 1024)?.index ?? Math.floor(L / 2);
const configs = [
  { split: 0, codec: "raw" },
  { split: bottleneck, codec: "int8" },
  { split: L, codec: "raw" },
].map((c) => ({ ...c, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu" }));

const state = mkdtempSync(join(tmpdir(), "sw-bench-prof-"));
const profiler = await Profiler.open({
  analysis,
  modelName: MODEL,
  modelPath: resolved.path,
  evalSet: MODEL === "paddle:cls" ? "paddle-cls" : "agreement",
  network: NETWORK,
  stateDir: state,
  accuracyCache: AccuracyCache.open(join(state, "acc.jsonl")),
  hostName: "bench",
});

console.log(`profiler benchmark: ${MODEL} (${L + 1} cuts), network ${NETWORK}, ${RUNS} runs per configuration`);
console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), load ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const rows = [];
try {
  for (let run = 0; run < RUNS; run++) {
    // interleave the configurations so slow drifts of this shared machine hit all alike
    for (const c of configs) {
      const t0 = performance.now();
      const r = await profiler.measure(c, { fresh: true });
      const wallS = (performance.now() - t0) / 1000;
      rows.push({ c, run, wallS, n: r.measurement.latencyMs.n, mean: r.measurement.latencyMs.mean, energy: r.measurement.energyJ.total, stop: r.stopReason });
      console.log(`  run ${run + 1} split ${c.split} ${c.codec}: ${wallS.toFixed(1)} s wall, ${r.measurement.latencyMs.n} requests (${r.stopReason}), mean ${r.measurement.latencyMs.mean.toFixed(2)} ms, ${r.measurement.energyJ.total.toFixed(4)} J`);
    }
  }
  console.log(`notes: ${profiler.notes.join("; ")}`);
} finally {
  await profiler.close();
  rmSync(state, { recursive: true, force: true });
}

const stat = (xs) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return { m, sd, cv: m === 0 ? 0 : sd / m };
};
console.log("");
console.log("| configuration | wall s / config (first, incl. accuracy) | wall s / config (later runs) | requests | mean latency ms | CV of mean latency | CV of energy |");
console.log("|---|---|---|---|---|---|---|");
for (const c of configs) {
  const rs = rows.filter((r) => r.c === c);
  const later = stat(rs.slice(1).map((r) => r.wallS));
  const lat = stat(rs.map((r) => r.mean));
  const en = stat(rs.map((r) => r.energy));
  const n = stat(rs.map((r) => r.n));
  console.log(
    `| split ${c.split} ${c.codec} | ${rs[0].wallS.toFixed(1)} | ${later.m.toFixed(1)} | ${n.m.toFixed(0)} | ${lat.m.toFixed(2)} | ${(lat.cv * 100).toFixed(1)}% | ${(en.cv * 100).toFixed(1)}% |`,
  );
}
