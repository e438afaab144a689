#!/usr/bin/env node
// Cut tensor codec benchmark (not a test). For a 1 MiB and a 4 MiB float32 tensor shaped like a
// CNN cut tensor (NCHW ReLU output, ~50% zeros, spatially correlated, seeded), runs every codec x
// compression in one process and prints: compression ratio (fp32 bytes / wire bytes), encode and
// decode throughput in MB/s of fp32 input (1 MB = 1e6 bytes; median of repeated runs, after a
// warm-up, in interleaved rounds) also as a
// ratio to raw+none, and the max abs error of the round trip.
//
//   npx tsc -p tsconfig.json && node test/bench/codecs.js
//   SPLITWATT_BENCH_MS=1000 node test/bench/codecs.js      # time spent per measurement (default 300)
import * as os from "node:os";
import { mulberry32, CODEC_NAMES, COMPRESSIONS, codecName, decodeTensor, encodeTensor, DEFLATE_LEVEL, ZSTD_LEVEL } from "../../dist/index.js";

const MIN_MS = Number(process.env.SPLITWATT_BENCH_MS ?? "300");
if (!(MIN_MS > 0)) throw new Error(`SPLITWATT_BENCH_MS must be > 0 (got ${process.env.SPLITWATT_BENCH_MS})`);
const MIN_RUNS = 5;

const TENSORS = [
  { label: "1 MiB", shape: [1, 64, 64, 64], seed: 1 },
  { label: "4 MiB", shape: [1, 256, 64, 64], seed: 2 },
];


/**
 * A ReLU activation: per channel a smooth random field (a few 2-D sinusoids) plus pixel noise,
 * a per-channel gain (log-normal) and bias (centred at 0, so about half the values are <= 0),
 * then max(0, .).
 */
function reluActivation([n, c, h, w], seed) {
  const r = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const out = new Float32Array(n * c * h * w);
  let i = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const gain = Math.exp(0.7 * gauss());
      const bias = 0.3 * gauss();
      const waves = Array.from({ length: 4 }, () => ({ fx: r() * 0.4, fy: r() * 0.4, ph: r() * 2 * Math.PI, amp: 0.3 + r() }));
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          let v = bias + 0.35 * gauss();
          for (const { fx, fy, ph, amp } of waves) v += amp * Math.sin(fx * x + fy * y + ph) * 0.5;
          v *= gain;
          out[i++] = v > 0 ? v : 0;
        }
      }
    }
  }
  return out;
}

const ROUNDS = 3;

/** runs fn for at least `ms` (and MIN_RUNS calls), appending the ms of each call to `samples` */
function sample(fn, ms, samples) {
  const start = performance.now();
  for (let k = 0; k < MIN_RUNS || performance.now() - start < ms; k++) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const specs = CODEC_NAMES.flatMap((codec) => COMPRESSIONS.map((compression) => ({ codec, compression })));
const rows = [];
const notes = [];
for (const { label, shape, seed } of TENSORS) {
  const data = reluActivation(shape, seed);
  const mb = data.byteLength / 1e6;
  let zeros = 0;
  let max = 0;
  for (const x of data) {
    if (x === 0) zeros++;
    if (x > max) max = x;
  }
  notes.push(`${label} [${shape.join(",")}]: ${((100 * zeros) / data.length).toFixed(1)}% zeros, max ${max.toFixed(3)}`);
  const cells = specs.map((spec) => {
    const enc = encodeTensor(data, shape, spec);
    const dec = decodeTensor(enc.bytes, enc.datatype, enc.shape, enc.parameters);
    let err = 0;
    for (let i = 0; i < data.length; i++) {
      const e = Math.abs(data[i] - dec[i]);
      if (e > err) err = e;
    }
    return { spec, enc, err, encSamples: [], decSamples: [] };
  });
  // warm-up (JIT, allocator, wasm memory), then ROUNDS interleaved rounds over all codecs so that
  // drift in the machine's state is shared by every cell rather than landing on one
  for (const c of cells) sample(() => decodeTensor(c.enc.bytes, c.enc.datatype, c.enc.shape, c.enc.parameters), 0, []);
  for (const c of cells) sample(() => encodeTensor(data, shape, c.spec), 0, []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cells) {
      sample(() => encodeTensor(data, shape, c.spec), MIN_MS / ROUNDS, c.encSamples);
      sample(() => decodeTensor(c.enc.bytes, c.enc.datatype, c.enc.shape, c.enc.parameters), MIN_MS / ROUNDS, c.decSamples);
    }
  }
  let base;
  for (const c of cells) {
    const row = {
      label,
      name: codecName(c.spec),
      ratio: data.byteLength / c.enc.bytes.length,
      wireKiB: c.enc.bytes.length / 1024,
      enc: mb / (median(c.encSamples) / 1e3),
      dec: mb / (median(c.decSamples) / 1e3),
      err: c.err,
    };
    base ??= row;
    rows.push({ ...row, encRel: row.enc / base.enc, decRel: row.dec / base.dec });
  }
}

const cols = [
  ["tensor", (r) => r.label, "l"],
  ["codec", (r) => r.name, "l"],
  ["ratio", (r) => r.ratio.toFixed(2), "r"],
  ["wire KiB", (r) => r.wireKiB.toFixed(1), "r"],
  ["enc MB/s", (r) => r.enc.toFixed(0), "r"],
  ["enc x raw", (r) => r.encRel.toFixed(3), "r"],
  ["dec MB/s", (r) => r.dec.toFixed(0), "r"],
  ["dec x raw", (r) => r.decRel.toFixed(3), "r"],
  ["max abs err", (r) => (r.err === 0 ? "0" : r.err.toExponential(2)), "r"],
];
const cells = rows.map((r) => cols.map(([, f]) => f(r)));
const widths = cols.map(([h], j) => Math.max(h.length, ...cells.map((c) => c[j].length)));
const fmt = (vals) => `| ${vals.map((v, j) => (cols[j][2] === "l" ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join(" | ")} |`;

console.log(`cut tensor codecs: node ${process.version}, ${os.cpus()[0]?.model ?? "cpu?"} x${os.cpus().length}, deflate level ${DEFLATE_LEVEL}, zstd level ${ZSTD_LEVEL} (wasm), median over >= ${MIN_MS} ms per cell in ${ROUNDS} interleaved rounds`);
for (const n of notes) console.log(`  ${n}`);
console.log("  ratio = fp32 bytes / wire bytes; MB/s of fp32 input (1 MB = 1e6 B); x raw = relative to raw+none of the same tensor");
console.log("");
console.log(fmt(cols.map(([h]) => h)));
console.log(`|${widths.map((w, j) => (cols[j][2] === "l" ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`);
for (const c of cells) console.log(fmt(c));
