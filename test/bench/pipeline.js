// Benchmark (not a test): pipelined split execution (issue 15) on this machine, with a shaped
// link to a local tail server child (kernel netns + tbf as root, else the client's token bucket).
//
//  1. Per model (PaddleOCR's classifier and two zoo models): throughput of serial split
//     execution, of the pipeline at b_d = b_s = 1, and of the pipeline at the best (b_d, b_s) of
//     a small grid, each as a fraction of the bottleneck-stage bound measured in the same run
//     (each stage alone on calibration items: head incl. encode/decode, link time minus RTT,
//     server compute; the median over batches), and the pipeline's speed-up over serial; "as run":
//     the same bound with the head and tail stages as they ran in the stream itself (on this one
//     host they slow each other down; the link's figure is the one measured alone).
//     Heads run on one thread (the device thread, off the event loop, as `splitwatt run` and the
//     daemon run them) and tails on one thread in the server child (two "machines" of one core
//     each on this 2-core host). The pipeline at 1/1 also runs with its heads on the event loop
//     (onnxruntime-node computes on the calling thread), side by side, to show what the device
//     thread buys.
//     Balancing: for the zoo models the cut is the natural bottleneck whose head and tail times
//     (one thread each, measured here first) are closest, and the link rate is set so that the
//     cut tensor's transfer takes as long as the slower of the two: all three stages about equal.
//     PaddleOCR's classifier runs at its natural bottleneck cut 27 over the wifi-20mbps profile,
//     where the link is the bottleneck (an unbalanced case).
//     The modes are interleaved in rounds (A B C, then C B A) and every figure is a ratio within
//     one run, because the machine is shared and noisy.
//  2. Server-side batching: requests/s of 16 concurrent clients against a tail server child
//     with --max-batch 1, 4 and 8 (one onnxruntime call at a time), interleaved (1 4 8 8 4 1).
//
// Run: npm run bench:pipeline   (after npx tsc -p tsconfig.json)
// Env: SPLITWATT_BENCH_MODELS (paddle:cls,mobilenet_v2,resnet18), SPLITWATT_BENCH_SECONDS (4: per
//      measured run), SPLITWATT_BENCH_ROUNDS (2), SPLITWATT_BENCH_BATCH_SECONDS (6),
//      SPLITWATT_BENCH_BATCH_MODEL (mobilenet_v2).
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const api = await import(pathToFileURL(join(root, "dist", "index.js")).href);
const {
  resolveModel,
  analyzeModel,
  loadModel,
  SplitExecutor,
  PipelineExecutor,
  modelInputs,
  parseCodec,
  stageTimesOf,
  streamRun,
  TailConnection,
  networkProfile,
  EnergyMeter,
  LocalTailServer,
  TailClient,
  DeviceThread,
} = api;

const MODELS = (process.env.SPLITWATT_BENCH_MODELS ?? "paddle:cls,mobilenet_v2,resnet18").split(",");
const SECONDS = Number(process.env.SPLITWATT_BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.SPLITWATT_BENCH_ROUNDS ?? 2);
const BATCH_SECONDS = Number(process.env.SPLITWATT_BENCH_BATCH_SECONDS ?? 6);
const BATCH_MODEL = process.env.SPLITWATT_BENCH_BATCH_MODEL ?? "mobilenet_v2";
const ONE = { kind: "cpu", threads: 1 };
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const f = (x, d = 2) => (x === null || x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(d));
const log = (s) => process.stderr.write(`${s}\n`);

async function open(spec) {
  const r = await resolveModel(spec);
  return { spec, path: r.path, a: await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes }) };
}

/** Head and tail per item at a cut, each alone on one thread, no link (for choosing a balanced cut). */
async function localStages(a, cut, items) {
  const x = await SplitExecutor.open(a, { cut, codec: parseCodec("raw"), deviceTarget: ONE, tail: { kind: "local", target: ONE } });
  try {
    const p = new PipelineExecutor(x, { deviceBatch: 1, serverBatch: 1 });
    await p.stagesAlone(items.slice(0, 2));
    return stageTimesOf((await p.stagesAlone(items)).samples, 0);
  } finally {
    await x.release();
  }
}

/** The setting of one model: its cut and link (balanced for the zoo models, see the header). */
async function setting(m) {
  const wifi = networkProfile("wifi-20mbps");
  if (m.spec === "paddle:cls") return { cut: 27, network: wifi, why: "natural bottleneck 27 over wifi-20mbps (link-bound)" };
  const items = Array.from({ length: 10 }, (_, i) => modelInputs(m.a, { seed: 2, sample: i }));
  const L = m.a.cuts.length - 1;
  let best = null;
  for (const c of m.a.cuts.filter((c) => c.naturalBottleneck && c.index > 0 && c.index < L && c.tensors.length === 1)) {
    const s = await localStages(m.a, c.index, items);
    const skew = Math.max(s.head, s.tail) / Math.max(1e-6, Math.min(s.head, s.tail));
    log(`  ${m.spec} cut ${c.index}: head ${f(s.head)} ms, tail ${f(s.tail)} ms, ${c.bytes} bytes (skew ${f(skew)})`);
    if (best === null || skew < best.skew) best = { cut: c.index, s, skew, bytes: c.bytes };
  }
  const slower = Math.max(best.s.head, best.s.tail);
  const mbps = (best.bytes * 8) / (slower * 1000);
  const network = { ...wifi, name: "bench-balanced", uplinkMbps: +mbps.toFixed(2), downlinkMbps: Math.max(+mbps.toFixed(2), 20) };
  return { cut: best.cut, network, why: `cut ${best.cut} (head ${f(best.s.head)} / tail ${f(best.s.tail)} ms alone), link ${f(mbps, 1)} Mbit/s so the ${best.bytes}-byte cut tensor takes ${f(slower)} ms` };
}

async function benchModel(spec, meter) {
  const m = await open(spec);
  log(`${spec}: choosing the setting`);
  const st = await setting(m);
  log(`${spec}: ${st.why}`);
  const conn = await TailConnection.open({ modelPath: m.path, inputShapes: m.a.inputShapes, network: st.network, link: "auto", connections: 32, target: "cpu:1", maxConcurrency: 1 });
  // heads on the device thread (as splitwatt run and the daemon do), and, for comparison, on the event loop
  const thread = new DeviceThread();
  const x = await SplitExecutor.open(m.a, { cut: st.cut, codec: parseCodec("raw"), deviceTarget: ONE, deviceThread: thread, tail: { kind: "remote", client: conn.client, model: "model" }, label: spec });
  const onLoop = await SplitExecutor.open(m.a, { cut: st.cut, codec: parseCodec("raw"), deviceTarget: ONE, tail: { kind: "remote", client: conn.client, model: "model" }, label: spec });
  const distinct = Array.from({ length: 16 }, (_, i) => modelInputs(m.a, { seed: 5, sample: i }));
  const stream = (n) => Array.from({ length: n }, (_, i) => distinct[i % distinct.length]);
  try {
    const { totalMs: rttMs, networkMs: networkRttMs } = await conn.roundTrip();
    // warm-up, and a first estimate of the time per item to size the runs
    const warm = await streamRun(stream(24), { executor: x, deviceBatch: 1, serverBatch: 1, rttMs, networkRttMs, calibration: stream(8) });
    await streamRun(stream(8), { executor: onLoop, deviceBatch: 1, serverBatch: 1, rttMs, networkRttMs });
    const perItemMs = 1000 / Math.max(1, warm.throughputPerS);
    const items = (speedup) => Math.max(48, Math.min(3000, Math.round(((SECONDS * 1000) / perItemMs) * speedup)));
    const run = (bd, bs, serial, n, executor = x) =>
      streamRun(stream(n), { executor, deviceBatch: bd, serverBatch: bs, serial, rttMs, networkRttMs, calibration: serial ? undefined : stream(Math.max(16, 4 * Math.max(bd, bs))), meter });
    // the best (bd, bs) of a small grid, short runs
    let best = { bd: 1, bs: 1, tp: 0 };
    for (const bd of [1, 2, 4]) {
      for (const bs of [1, 2, 4, 8]) {
        const r = await run(bd, bs, false, Math.max(32, Math.round(items(1) / 3)));
        log(`  grid bd ${bd} bs ${bs}: ${f(r.throughputPerS, 1)} items/s (bound ${f(r.boundPerS, 1)})`);
        if (r.throughputPerS > best.tp) best = { bd, bs, tp: r.throughputPerS };
      }
    }
    const modes = [
      { name: "serial", bd: 1, bs: 1, serial: true },
      { name: "pipelined 1/1, heads on the event loop", bd: 1, bs: 1, serial: false, executor: onLoop },
      { name: "pipelined 1/1", bd: 1, bs: 1, serial: false },
      { name: `pipelined ${best.bd}/${best.bs}`, bd: best.bd, bs: best.bs, serial: false },
    ];
    const results = new Map(modes.map((d) => [d.name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? modes : [...modes].reverse();
      for (const d of order) {
        const r = await run(d.bd, d.bs, d.serial, items(d.serial ? 0.5 : 1.5), d.executor ?? x);
        results.get(d.name).push(r);
        log(`  ${d.name}: ${r.items} items, ${f(r.throughputPerS, 1)} items/s, bound ${f(r.boundPerS, 1)} (${f(r.throughputPerS / r.boundPerS)}), as run ${f(r.boundInRunPerS, 1)} (${f(r.throughputPerS / r.boundInRunPerS)}) ${r.stagesInRunMs === null ? "" : `${f(r.stagesInRunMs.head)}/${f(r.stagesInRunMs.transfer)}/${f(r.stagesInRunMs.tail)}`}, in flight ${r.tailConcurrency}`);
      }
    }
    const serialTp = median(results.get("serial").map((r) => r.throughputPerS));
    const rows = modes.map((d) => {
      const rs = results.get(d.name);
      const tp = median(rs.map((r) => r.throughputPerS));
      return {
        model: spec,
        mode: d.name,
        bd: d.bd,
        bs: d.bs,
        inFlight: rs[0].tailConcurrency,
        throughputPerS: tp,
        boundPerS: median(rs.map((r) => r.boundPerS)),
        ofBound: median(rs.map((r) => r.throughputPerS / r.boundPerS)),
        ofBoundAsRun: median(rs.map((r) => (r.boundInRunPerS === null ? NaN : r.throughputPerS / r.boundInRunPerS))),
        xSerial: tp / serialTp,
        stagesMs: rs[0].stagesMs,
        energyPerItemJ: median(rs.map((r) => r.energyPerItemJ ?? NaN)),
      };
    });
    return { spec, setting: st.why, link: conn.linkLabel, rows };
  } finally {
    await x.release();
    await onLoop.release();
    await thread.close();
    await conn.close();
  }
}

async function benchServerBatching() {
  const m = await open(BATCH_MODEL);
  const cut = m.a.cuts.find((c) => c.naturalBottleneck && c.index > m.a.cuts.length / 2 && c.tensors.length === 1)?.index ?? 1;
  const t = m.a.cuts[cut].tensors[0];
  const data = Array.from({ length: 8 }, (_, i) => api.seededFloats(t.shape.reduce((x, y) => x * y, 1), 100 + i));
  const out = {};
  const servers = {};
  for (const b of [1, 4, 8]) servers[b] = await LocalTailServer.start({ models: { m: m.path }, warmUp: [`m.tail.${cut}`], maxConcurrency: 1, maxBatch: b, maxQueueDelayMs: 0 });
  const once = async (b) => {
    const client = new TailClient({ url: servers[b].url, connections: 16 });
    let done = 0;
    const batches = [];
    const t0 = performance.now();
    const end = t0 + BATCH_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: 16 }, async (_, c) => {
        while (performance.now() < end) {
          const r = await client.infer(`m.tail.${cut}`, [{ name: t.name, datatype: "FP32", shape: t.shape, data: data[c % 8] }]);
          done++;
          batches.push(r.batchSize ?? 1);
        }
      }),
    );
    const s = (performance.now() - t0) / 1000;
    await client.close();
    return { rps: done / s, meanBatch: batches.reduce((x, y) => x + y, 0) / batches.length };
  };
  try {
    for (const b of [1, 4, 8]) await once(b); // warm-up
    for (const b of [1, 4, 8, 8, 4, 1]) {
      const r = await once(b);
      (out[b] ??= []).push(r);
      log(`  server batching max ${b}: ${f(r.rps, 1)} req/s, mean batch ${f(r.meanBatch)}`);
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
  const base = median(out[1].map((r) => r.rps));
  return { model: BATCH_MODEL, cut, bytes: m.a.cuts[cut].bytes, rows: [1, 4, 8].map((b) => ({ maxBatch: b, rps: median(out[b].map((r) => r.rps)), meanBatch: median(out[b].map((r) => r.meanBatch)), vsBatch1: median(out[b].map((r) => r.rps)) / base })) };
}

const meter = await EnergyMeter.open({ utilisation: "process" });
meter.start();
log(`load average before: ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
const report = { models: [], serverBatching: null, loadavg: null };
try {
  for (const spec of MODELS) report.models.push(await benchModel(spec, meter));
  report.serverBatching = await benchServerBatching();
} finally {
  await meter.close();
}
report.loadavg = loadavg();
const lines = ["", "| model | setting | mode | b_d/b_s | in flight | items/s | bound items/s | of bound | of bound as run | x serial | stages ms (head/transfer/tail) | J/item (estimate) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"];
for (const m of report.models) {
  for (const r of m.rows) {
    lines.push(
      `| ${m.spec} | ${m.setting} | ${r.mode} | ${r.bd}/${r.bs} | ${r.inFlight} | ${f(r.throughputPerS, 1)} | ${f(r.boundPerS, 1)} | ${f(r.ofBound)} | ${f(r.ofBoundAsRun)} | ${f(r.xSerial)} | ${r.stagesMs === null ? "-" : `${f(r.stagesMs.head)}/${f(r.stagesMs.transfer)}/${f(r.stagesMs.tail)}`} | ${f(r.energyPerItemJ, 4)} |`,
    );
  }
}
const sb = report.serverBatching;
lines.push("", `Server-side batching, ${sb.model} tail at cut ${sb.cut} (${sb.bytes} bytes in), 16 concurrent clients:`, "", "| --max-batch | req/s | mean batch | vs 1 |", "| --- | --- | --- | --- |");
for (const r of sb.rows) lines.push(`| ${r.maxBatch} | ${f(r.rps, 1)} | ${f(r.meanBatch)} | ${f(r.vsBatch1)} |`);
lines.push("", `load average after: ${report.loadavg.map((x) => x.toFixed(2)).join(" ")}`);
process.stdout.write(`${lines.join("\n")}\n`);
process.stdout.write(`${JSON.stringify(report)}\n`);
