// Benchmark (not a test): profile-guided search against the exhaustive measured front, live on
// this machine. MobileNetV2 (224), every cut x codec {raw, int8}, the head on one thread
// (cpu:1, the "small device") and the tail on the local server's default threads, over the
// ethernet-1gbps profile (kernel netns + tbf as root, else the app token bucket): a setting
// where offloading trades device time and energy against transfer and server energy. The server's
// power model is a low-power one (raspberry-pi-4's 2.7-6.4 W, a what-if) so that the front is not
// a single point: with generic-x86 on both sides all-on-device dominates on this machine and
// every method finds that one configuration at once.
//  1. every valid configuration is measured once (short stopping rule) into a store: the
//     exhaustive measured front and its measuring cost;
//  2. then, replaying those measurements from the store (no re-measuring, so every method sees
//     the same figures), at a few budgets and seeds: the guided search (anchors + predicted front
//     from per-node timings, then NSGA-III + memetic local search), the same search unguided,
//     and random search: hypervolume ratio against the exhaustive front (objectives normalised
//     by its ideal and nadir, reference 1.1) and the share of its configurations found.
// Run: npm run bench:guided   (after npx tsc -p tsconfig.json; the first step takes minutes)
// Env: SPLITWATT_BENCH_STORE (a store to reuse between runs; default a temp dir),
//      SPLITWATT_BENCH_SEEDS (5), SPLITWATT_BENCH_MODEL (mobilenet_v2),
//      SPLITWATT_BENCH_NETWORK (ethernet-1gbps), SPLITWATT_BENCH_DEVICE (cpu:1),
//      SPLITWATT_BENCH_SERVER_BOARD (raspberry-pi-4)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const api = () => import(pathToFileURL(join(root, "dist", "index.js")).href);
const MODEL = process.env.SPLITWATT_BENCH_MODEL ?? "mobilenet_v2";
const NETWORK = process.env.SPLITWATT_BENCH_NETWORK ?? "ethernet-1gbps";
const DEVICE = process.env.SPLITWATT_BENCH_DEVICE ?? "cpu:1";
const SERVER_BOARD = process.env.SPLITWATT_BENCH_SERVER_BOARD ?? "raspberry-pi-4";
const SEEDS = Number(process.env.SPLITWATT_BENCH_SEEDS ?? 5);
const BUDGETS = [15, 30, 60];

const { resolveModel, loadModel, analyzeModel, Profiler, MeasurementStore, AccuracyCache, liveSpace, optimize, guidedSeeds, nonDominatedSort, hypervolume } = await api();

const tmp = mkdtempSync(join(tmpdir(), "sw-bench-guided-"));
const storePath = process.env.SPLITWATT_BENCH_STORE ?? join(tmp, "m.jsonl");
const resolved = await resolveModel(MODEL);
const analysis = await analyzeModel(loadModel(resolved.path), { inputShapes: resolved.inputShapes ?? {} });
const profiler = await Profiler.open({
  analysis,
  modelName: MODEL,
  modelPath: resolved.path,
  evalSet: "agreement",
  network: NETWORK,
  serverBoard: SERVER_BOARD,
  stateDir: tmp,
  store: MeasurementStore.open(storePath),
  accuracy: false,
  accuracyCache: AccuracyCache.open(null),
  stop: { minRuns: 5, maxRuns: 200, ciRel: 0.1, maxMs: 2000 },
  warmUp: 1,
  idleMs: 0,
  hostName: "bench",
});
try {
  const live = await liveSpace(profiler, { split: "all", codec: ["raw", "int8"], deviceTarget: [DEVICE] });
  const all = [...live.space.enumerate()].map((g) => live.space.config(g));
  console.log(`guided-search benchmark: ${MODEL}, ${all.length} valid configurations (every cut x raw/int8), head on ${DEVICE}, ${NETWORK}, server power model ${SERVER_BOARD} (estimate)`);
  // 1. exhaustive
  const t0 = performance.now();
  let measured = 0;
  const results = [];
  for (const [i, c] of all.entries()) {
    const r = await live.evaluate(c, {});
    if (!r.cached) measured++;
    results.push({ c, lat: r.latencyMs, en: r.energyJ });
    if ((i + 1) % 50 === 0) console.log(`  exhaustive: ${i + 1}/${all.length} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  const exhaustiveS = (performance.now() - t0) / 1000;
  const key = (c) => JSON.stringify(c);
  const front = nonDominatedSort(results.map((r) => [r.lat, r.en]))[0].map((i) => results[i]);
  // normalised by the exhaustive front's ideal and nadir (by all measured points where the front is one point)
  const span = front.length > 1 ? front : results;
  const ideal = [Math.min(...span.map((r) => r.lat)), Math.min(...span.map((r) => r.en))];
  const nadir = [Math.max(...span.map((r) => r.lat)), Math.max(...span.map((r) => r.en))];
  const norm = (p) => p.map((x, j) => (nadir[j] === ideal[j] ? 0 : (x - ideal[j]) / (nadir[j] - ideal[j])));
  const hvOf = (pts) => hypervolume(pts.map(norm).filter((p) => p.every((x) => x < 1.1)), [1.1, 1.1]);
  const hvFull = hvOf(front.map((r) => [r.lat, r.en]));
  const frontKeys = new Set(front.map((r) => key(r.c)));
  console.log(`exhaustive: ${all.length} configurations, ${measured} measured now in ${exhaustiveS.toFixed(0)} s; exhaustive front ${front.length} configurations`);

  // node profiles and predictions (the anchors are in the store already)
  const tg = performance.now();
  const { networkProfile } = await api();
  const g = await guidedSeeds(profiler, live, networkProfile(NETWORK).rttMs);
  const guideS = (performance.now() - tg) / 1000;
  console.log(`guided seeds: ${g.summary.seeds} beyond ${g.configs.length - g.summary.seeds} anchors, from ${g.summary.predicted} predictions; node profiling ${g.summary.profiledMs} ms (kernel time matched to nodes: ${(g.summary.matchedNodeTime * 100).toFixed(0)}%), total ${guideS.toFixed(1)} s`);
  const predictedOnly = g.configs.filter((c) => frontKeys.has(key(c))).length;
  console.log(`the seeds alone hold ${predictedOnly}/${front.length} exhaustive-front configurations`);

  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  const rows = [];
  for (const [name, opts] of [
    ["guided (predicted front first) + NSGA-III + memetic", (seed) => ({ algorithm: "nsga3", anchors: g.configs, seed })],
    ["NSGA-III + memetic (unguided)", (seed) => ({ algorithm: "nsga3", anchors: live.anchors, seed })],
    ["random search", (seed) => ({ algorithm: "random", seed })],
  ]) {
    const cells = [];
    for (const budget of BUDGETS) {
      const hv = [];
      const found = [];
      for (let seed = 1; seed <= SEEDS; seed++) {
        const r = await optimize({ space: live.space, evaluate: live.evaluate, objectives: ["latency", "energy"], budget, ...opts(seed) });
        const pts = r.evaluated.map((e) => [e.result.latencyMs, e.result.energyJ]);
        hv.push(hvOf(nonDominatedSort(pts)[0].map((i) => pts[i])) / hvFull);
        found.push(r.evaluated.filter((e) => frontKeys.has(key(e.config))).length / front.length);
      }
      cells.push(`${median(hv).toFixed(3)} / ${(median(found) * 100).toFixed(0)}%`);
    }
    rows.push(`| ${name} | ${cells.join(" | ")} |`);
  }
  console.log("");
  console.log(`| method (median of ${SEEDS} seeds: HV ratio / share of the exhaustive front found) | ${BUDGETS.map((b) => `budget ${b}`).join(" | ")} |`);
  console.log(`|---|${BUDGETS.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(r);
  console.log(`measuring cost: exhaustive ${all.length} configurations (${exhaustiveS.toFixed(0)} s here); guided = the budget + ${guideS.toFixed(1)} s of node profiling`);
  console.log(`notes: ${profiler.notes.join("; ")}`);
} finally {
  await profiler.close();
  rmSync(tmp, { recursive: true, force: true });
}
