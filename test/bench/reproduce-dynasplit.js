#!/usr/bin/env node
// The DynaSplit reproduction (not a test): `splitwatt bench --reproduce dynasplit` over their
// data with optimize seeds 1-5, the table it prints, and the splitwatt policy's target on the
// 10,000-request VGG16 trace: at most 110 missed at a mean energy of at most 33.5 J per
// inference, median over the 5 optimize seeds (archives found within 184 evaluations): as
// `bench --replay` runs it on a front from the same pool (the archive's samples are the replay's
// whole distribution, --min-samples 1), and with the daemon's small-sample guard ("guarded").
//
//   npx tsc -p tsconfig.json && node test/bench/reproduce-dynasplit.js [DATA_DIR]
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const data = process.argv[2] ?? fileURLToPath(new URL("../../../shared/data/dynasplit/", import.meta.url));
const seeds = process.env.SPLITWATT_BENCH_SEEDS ?? "1,2,3,4,5";
const dir = mkdtempSync(join(tmpdir(), "sw-reproduce-"));
try {
  const t0 = performance.now();
  const args = ["bench", "--reproduce", "dynasplit", "--data", data, "--seeds", seeds, "--out", dir];
  const table = spawnSync(process.execPath, [join(repo, "bin/splitwatt.js"), ...args], { encoding: "utf8", cwd: repo, env: { ...process.env, CI: "true" } });
  const json = spawnSync(process.execPath, [join(repo, "bin/splitwatt.js"), ...args, "--json"], { encoding: "utf8", cwd: repo, env: { ...process.env, CI: "true" } });
  if (table.status !== 0 || json.status !== 0) throw new Error(table.stderr || json.stderr);
  process.stdout.write(table.stdout);
  console.log(`(${((performance.now() - t0) / 2000).toFixed(1)} s per reproduction)\n`);
  const { rows } = JSON.parse(json.stdout);
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  for (const name of ["splitwatt", "splitwatt, guarded", "dynasplit"]) {
    const r = rows.find((x) => x.model === "vgg16" && x.requests === 10000 && x.strategy === name);
    const missed = median(r.missed);
    const energy = median(r.energyJ);
    const ok = missed <= 110 && energy <= 33.5;
    console.log(`target (VGG16, 10,000 requests, median of seeds ${seeds}): ${name}: ${missed} missed at ${energy.toFixed(2)} J -> ${ok ? "met" : "not met"} (<= 110 missed at <= 33.5 J)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
