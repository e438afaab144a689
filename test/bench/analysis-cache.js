// Benchmark (not a test): wall time of `splitwatt inspect` and `splitwatt split` (with its
// check) on PP-OCR det at 640x640, cold (empty analysis cache: the shape probe runs) and warm
// (the cache written by the cold run), each in a fresh process, cold and warm interleaved.
// Run: npm run bench:analysis   (env SPLITWATT_BENCH_MODEL=paddle:rec, SPLITWATT_BENCH_ROUNDS=2, SPLITWATT_BENCH_CUT=128)
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const model = process.env.SPLITWATT_BENCH_MODEL ?? "paddle:det";
const rounds = Number(process.env.SPLITWATT_BENCH_ROUNDS ?? "2");
const cut = process.env.SPLITWATT_BENCH_CUT ?? "128";
const work = mkdtempSync(join(tmpdir(), "sw-bench-analysis-"));

function timed(args, state) {
  const t = performance.now();
  const r = spawnSync(process.execPath, [join(root, "bin/splitwatt.js"), ...args], { encoding: "utf8", maxBuffer: 64 << 20, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: state } });
  if (r.status !== 0) throw new Error(`splitwatt ${args.join(" ")} failed: ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

const rows = { "inspect cold": [], "inspect warm": [], "split cold": [], "split warm": [], "split warm --no-verify": [] };
try {
  for (let i = 0; i < rounds; i++) {
    const a = join(work, `inspect-${i}`);
    rows["inspect cold"].push(timed(["inspect", model], a));
    rows["inspect warm"].push(timed(["inspect", model], a));
    const s = join(work, `split-${i}`);
    const out = join(work, "out");
    rows["split cold"].push(timed(["split", model, "--at", cut, "--out", out], s));
    rows["split warm"].push(timed(["split", model, "--at", cut, "--out", out], s));
    rows["split warm --no-verify"].push(timed(["split", model, "--at", cut, "--out", out, "--no-verify"], s));
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
console.log(`${model}, ${rounds} rounds (s per run, in round order)`);
for (const [k, v] of Object.entries(rows)) console.log(`${k.padEnd(24)} ${v.map((x) => x.toFixed(2)).join("  ")}`);
const ratio = (c, w) => rows[c].map((x, i) => (x / rows[w][i]).toFixed(1)).join("  ");
console.log(`inspect cold/warm        ${ratio("inspect cold", "inspect warm")}`);
console.log(`split cold/warm          ${ratio("split cold", "split warm")}`);
