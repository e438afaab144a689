// Benchmark (not a test): time and peak memory of `inspect` and of splitting VGG16 (224x224,
// ~550 MB of weights) at every cut, each in a fresh process, side by side with copying the
// model file (the floor any split that writes every weight once must pay).
// Run: npm run bench:split   (env SPLITWATT_BENCH_MODEL=name to use another zoo model)
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const name = process.env.SPLITWATT_BENCH_MODEL ?? "vgg16";
const api = JSON.stringify(pathToFileURL(join(root, "dist", "index.js")).href);

function child(code) {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").at(-1));
}

const built = child(`
  import { zooPath } from ${api};
  const t = performance.now();
  const path = await zooPath(${JSON.stringify(name)}, {});
  console.log(JSON.stringify({ path, ms: performance.now() - t, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
`);
const sizeMB = statSync(built.path).size / 2 ** 20;
console.log(`model ${name}: ${built.path} (${sizeMB.toFixed(0)} MiB; built or found in ${(built.ms / 1000).toFixed(1)} s)`);

const out = mkdtempSync(join(tmpdir(), "sw-bench-split-"));
try {
  const t0 = performance.now();
  copyFileSync(built.path, join(out, "copy.onnx"));
  const copyMs = performance.now() - t0;
  rmSync(join(out, "copy.onnx"));

  const inspect = child(`
    import { loadModel, analyzeModel } from ${api};
    const t = performance.now();
    const a = await analyzeModel(loadModel(${JSON.stringify(built.path)}));
    console.log(JSON.stringify({ ms: performance.now() - t, cuts: a.cuts.length, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  `);

  const split = child(`
    import { rmSync } from "node:fs";
    import { join } from "node:path";
    import { loadModel, saveModel, analyzeModel, splitModel } from ${api};
    const t0 = performance.now();
    const a = await analyzeModel(loadModel(${JSON.stringify(built.path)}));
    const loadMs = performance.now() - t0;
    const per = [];
    for (const c of a.cuts) {
      const t = performance.now();
      const { head, tail } = splitModel(a, c.index);
      let bytes = 0;
      if (head) { bytes += saveModel(head, join(${JSON.stringify(out)}, "head.onnx")); }
      if (tail) { bytes += saveModel(tail, join(${JSON.stringify(out)}, "tail.onnx")); }
      per.push({ index: c.index, ms: performance.now() - t, bytes });
      rmSync(join(${JSON.stringify(out)}, "head.onnx"), { force: true });
      rmSync(join(${JSON.stringify(out)}, "tail.onnx"), { force: true });
    }
    console.log(JSON.stringify({ loadMs, per, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
  `);

  const ms = split.per.map((p) => p.ms).sort((a, b) => a - b);
  const median = ms[Math.floor(ms.length / 2)];
  const max = ms.at(-1);
  console.log("");
  console.log("what                                   | time            | peak RSS  | ratio");
  console.log("---------------------------------------+-----------------+-----------+---------------------------");
  console.log(`copy the model file (floor)            | ${(copyMs / 1000).toFixed(2).padStart(7)} s       |     -     | 1.00x`);
  console.log(`inspect (load + cut points)            | ${(inspect.ms / 1000).toFixed(2).padStart(7)} s       | ${inspect.maxRssMB.toFixed(0).padStart(5)} MiB | ${(inspect.ms / copyMs).toFixed(2)}x copy, RSS ${(inspect.maxRssMB / sizeMB).toFixed(2)}x model`);
  console.log(`split one cut (median of ${String(ms.length).padStart(2)}, write both) | ${(median / 1000).toFixed(2).padStart(7)} s       |           | ${(median / copyMs).toFixed(2)}x copy`);
  console.log(`split one cut (slowest)                | ${(max / 1000).toFixed(2).padStart(7)} s       |           | ${(max / copyMs).toFixed(2)}x copy`);
  console.log(`split at every cut (one process)       | ${((split.loadMs + ms.reduce((a, b) => a + b, 0)) / 1000).toFixed(2).padStart(7)} s       | ${split.maxRssMB.toFixed(0).padStart(5)} MiB | RSS ${(split.maxRssMB / sizeMB).toFixed(2)}x model`);
  console.log("");
  console.log(JSON.stringify({ bench: "split", model: name, modelMiB: sizeMB, copyMs, inspect, split: { loadMs: split.loadMs, medianMs: median, maxMs: max, cuts: ms.length, maxRssMB: split.maxRssMB } }));
} finally {
  rmSync(out, { recursive: true, force: true });
}
