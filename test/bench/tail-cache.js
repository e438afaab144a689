// Benchmark (not a test): what `serve --cache-mb` bounds and what the server's memory really is.
// One tail server process per cache setting serves tails of a zoo model (every `step`-th cut,
// batch 1, one request each, in cut order) and reports its resident memory: after the model is
// analysed (before any session), the peak, and at the end, next to what the cache counts
// (serialized ONNX bytes of the tails whose sessions it keeps loaded).
// Run: npm run bench:cache   (after npx tsc -p tsconfig.json)
// Env: SPLITWATT_BENCH_MODEL (resnet18), SPLITWATT_BENCH_CACHE_MB ("1,64,1024"), SPLITWATT_BENCH_TAILS (35).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(import.meta.url);
const root = resolve(dirname(here), "../..");
const dist = (p) => import(pathToFileURL(join(root, "dist", p)).href);
const MiB = 1 << 20;

function memory() {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(s)[1]) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

async function child(model, cacheMb, tails) {
  const [{ TailServer }, { TailClient }, { splitModel }, { serializeModel }] = await Promise.all([
    dist("transport/tailServer.js"),
    dist("transport/tailClient.js"),
    dist("model/splitModel.js"),
    dist("model/onnxModel.js"),
  ]);
  const server = new TailServer({ models: { m: model }, port: 0, cacheBytes: cacheMb * MiB, energy: undefined });
  const url = await server.listen();
  const client = new TailClient({ url, timeoutMs: 300_000 });
  const a = await server.models.analysis("m");
  const afterAnalysis = memory();
  const last = a.cuts.length - 1;
  const step = Math.max(1, Math.round(last / tails));
  let served = 0;
  for (let cut = 0; cut < last; cut += step) {
    const name = `m.tail.${cut}`;
    const meta = await client.metadata(name);
    const inputs = meta.inputs.map((i) => {
      const shape = i.shape.map((d) => (d === -1 ? 1 : d));
      return { name: i.name, datatype: i.datatype, shape, data: new Float32Array(shape.reduce((x, y) => x * y, 1)).fill(0.1) };
    });
    await client.infer(name, inputs);
    served++;
  }
  const end = memory();
  const kept = server.models.loadedNames();
  const counted = kept.reduce((n, name) => n + serializeModel(splitModel(a, Number(name.split(".").pop())).tail).byteLength, 0);
  await client.close();
  await server.close();
  process.stdout.write(
    `${JSON.stringify({ model, cacheMb, weightsMiB: a.model.bytes.byteLength / MiB, served, kept: kept.length, countedMiB: counted / MiB, afterAnalysisMiB: afterAnalysis.rss / MiB, peakMiB: end.peak / MiB, endMiB: end.rss / MiB })}\n`,
  );
}

if (process.argv[2] === "--child") {
  await child(process.argv[3], Number(process.argv[4]), Number(process.argv[5]));
} else {
  const model = process.env.SPLITWATT_BENCH_MODEL ?? "resnet18";
  const caches = (process.env.SPLITWATT_BENCH_CACHE_MB ?? "1,64,1024").split(",").map(Number);
  const tails = Number(process.env.SPLITWATT_BENCH_TAILS ?? 35);
  console.log(`tail server memory vs --cache-mb: ${model}, ~${tails} tails at batch 1, one server process per setting`);
  console.log("cache MB | tails served | sessions kept | counted by the cache (MiB) | RSS after analysis | peak RSS | RSS at end (MiB)");
  for (const c of caches) {
    const r = spawnSync(process.execPath, [here, "--child", model, String(c), String(tails)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (r.status !== 0) throw new Error(`child for --cache-mb ${c} failed (${r.status})`);
    const j = JSON.parse(r.stdout.trim().split("\n").pop());
    const f = (x) => x.toFixed(0);
    console.log(`${c} | ${j.served} | ${j.kept} | ${f(j.countedMiB)} | ${f(j.afterAnalysisMiB)} | ${f(j.peakMiB)} | ${f(j.endMiB)}  (weights ${f(j.weightsMiB)} MiB)`);
  }
}
