#!/usr/bin/env node
// Optimizer benchmark on a measured pool (not a test). For each budget x method, runs the
// search on the pool in replay mode for 10 seeds and prints the median of
//   - HV ratio: hypervolume of the found front / hypervolume of the pool's exhaustive front,
//     objectives normalised by the exhaustive front's ideal (0) and nadir (1), reference 1.1 each;
//   - found: the fraction of the exhaustive front's configurations that were evaluated;
//   - ms/gen: the algorithm's own time per generation (proposals and survival, no evaluation).
// Methods: random search without replacement; NSGA-II and NSGA-III plain (anchors seeded); the
// same with the memetic Pareto-local-search step expanding ranks 1-2 (the reference) and
// ranks 1-4 (the default); the default with uniform instead of spread-out restarts; and Pareto
// local search alone (ranks 1-4, spread-out restarts when its neighbourhoods run dry).
//
//   npx tsc -p tsconfig.json && node test/bench/optimize-replay.js [POOL.csv]
//   SPLITWATT_BENCH_SEEDS=3 SPLITWATT_BENCH_OBJECTIVES=latency,energy,accuracy node test/bench/optimize-replay.js
// Default pool: ../shared/data/dynasplit/simulation_pool_vgg16.csv beside the repository.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { importDynasplitCsv, poolEvaluator, dominates, hypervolume, normalizePoints, optimize } from "../../dist/index.js";

const poolPath = process.argv[2] ?? fileURLToPath(new URL("../../../shared/data/dynasplit/simulation_pool_vgg16.csv", import.meta.url));
const SEEDS = Number(process.env.SPLITWATT_BENCH_SEEDS ?? "10");
const objectives = (process.env.SPLITWATT_BENCH_OBJECTIVES ?? "latency,energy").split(",");
const budgets = (process.env.SPLITWATT_BENCH_BUDGETS ?? "46,92,184,276").split(",").map(Number);

const text = readFileSync(poolPath, "utf8");
const pool = importDynasplitCsv(text, {
  model: { name: "pool", sha256: createHash("sha256").update(text).digest("hex") },
  host: { name: "replay" },
  measuredAt: "2000-01-01T00:00:00.000Z",
  fileName: poolPath,
});
const replay = poolEvaluator(pool);

const vector = (r) => objectives.map((o) => (o === "latency" ? r.latencyMs : o === "energy" ? r.energyJ : 1 - r.accuracy));
// the exhaustive front over every valid pool configuration
const all = [...replay.answers].filter(([, r]) => r).map(([key, r]) => ({ key, v: vector(r) }));
const validAll = all.filter((x) => {
  const cfg = pool.find((m) => m.key.endsWith(`|${x.key}`))?.config;
  return cfg && replay.space.isValid(replay.space.genome(cfg));
});
const exFront = validAll.filter((x) => !validAll.some((y) => dominates(y.v, x.v)));
const ideal = objectives.map((_, k) => Math.min(...exFront.map((x) => x.v[k])));
const nadir = objectives.map((_, k) => Math.max(...exFront.map((x) => x.v[k])));
const ref = objectives.map(() => 1.1);
const hvOf = (pts) => hypervolume(normalizePoints(pts, ideal, nadir), ref);
const exHv = hvOf(exFront.map((x) => x.v));
const exKeys = new Set(exFront.map((x) => x.key));

const METHODS = [
  { name: "random search (no replacement)", algorithm: "random" },
  { name: "NSGA-II plain", algorithm: "nsga2", memetic: false },
  { name: "NSGA-III plain", algorithm: "nsga3", memetic: false },
  { name: "NSGA-II + memetic, ranks 1-2", algorithm: "nsga2", memetic: true, localRanks: 2 },
  { name: "NSGA-III + memetic, ranks 1-2", algorithm: "nsga3", memetic: true, localRanks: 2 },
  { name: "NSGA-II + memetic", algorithm: "nsga2", memetic: true },
  { name: "NSGA-III + memetic (default)", algorithm: "nsga3", memetic: true },
  { name: "NSGA-III + memetic, uniform restarts", algorithm: "nsga3", memetic: true, spread: false },
  { name: "local search alone", algorithm: "local" },
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

console.log(`pool ${poolPath}: ${pool.length} runs of ${replay.answers.size} configurations; valid space ${replay.space.countValid()}; ` +
  `objectives ${objectives.join("+")}; exhaustive front ${exFront.length} configurations; ${SEEDS} seeds, medians`);
console.log(`HV normalised by the exhaustive front's ideal and nadir, reference 1.1 per objective; found = share of the exhaustive front's configurations evaluated\n`);
const header = ["method", ...budgets.map((b) => `budget ${b}`), "ms/gen"];
const rows = [];
for (const method of METHODS) {
  const cells = [];
  const perGen = [];
  for (const budget of budgets) {
    const ratios = [];
    const founds = [];
    for (let seed = 1; seed <= SEEDS; seed++) {
      const r = await optimize({
        space: replay.space,
        evaluate: replay.evaluate,
        objectives,
        budget,
        seed,
        algorithm: method.algorithm,
        memetic: method.memetic,
        localRanks: method.localRanks,
        spread: method.spread,
        anchors: method.algorithm === "random" ? undefined : replay.anchors,
      });
      ratios.push(hvOf(r.front.map((f) => vector(f.result))) / exHv);
      const evaluatedKeys = new Set(r.evaluated.map((e) => e.key));
      founds.push([...exKeys].filter((k) => evaluatedKeys.has(k)).length / exKeys.size);
      if (r.generations > 0) perGen.push(r.algorithmMs / r.generations);
    }
    cells.push(`${median(ratios).toFixed(3)} / ${(100 * median(founds)).toFixed(0)}%`);
  }
  rows.push([method.name, ...cells, perGen.length ? median(perGen).toFixed(2) : "-"]);
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
console.log(line(header));
for (const r of rows) console.log(line(r));
console.log(`\ncells: median HV ratio / median share of the exhaustive front found; ms/gen: median algorithm time per generation over all budgets and seeds`);
