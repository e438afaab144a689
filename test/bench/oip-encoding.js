#!/usr/bin/env node
// Open Inference Protocol wire-format benchmark (not a test): binary tensor data extension vs
// JSON "data" arrays, for one FP32 input of 1 MiB and 4 MiB (seeded values), encode and decode
// measured side by side in one run. Throughput is tensor payload (MiB of FP32) per second.
//
//   npx tsc -p tsconfig.json && node test/bench/oip-encoding.js
//   SPLITWATT_BENCH_SECONDS=1 node test/bench/oip-encoding.js   # time budget per cell (default 2)
import { mulberry32, decodeInferRequest, encodeInferRequest } from "../../dist/index.js";

const BUDGET_S = Number(process.env.SPLITWATT_BENCH_SECONDS ?? "2");
if (!(BUDGET_S > 0)) throw new Error(`SPLITWATT_BENCH_SECONDS must be > 0 (got ${process.env.SPLITWATT_BENCH_SECONDS})`);
const MIB = 1 << 20;
const LIMITS = { maxTensorBytes: 64 * MIB, maxTensors: 8 };


/** Activation-like values: roughly normal, post-ReLU (about half are exactly 0). */
function tensor(mib, seed) {
  const rnd = mulberry32(seed);
  const n = (mib * MIB) / 4;
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const g = (rnd() + rnd() + rnd() + rnd() - 2) * 1.7;
    data[i] = g > 0 ? g : 0;
  }
  return { name: "activation", datatype: "FP32", shape: [1, n / 256, 16, 16], data };
}

function concat(body) {
  return Array.isArray(body) ? Buffer.concat(body) : body;
}

/** One memcpy of the chunks into a preallocated buffer: what a writer without writev adds. */
function copyInto(dst, body) {
  let off = 0;
  for (const c of Array.isArray(body) ? body : [body]) {
    dst.set(c, off);
    off += c.length;
  }
  return dst;
}

const lower = (h) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));

/** Median seconds per call of fn, after a warm-up, within about BUDGET_S. */
function time(fn) {
  for (let i = 0; i < 2; i++) fn();
  const samples = [];
  const end = performance.now() + BUDGET_S * 1000;
  while (samples.length < 5 || (performance.now() < end && samples.length < 2000)) {
    const t0 = performance.now();
    fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] / 1000;
}

function sameData(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

const rows = [];
for (const mib of [1, 4]) {
  const t = tensor(mib, 0x5eed + mib);
  const req = { id: "bench", inputs: [t], outputs: [{ name: "logits", binary: true }] };
  const cells = {};
  for (const binary of [true, false]) {
    const e = encodeInferRequest(req, { binary });
    const body = concat(e.body);
    const headers = lower(e.headers);
    const back = decodeInferRequest(body, headers, LIMITS);
    const dst = new ArrayBuffer(body.length);
    if (!sameData(back.inputs[0].data, t.data)) throw new Error(`${binary ? "binary" : "JSON"} round trip changed the data`);
    cells[binary ? "binary" : "json"] = {
      wire: body.length,
      enc: time(() => encodeInferRequest(req, { binary })),
      encCopy: binary ? time(() => copyInto(new Uint8Array(dst), encodeInferRequest(req, { binary }).body)) : undefined,
      dec: time(() => decodeInferRequest(body, headers, LIMITS)),
    };
  }
  rows.push({ mib, ...cells });
}

const f = (x, w = 9) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)).padStart(w);
const mbps = (mib, s) => mib / s;
console.log(`OIP wire format, one FP32 input, node ${process.version}, median of runs within ${BUDGET_S} s per cell; MiB/s of tensor payload`);
console.log("");
console.log("tensor | form   | wire bytes    | encode MiB/s | encode+copy MiB/s | decode MiB/s");
console.log("-------|--------|---------------|--------------|-------------------|-------------");
for (const r of rows) {
  for (const [form, c] of [["binary", r.binary], ["JSON", r.json]]) {
    const encCopy = c.encCopy === undefined ? "-".padStart(17) : f(mbps(r.mib, c.encCopy), 17);
    console.log(`${`${r.mib} MiB`.padEnd(6)} | ${form.padEnd(6)} | ${String(c.wire).padStart(13)} | ${f(mbps(r.mib, c.enc), 12)} | ${encCopy} | ${f(mbps(r.mib, c.dec), 12)}`);
  }
  console.log(
    `${`${r.mib} MiB`.padEnd(6)} | ratio  | ${`x${(r.json.wire / r.binary.wire).toFixed(2)} smaller`.padStart(13)} | ${`x${(r.json.enc / r.binary.enc).toFixed(0)}`.padStart(12)} | ${`x${(r.json.enc / r.binary.encCopy).toFixed(0)}`.padStart(17)} | ${`x${(r.json.dec / r.binary.dec).toFixed(0)}`.padStart(12)}`,
  );
}
console.log("");
console.log("ratio = binary / JSON (throughput) and JSON / binary (wire size). Binary encode returns [header, view of the tensor]");
console.log("for writev (no copy); encode+copy adds one memcpy into a preallocated buffer, as a writer without writev would. Binary decode");
console.log("returns a Float32Array view into the body (the header is padded so the data is 8-byte aligned).");
