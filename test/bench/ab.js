// Benchmark driver (not a test): one benchmark of this tree against the same benchmark of
// another git revision, run alternately in one session (A B B A ...), so a shared, noisy
// machine's drift hits both alike. Every numeric cell of every table row the benchmark prints
// ("| label | x | y |" or "label | x | y") is matched by its row label and column, and the
// figures are reported as the median over rounds with the ratio this/baseline.
//
// Run: node test/bench/ab.js BENCH [--baseline REV] [--rounds N]
//   BENCH     a script in test/bench without .js (profiler, serve, ...)
//   REV       git revision to compare with (default HEAD~1); it is checked out once into
//             $TMPDIR/splitwatt-ab-<sha> and installed there with npm ci (addon and dist built)
//   N         rounds (default 2: A B B A)
// Env for the benchmark itself passes through (SPLITWATT_BENCH_SECONDS, SPLITWATT_BENCH_RUNS, ...).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const bench = args.find((a, i) => !a.startsWith("--") && !["--baseline", "--rounds"].includes(args[i - 1] ?? ""));
if (bench === undefined || !existsSync(join(root, "test/bench", `${bench}.js`))) {
  console.error("usage: node test/bench/ab.js BENCH [--baseline REV] [--rounds N]  (BENCH: a script in test/bench, e.g. profiler or serve)");
  process.exit(2);
}
const rounds = Number(opt("--rounds", "2"));
const rev = opt("--baseline", "HEAD~1");

const git = (...a) => {
  const r = spawnSync("git", a, { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${a.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout.trim();
};
const sha = git("rev-parse", rev);
const base = join(tmpdir(), `splitwatt-ab-${sha.slice(0, 12)}`);
if (!existsSync(join(base, "dist"))) {
  console.log(`preparing baseline ${rev} (${sha.slice(0, 12)}) in ${base}`);
  if (!existsSync(base)) git("worktree", "add", "--detach", base, sha);
  const r = spawnSync("npm", ["ci"], { cwd: base, stdio: "inherit" });
  if (r.status !== 0) throw new Error("npm ci in the baseline failed");
}
if (!existsSync(join(base, "test/bench", `${bench}.js`))) {
  console.error(`the baseline ${rev} has no test/bench/${bench}.js`);
  process.exit(2);
}

/** Rows of every table in a benchmark's output: label -> numbers, keyed by table position. */
function tables(text) {
  const rows = new Map();
  let table = 0;
  let inTable = false;
  for (const line of text.split("\n")) {
    if (!line.includes("|")) {
      if (inTable) table++;
      inTable = false;
      continue;
    }
    inTable = true;
    const cells = line.split("|").map((c) => c.trim());
    if (cells[0] === "") cells.shift();
    if (cells.at(-1) === "") cells.pop();
    const label = cells[0];
    if (label === undefined || label === "" || /^[-+:]+$/.test(label)) continue;
    const nums = cells.slice(1).map((c) => {
      const m = /^(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)\s*(%|x|ms|s|MiB|B)?$/i.exec(c);
      return m === null ? null : Number(m[1]);
    });
    if (nums.some((n) => n !== null)) rows.set(`${table}|${label}`, nums);
  }
  return rows;
}

function runOnce(dir) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(dir, "test/bench", `${bench}.js`)], { cwd: dir, encoding: "utf8", maxBuffer: 64 << 20, env: process.env });
  if (r.status !== 0) throw new Error(`${bench} in ${dir} failed: ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`);
  return { rows: tables(r.stdout), seconds: (performance.now() - t0) / 1000 };
}

const results = { this: [], baseline: [] };
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? ["baseline", "this"] : ["this", "baseline"];
  for (const which of order) {
    const r = runOnce(which === "this" ? root : base);
    results[which].push(r);
    console.log(`round ${i + 1}: ${which} done in ${r.seconds.toFixed(0)} s`);
  }
}

const median = (xs) => {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log("");
console.log(`${bench}: this tree (${git("rev-parse", "--short", "HEAD")}${git("status", "--porcelain") === "" ? "" : "+changes"}) vs ${rev} (${sha.slice(0, 12)}), median of ${rounds} runs each, run alternately`);
console.log("| row | column | baseline | this | this / baseline |");
console.log("|---|---|---|---|---|");
const keys = [...results.this[0].rows.keys()].filter((k) => results.baseline[0].rows.has(k));
for (const k of keys) {
  const width = results.this[0].rows.get(k).length;
  for (let c = 0; c < width; c++) {
    const a = median(results.baseline.map((r) => r.rows.get(k)?.[c] ?? null));
    const b = median(results.this.map((r) => r.rows.get(k)?.[c] ?? null));
    if (a === null || b === null) continue;
    console.log(`| ${k.split("|").slice(1).join("|")} | ${c + 1} | ${a} | ${b} | ${a === 0 ? "-" : (b / a).toFixed(3)} |`);
  }
}
const onlyThis = [...results.this[0].rows.keys()].filter((k) => !results.baseline[0].rows.has(k));
if (onlyThis.length > 0) console.log(`rows only this tree prints: ${onlyThis.map((k) => k.split("|").slice(1).join("|")).join("; ")}`);
