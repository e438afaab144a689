#!/usr/bin/env node
// Decision time per policy (not a test). For archives of 20 and 200 configurations, each with
// the most latency samples a pareto file keeps (256) and per-part data, every policy decides
// for a stream of requests whose deadline, bandwidth, server wait and current configuration
// change every time (nothing can be cached between decisions); each decide() call is timed
// alone. The full state is what the daemon passes: its link, server and device estimates and its
// own recent runs of the all-on-device configurations (30 each). Half the configurations run their head on webgpu, with measured switch costs (a
// switch to webgpu 300 ms, to cpu 5 ms) and a CPU-frequency switch of 0.5 ms / 1 mJ, so the
// policies that count switches (splitwatt, neurosurgeon) price them in every decision. Prints p50 / p99 / max per policy and size, and the same loop around a policy that
// does nothing (the timer's and the scheduler's floor on this machine). Targets (issue 13): p99 under 20 us for 20
// configurations and under 100 us for 200; DynaSplit's own selection took 4-9 ms median.
//
//   npx tsc -p tsconfig.json && npm run bench:decide
//   SPLITWATT_BENCH_DECISIONS=50000 npm run bench:decide
import { checkParetoFile, createPolicy, LocalRuns, localRunKey, mulberry32, MAX_LATENCY_SAMPLES, POLICY_NAMES } from "../../dist/index.js";

const DECISIONS = Number(process.env.SPLITWATT_BENCH_DECISIONS ?? "20000");
const SAMPLES = Number(process.env.SPLITWATT_BENCH_SAMPLES ?? String(MAX_LATENCY_SAMPLES));
// long: on a loaded 2-core machine the optimizing compiler needs many calls (and seconds) before the code is steady
const WARMUP = Number(process.env.SPLITWATT_BENCH_WARMUP ?? "50000");

/** A live-style archive of `n` distinct configurations: split 0..L x frequency x codec, each measured at 20 Mbit/s. */
function archive(n, seed) {
  const rnd = mulberry32(seed);
  const freqs = [600, 800, 1000, 1200, 1400, 1600, 1800];
  const codecs = ["raw", "fp16", "int8"];
  // the smallest model depth whose space holds n: L cuts x 7 frequencies x 3 codecs + 7 all-on-device
  let L = 1;
  while (L * freqs.length * codecs.length + freqs.length < n) L++;
  const remote = [];
  for (let split = 0; split < L; split++) for (const f of freqs) for (const codec of codecs) remote.push({ split, cpuFreqMHz: f, codec });
  const local = freqs.map((f) => ({ split: L, cpuFreqMHz: f, codec: "raw" }));
  // every all-on-device configuration, and the rest evenly spread over the others (split 0 included)
  const k = n - local.length;
  const configs = [...Array.from({ length: k }, (_, i) => remote[Math.floor((i * remote.length) / k)]), ...local];
  const entries = configs.map((c, i) => {
    const config = { ...c, deviceTarget: i % 2 === 0 ? "cpu" : "webgpu" };
    const local = config.split === L;
    const head = config.split === 0 ? 0 : (config.split / L) * (400 * (1800 / config.cpuFreqMHz)) * (0.8 + 0.4 * rnd());
    const bytes = local ? 0 : Math.round(600_000 * (1 - config.split / (L + 1)) * (config.codec === "raw" ? 1 : config.codec === "fp16" ? 0.5 : 0.25));
    const transfer = local ? 0 : 10 + (bytes * 8) / 20_000;
    const server = local ? 0 : 20 + 60 * (1 - config.split / L);
    const mean = head + transfer + server;
    const samples = Array.from({ length: SAMPLES }, () => mean * (0.85 + 0.3 * rnd())).sort((a, b) => a - b);
    const device = (head / 1000) * (1 + config.cpuFreqMHz / 1800) + ((transfer + server) / 1000) * 0.8;
    const network = local ? 0 : (transfer / 1000) * 1.2;
    const serverJ = local ? 0 : (server / 1000) * 60;
    return {
      config,
      key: null,
      latencyMs: mean,
      latency: { p50: null, p95: null, p99: null, max: samples.at(-1), n: 300, samples },
      breakdownMs: { head, encode: 0, transfer, server, decode: 0 },
      bytes,
      wireBytes: bytes,
      energyJ: { device, network, server: serverJ, total: device + network + serverJ },
      energySource: { device: "estimate", network: "estimate", server: "estimate" },
      accuracy: { value: config.codec === "int8" ? 0.89 : 0.9, n: 400, ci95: null },
      conditions: { network: null, bandwidthMbps: local ? null : 20, measuredBandwidthMbps: null, rttMs: local ? null : 10, serverWaitMs: local ? null : 0, link: null, server: null, deviceIdleW: 0.8, radio: null },
      switchCost: { acceleratorMs: config.deviceTarget === "webgpu" ? 300 : 5, gpuFreqMs: null },
    };
  });
  const dominated = (a, b) => b.latencyMs <= a.latencyMs && b.energyJ.total <= a.energyJ.total && (b.latencyMs < a.latencyMs || b.energyJ.total < a.energyJ.total);
  const doc = {
    version: 2,
    generatedAt: new Date(0).toISOString(),
    mode: "live",
    source: { bench: true },
    model: "bench",
    network: null,
    space: {
      dimensions: [
        { name: "split", values: Array.from({ length: L + 1 }, (_, i) => i), ordered: true },
        { name: "cpuFreqMHz", values: freqs, ordered: true },
        { name: "codec", values: codecs, ordered: false },
        { name: "deviceTarget", values: ["cpu", "webgpu"], ordered: false },
      ],
      validConfigurations: null,
    },
    objectives: ["latency", "energy"],
    latencyStat: "mean",
    constraints: { maxLatencyMs: null, minAccuracy: null },
    algorithm: "exhaustive",
    memetic: false,
    populationSize: 2,
    seed: 1,
    budget: n,
    evaluations: n,
    cachedEvaluations: 0,
    unevaluable: 0,
    generations: 0,
    aborted: false,
    hypervolume: 0,
    hypervolumeReference: { normalisation: "feasible-evaluated-ideal-nadir", objectiveSpace: [], ideal: null, nadir: null, reference: [1.1, 1.1] },
    front: entries.filter((a) => !entries.some((b) => dominated(a, b))),
    archive: entries,
  };
  const r = checkParetoFile(doc);
  if (!r.ok) throw new Error(`bench archive is invalid: ${r.reason}`);
  return { doc: r.value, fileVersion: 2, perPart: true, warnings: [] };
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

function bench(policy, file, seed, partialLink) {
  const rnd = mulberry32(seed);
  // the daemon's own recent runs of every all-on-device configuration (30 each), as it passes them
  const runs = new LocalRuns();
  for (const e of file.doc.archive.filter((x) => x.bytes === 0)) for (let k = 0; k < 30; k++) runs.observe(localRunKey(e.config), 0, e.latencyMs * (0.8 + 0.4 * rnd()));
  const observedLocal = runs.snapshot(0);
  const configs = file.doc.archive.map((e) => e.config);
  const times = new Float64Array(DECISIONS);
  let current = null;
  let sink = 0;
  for (let i = -WARMUP; i < DECISIONS; i++) {
    const request = { deadlineMs: 50 + 1500 * rnd(), minAccuracy: rnd() < 0.2 ? 0.895 : undefined };
    // the full link is what the daemon passes: its estimates of the link and the server, and of the device (head scale, how much heads and the link vary)
    const link = partialLink
      ? { bandwidthMbps: 2 + 100 * rnd() }
      : { bandwidthMbps: 2 + 100 * rnd(), rttMs: 5 + 20 * rnd(), serverWaitMs: 30 * rnd(), headScale: 1 + 0.5 * rnd(), headCv: 0.3 * rnd(), bandwidthCv: 0.5 * rnd() };
    const state = { nowMs: i, link, serverUp: rnd() > 0.05, current, ...(partialLink ? {} : { observedLocal }) };
    const t0 = process.hrtime.bigint();
    const d = policy.decide(request, state);
    const t1 = process.hrtime.bigint();
    if (i >= 0) times[i] = Number(t1 - t0) / 1000;
    sink += d.index;
    // the device follows the decision most of the time, sometimes something else runs
    current = rnd() < 0.9 ? d.entry.config : configs[Math.floor(rnd() * configs.length)];
  }
  const sorted = Array.from(times).sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1), sink };
}

const rows = [];
// the timer's own floor on this machine: the same loop around a policy that does nothing
{
  const file = archive(20, 20);
  const noop = { name: "no-op", candidates: [file.doc.archive[0]], decide: () => ({ index: 0, entry: file.doc.archive[0] }) };
  rows.push({ n: 0, label: "no-op (timer and scheduling floor)", candidates: 1, ...bench(noop, file, 7, false) });
}
for (const n of [20, 200]) {
  const file = archive(n, n);
  const staticConfig = file.doc.archive.find((e) => e.accuracy.value >= 0.9).config;
  const cases = [
    // the benchmark baselines (static-fastest, static-min-energy, random) are not daemon policies: bench:replay times them
    ...POLICY_NAMES.filter((name) => !["static-fastest", "static-min-energy", "random"].includes(name)).map((name) => ({ label: name, name, partial: false })),
    { label: "splitwatt, link partly unknown", name: "splitwatt", partial: true },
  ];
  for (const c of cases) {
    const policy = createPolicy(c.name, file, { switchCost: { timeMs: 0.5, energyJ: 0.001 }, ...(c.name === "static" ? { config: staticConfig } : {}) });
    const r = bench(policy, file, 7, c.partial);
    rows.push({ n, label: c.label, candidates: policy.candidates.length, ...r });
  }
}

const target = (n) => (n === 20 ? 20 : 100);
console.log(`decide() time per policy, ${DECISIONS} timed decisions each after ${WARMUP} warm-up (Node ${process.version}); ${SAMPLES} latency samples per configuration`);
console.log("");
console.log("| archive | policy | candidates | p50 us | p99 us | max us | p99 target |");
console.log("| ---: | --- | ---: | ---: | ---: | ---: | --- |");
for (const r of rows) {
  if (r.n === 0) {
    console.log(`| - | ${r.label} | - | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} | - |`);
    continue;
  }
  const t = target(r.n);
  console.log(`| ${r.n} | ${r.label} | ${r.candidates} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} | < ${t} us: ${r.p99 < t ? "met" : "NOT met"} |`);
}
