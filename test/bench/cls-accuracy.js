// Benchmark (not a test): top-1 accuracy of the real PaddleOCR text-direction classifier on the
// labelled evaluation set, unsplit and split at every cut, with the time per configuration.
// Run: npm run build:ts && npm run bench:cls   (SPLITWATT_BENCH_COUNT=N samples, default 400)
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const { resolveModel, loadModel, analyzeModel, SplitExecutor, clsEvalSet, clsAccuracy, clsAccuracyOf } = await import(pathToFileURL(join(root, "dist", "index.js")).href);
const ev = { clsEvalSet, clsAccuracy, clsAccuracyOf };

const count = Number(process.env.SPLITWATT_BENCH_COUNT ?? 400);
const { path, inputShapes } = await resolveModel("paddle:cls");
const a = await analyzeModel(loadModel(path), { inputShapes });
const set = ev.clsEvalSet({ count });
let t = performance.now();
const whole = await ev.clsAccuracy(path, set);
const wholeMs = performance.now() - t;
console.log(`paddle:cls on ${set.n} labelled text lines: unsplit top-1 ${(whole.accuracy * 100).toFixed(2)}% (${whole.correct}/${whole.n}, 95% CI ${(whole.ci95[0] * 100).toFixed(1)}-${(whole.ci95[1] * 100).toFixed(1)}%), ${wholeMs.toFixed(0)} ms`);
const rows = [];
for (const c of a.cuts) {
  t = performance.now();
  const runner = await SplitExecutor.open(a, { cut: c.index, codec: null, tail: { kind: "local" } });
  const r = await ev.clsAccuracyOf(async (x) => (await runner.run({ x })).outputs["softmax_0.tmp_0"], set);
  await runner.release();
  const agree = r.predictions.reduce((n, p, i) => n + (p === whole.predictions[i] ? 1 : 0), 0);
  rows.push({ index: c.index, bytes: c.bytes, natural: c.naturalBottleneck, accuracy: r.accuracy, correct: r.correct, agreement: agree / set.n, ms: performance.now() - t });
}
const accs = rows.map((r) => r.accuracy);
const slow = rows.map((r) => r.ms / wholeMs).sort((x, y) => x - y);
console.log(`split at all ${rows.length} cuts: top-1 min ${(Math.min(...accs) * 100).toFixed(2)}%, max ${(Math.max(...accs) * 100).toFixed(2)}%; agreement with unsplit min ${(Math.min(...rows.map((r) => r.agreement)) * 100).toFixed(2)}%`);
console.log(`time per split configuration vs unsplit (same run): median ${slow[Math.floor(slow.length / 2)].toFixed(2)}x, max ${slow.at(-1).toFixed(2)}x (includes creating the two sessions)`);
console.log("natural bottlenecks:");
for (const r of rows.filter((x) => x.natural)) console.log(`  cut ${String(r.index).padStart(3)}  ${String(r.bytes).padStart(7)} bytes  top-1 ${(r.accuracy * 100).toFixed(2)}%`);
console.log(JSON.stringify({ bench: "cls-accuracy", n: set.n, unsplit: { accuracy: whole.accuracy, correct: whole.correct, ci95: whole.ci95 }, cuts: rows }));
