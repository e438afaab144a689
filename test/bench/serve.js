// Benchmark (not a test): the tail server (TailServer) on loopback, the server in a child process
// so that the load generator and the server do not share one event loop.
//  1. requests/s and latency (p50, p99) of a small tail (PaddleOCR cls, from the first cut whose
//     crossing is <= 1 KiB: the 800-byte natural bottleneck [1,200,1,1]) at 64 concurrent
//     in-flight requests vs 1, for SPLITWATT_BENCH_SECONDS each (default 10) after a warm-up;
//  2. the server's own overhead for a ~1 MiB fp32 input (mobilenet_v2 at input 256, a cut where
//     [1,16,128,128] = 1,048,576 bytes crosses), sent binary at concurrency 1:
//     server_time_ms - compute_time_ms per request (p50, p99), the client-observed totals, and the
//     same tensor as JSON for comparison.
// Run: npm run bench:serve   (after npx tsc -p tsconfig.json)
// Env: SPLITWATT_BENCH_SECONDS (10), SPLITWATT_BENCH_REQUESTS (200: 1 MiB binary requests; JSON
//      gets a quarter), SPLITWATT_BENCH_CONCURRENCY (64), SPLITWATT_BENCH_MAX_CONCURRENT (2),
//      SPLITWATT_BENCH_BIG_MODEL (mobilenet_v2), SPLITWATT_BENCH_BIG_SIZE (256).
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = fileURLToPath(import.meta.url);
const root = resolve(dirname(here), "../..");
const api = () => import(pathToFileURL(join(root, "dist", "index.js")).href);

const SERVER_MAX_QUEUE = 256;
const MiB = 1 << 20;

// ------------------------------------------------------------------------------------- child

async function serverChild(cfg) {
  const { TailServer } = await api();
  const server = new TailServer({
    models: cfg.models,
    port: 0,
    maxConcurrent: cfg.maxConcurrent,
    maxQueue: cfg.maxQueue,
    log: (r) => process.stderr.write(`${JSON.stringify(r)}\n`),
  });
  let stopping = false;
  const stop = (code) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(code), 2_000).unref();
    server.close().then(
      () => process.exit(code),
      () => process.exit(code),
    );
  };
  // The parent holds our stdin: when it goes away (even by SIGKILL), so do we.
  process.stdin.on("end", () => stop(0));
  process.stdin.on("error", () => stop(0));
  process.stdin.resume();
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));
  const url = await server.listen();
  for (const name of cfg.preload) await server.models.load(name); // sessions ready before any timing
  process.stdout.write(`${JSON.stringify({ url, pid: process.pid })}\n`);
}

// ------------------------------------------------------------------------------------ parent

const num = (name, dflt) => {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
  return n;
};

let child;
function killChild() {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
}
process.on("exit", killChild);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killChild();
    process.exit(130);
  });
}

function startServer(cfg, timeoutMs) {
  child = spawn(process.execPath, [here, "--server-child", JSON.stringify(cfg)], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d;
    if (stderr.length > 1 << 16) stderr = stderr.slice(-(1 << 15));
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      killChild();
      reject(new Error(`server child did not print its URL within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (line) => {
      clearTimeout(timer);
      try {
        resolvePromise({ ...JSON.parse(line), stderr: () => stderr });
      } catch (e) {
        reject(new Error(`server child printed ${line.slice(0, 200)}: ${e.message}`));
      }
    });
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`server child exited (${code ?? sig}) before printing its URL; stderr:\n${stderr}`));
    });
  });
}

/** CPU time (user + system, all threads) of a process, ms, from /proc (null elsewhere). */
const clkTck = (() => {
  const r = spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" });
  const n = Number(r.stdout?.trim());
  return Number.isFinite(n) && n > 0 ? n : 100;
})();
function procCpuMs(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / clkTck;
  } catch {
    return null;
  }
}
/** CPU time all processes spent busy (all CPUs), ms, from /proc/stat (null elsewhere). */
function machineBusyMs() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return ((total - f[3] - f[4]) * 1000) / clkTck;
  } catch {
    return null;
  }
}
const selfCpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function pct(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
function stats(values) {
  const s = Float64Array.from(values).sort();
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: pct(s, 50), p99: pct(s, 99), mean, min: s[0] ?? NaN, max: s.at(-1) ?? NaN };
}
const round = (x, d = 3) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);
const roundStats = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === "n" ? v : round(v)]));

/** Tally a failed request: HTTP status for server answers, else the error code/name. */
function failureKey(err) {
  if (typeof err?.status === "number") return `HTTP ${err.status}`;
  return err?.code ?? err?.name ?? "error";
}

/**
 * Closed loop: `concurrency` workers each keep one request in flight until the deadline
 * (a warm-up of `warmupS` first, not recorded). Bounded by the deadline, the client timeout and
 * a cap on the number of requests.
 */
async function closedLoop(client, model, inputs, { concurrency, seconds, warmupS, serverPid }) {
  const maxRequests = 5_000_000;
  const run = async (durationS, record) => {
    const lat = [];
    const server = [];
    const failures = {};
    let ok = 0;
    let issued = 0;
    const deadline = performance.now() + durationS * 1000;
    const worker = async () => {
      while (performance.now() < deadline && issued < maxRequests) {
        issued++;
        const t = performance.now();
        try {
          const r = await client.infer(model, inputs, { binary: true, timeoutMs: 10_000 });
          const ms = performance.now() - t;
          ok++;
          if (record) {
            lat.push(ms);
            if (r.serverMs !== null) server.push(r.serverMs);
          }
        } catch (err) {
          const k = failureKey(err);
          failures[k] = (failures[k] ?? 0) + 1;
        }
      }
    };
    const cpu0 = procCpuMs(serverPid);
    const self0 = selfCpuMs();
    const busy0 = machineBusyMs();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    const wallS = (performance.now() - t0) / 1000;
    const cpu1 = procCpuMs(serverPid);
    const self1 = selfCpuMs();
    const busy1 = machineBusyMs();
    return {
      ok,
      failures,
      wallS,
      rps: ok / wallS,
      latency: stats(lat),
      server: stats(server),
      serverCpuPct: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) / 10 / wallS),
      clientCpuPct: (self1 - self0) / 10 / wallS,
      // everything else on the machine (other processes, kernel threads): should be ~0 for a clean run
      otherCpuPct: cpu0 === null || cpu1 === null || busy0 === null || busy1 === null ? null : (busy1 - busy0 - (cpu1 - cpu0) - (self1 - self0)) / 10 / wallS,
    };
  };
  const warm = await run(warmupS, false);
  const measured = await run(seconds, true);
  return { ...measured, warmupRequests: warm.ok, warmupFailures: warm.failures };
}

/** Sequential requests at concurrency 1 with per-request timing from the client and the server's parameters. */
async function sequential(client, model, inputs, { n, warmup, binary, capS, serverPid }) {
  const rows = [];
  const failures = {};
  for (let i = 0; i < warmup; i++) await client.infer(model, inputs, { binary, timeoutMs: 30_000 });
  const deadline = performance.now() + capS * 1000;
  const cpu0 = procCpuMs(serverPid);
  const self0 = selfCpuMs();
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  let first;
  for (let i = 0; i < n && performance.now() < deadline; i++) {
    const t = performance.now();
    try {
      const r = await client.infer(model, inputs, { binary, timeoutMs: 30_000 });
      const wall = performance.now() - t;
      first ??= r;
      if (r.serverMs === null || r.computeMs === null) throw new Error("the server did not report server_time_ms / compute_time_ms");
      rows.push({ wall, total: r.totalMs, server: r.serverMs, compute: r.computeMs, bytesSent: r.bytesSent });
    } catch (err) {
      const k = failureKey(err);
      failures[k] = (failures[k] ?? 0) + 1;
      if (Object.values(failures).reduce((a, b) => a + b, 0) > 20) throw new Error(`too many failures: ${JSON.stringify(failures)} (last: ${err.message})`);
    }
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu1 = procCpuMs(serverPid);
  const busy1 = machineBusyMs();
  return {
    n: rows.length,
    failures,
    otherCpuPct: cpu0 === null || cpu1 === null || busy0 === null || busy1 === null ? null : (busy1 - busy0 - (cpu1 - cpu0) - (selfCpuMs() - self0)) / 10 / wallS,
    bytesSent: rows[0]?.bytesSent ?? 0,
    first,
    serverOverhead: stats(rows.map((r) => r.server - r.compute)),
    clientOverhead: stats(rows.map((r) => r.total - r.compute)),
    wallOverhead: stats(rows.map((r) => r.wall - r.compute)),
    compute: stats(rows.map((r) => r.compute)),
    server: stats(rows.map((r) => r.server)),
    total: stats(rows.map((r) => r.total)),
    wall: stats(rows.map((r) => r.wall)),
  };
}

async function analyse(spec, inputSize) {
  const { resolveModel, loadModel, analyzeModel } = await api();
  const r = await resolveModel(spec, { inputSize });
  // the same analysis TailModels makes (default maxTensors), so cut indices agree with the server's
  const a = await analyzeModel(loadModel(r.path), { inputShapes: r.inputShapes ?? {} });
  return { path: r.path, cuts: a.cuts };
}

function inputsFor(cut, seed, seededFloats) {
  return cut.tensors.map((t, i) => {
    if (t.dtype !== "float32") throw new Error(`cut ${cut.index}: ${t.name} is ${t.dtype}, this bench sends float32`);
    const n = t.shape.reduce((a, b) => a * b, 1);
    return { name: t.name, datatype: "FP32", shape: [...t.shape], data: seededFloats(n, seed + i) };
  });
}

const fmt = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "-");

async function main() {
  const seconds = num("SPLITWATT_BENCH_SECONDS", 10);
  const nBig = Math.round(num("SPLITWATT_BENCH_REQUESTS", 200));
  const concurrency = Math.round(num("SPLITWATT_BENCH_CONCURRENCY", 64));
  const maxConcurrent = Math.round(num("SPLITWATT_BENCH_MAX_CONCURRENT", 2));
  const bigModel = process.env.SPLITWATT_BENCH_BIG_MODEL || "mobilenet_v2";
  const bigSize = Math.round(num("SPLITWATT_BENCH_BIG_SIZE", 256));
  const warmupS = Math.min(3, Math.max(1, seconds / 5));

  const { seededFloats, TailClient } = await api();

  // --- pick the cuts
  const cls = await analyse("paddle:cls");
  const small = cls.cuts.find((c, i) => i > 0 && i < cls.cuts.length - 1 && c.tensors.length === 1 && c.bytes <= 1024);
  if (small === undefined) throw new Error("paddle:cls has no single-tensor cut of <= 1 KiB");
  const big = await analyse(bigModel, bigSize);
  const candidates = big.cuts.filter((c, i) => i > 0 && i < big.cuts.length - 1 && c.tensors.length === 1 && c.tensors[0].dtype === "float32");
  // closest to 1 MiB; among equals the latest (the cheapest tail)
  const bigCut = candidates.reduce((best, c) => (best === undefined || Math.abs(c.bytes - MiB) <= Math.abs(best.bytes - MiB) ? c : best), undefined);
  if (bigCut === undefined) throw new Error(`${bigModel} has no single-tensor float32 cut`);
  const smallName = `cls.tail.${small.index}`;
  const bigName = `big.tail.${bigCut.index}`;

  const load1 = loadavg()[0];
  console.log(`machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}), node ${process.version}, 1-min load average ${load1.toFixed(2)} (lags; the "other processes CPU" rows below say whether the runs were clean)`);
  console.log(`small tail: paddle:cls cut ${small.index} after ${small.node?.op} (${small.tensors[0].name} [${small.tensors[0].shape}] = ${small.bytes} B${small.naturalBottleneck ? ", natural bottleneck" : ""}) -> served as ${smallName}`);
  console.log(`1 MiB tail: ${bigModel}@${bigSize} cut ${bigCut.index} after ${bigCut.node?.op} (${bigCut.tensors[0].name} [${bigCut.tensors[0].shape}] = ${bigCut.bytes} B) -> served as ${bigName}`);

  // --- the server, in its own process
  const t0 = performance.now();
  const srv = await startServer({ models: { cls: "paddle:cls", big: big.path }, preload: [smallName, bigName], maxConcurrent, maxQueue: SERVER_MAX_QUEUE }, 180_000);
  console.log(`server: pid ${srv.pid} at ${srv.url}, maxConcurrent ${maxConcurrent}, maxQueue ${SERVER_MAX_QUEUE} (up with both sessions loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  child.once("exit", (code, sig) => {
    if (!finished) {
      console.error(`server child died (${code ?? sig}); stderr:\n${srv.stderr()}`);
      process.exit(1);
    }
  });

  // sanity: the server's view of the inputs matches ours
  const meta0 = new TailClient({ url: srv.url, connections: 1 });
  for (const [name, cut] of [
    [smallName, small],
    [bigName, bigCut],
  ]) {
    const m = await meta0.metadata(name);
    const want = cut.tensors.map((t) => `${t.name}[${t.shape}]`).join(",");
    const got = m.inputs.map((t) => `${t.name}[${t.shape.map((d) => (d === -1 ? 1 : d))}]`).join(",");
    if (want !== got) throw new Error(`${name}: the server takes ${got}, the bench computed ${want}`);
  }
  await meta0.close();

  // --- 1. small tail: concurrency 1 vs N
  const smallInputs = inputsFor(small, 7, seededFloats);
  const results = {};
  for (const c of [1, concurrency]) {
    const client = new TailClient({ url: srv.url, connections: c, timeoutMs: 10_000 });
    try {
      const probe = await client.infer(smallName, smallInputs);
      const out = Object.values(probe.outputs)[0];
      const sum = Array.from(out.data).reduce((a, b) => a + b, 0);
      if (out.data.length !== 2 || Math.abs(sum - 1) > 1e-4) throw new Error(`${smallName} answered ${JSON.stringify(out.shape)} summing to ${sum}, expected 2 softmax probabilities`);
      process.stdout.write(`running ${smallName} at concurrency ${c} for ${warmupS}+${seconds} s ... `);
      results[c] = await closedLoop(client, smallName, smallInputs, { concurrency: c, seconds, warmupS, serverPid: srv.pid });
      console.log(`${results[c].ok} ok`);
    } finally {
      await client.close();
    }
  }

  // --- 2. 1 MiB tensor at concurrency 1: binary, then JSON
  const bigInputs = inputsFor(bigCut, 11, seededFloats);
  const client = new TailClient({ url: srv.url, connections: 1, timeoutMs: 30_000 });
  let bin;
  let json;
  try {
    const capS = Math.max(30, 3 * seconds);
    process.stdout.write(`running ${bigName} binary x${nBig} ... `);
    bin = await sequential(client, bigName, bigInputs, { n: nBig, warmup: 30, binary: true, capS, serverPid: srv.pid });
    console.log(`${bin.n} ok`);
    const nJson = Math.max(10, Math.ceil(nBig / 4));
    process.stdout.write(`running ${bigName} JSON x${nJson} ... `);
    json = await sequential(client, bigName, bigInputs, { n: nJson, warmup: 3, binary: false, capS, serverPid: srv.pid });
    console.log(`${json.n} ok`);
  } finally {
    await client.close();
  }
  // the same input must give the same logits whichever encoding carried it
  const a = Object.values(bin.first.outputs)[0].data;
  const b = Object.values(json.first.outputs)[0].data;
  let maxDiff = a.length === b.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(a.length, b.length); i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));

  finished = true;
  await new Promise((r) => {
    const t = setTimeout(r, 3_000);
    child.once("exit", () => {
      clearTimeout(t);
      r();
    });
    child.kill("SIGTERM");
  });

  // --- report
  const r1 = results[1];
  const rN = results[concurrency];
  const fails = (r) => Object.entries(r.failures).map(([k, v]) => `${k}: ${v}`).join(", ") || "0";
  const line = (label, x, y, d = 2, ratio = true) => console.log(`${label.padEnd(37)}| ${fmt(x, d).padStart(12)} | ${fmt(y, d).padStart(12)} | ${ratio ? `${fmt(y / x, 2)}x`.padStart(8) : "".padStart(8)}`);
  console.log("");
  console.log(`1. ${smallName} (${small.bytes} B in, binary), ${seconds} s each, server maxConcurrent ${maxConcurrent}`);
  console.log(`${"".padEnd(37)}| ${"c=1".padStart(12)} | ${`c=${concurrency}`.padStart(12)} | ${"ratio".padStart(8)}`);
  console.log(`${"-".repeat(37)}+${"-".repeat(14)}+${"-".repeat(14)}+${"-".repeat(9)}`);
  line("requests/s", r1.rps, rN.rps, 0);
  line("latency p50 (ms, client wall)", r1.latency.p50, rN.latency.p50, 3);
  line("latency p99 (ms, client wall)", r1.latency.p99, rN.latency.p99, 3);
  line("server_time_ms p50", r1.server.p50, rN.server.p50, 3);
  line("server_time_ms p99", r1.server.p99, rN.server.p99, 3);
  line("server CPU (% one core, all threads)", r1.serverCpuPct, rN.serverCpuPct, 0);
  line("load generator CPU (% one core)", r1.clientCpuPct, rN.clientCpuPct, 0);
  line("other processes CPU (% one core)", r1.otherCpuPct, rN.otherCpuPct, 0, false);
  console.log(`${"requests ok / non-200 or failed".padEnd(37)}| ${`${r1.ok} / ${fails(r1)}`.padStart(12)} | ${`${rN.ok} / ${fails(rN)}`.padStart(12)} |`);
  console.log("");
  console.log(`2. ${bigName}: ${bigCut.bytes} B fp32 in, concurrency 1 (overhead = time - compute_time_ms)`);
  const l2 = (label, x, y) => console.log(`${label.padEnd(46)}| ${fmt(x.p50).padStart(9)} | ${fmt(x.p99).padStart(9)} | ${fmt(y.p50).padStart(9)} | ${fmt(y.p99).padStart(9)} | ${`${fmt(y.p50 / x.p50, 1)}x`.padStart(7)}`);
  console.log(`${"ms".padEnd(46)}| ${"bin p50".padStart(9)} | ${"bin p99".padStart(9)} | ${"JSON p50".padStart(9)} | ${"JSON p99".padStart(9)} | ${"p50 J/B".padStart(7)}`);
  console.log(`${"-".repeat(46)}+${"-".repeat(11)}+${"-".repeat(11)}+${"-".repeat(11)}+${"-".repeat(11)}+${"-".repeat(8)}`);
  l2("server overhead: server_time - compute", bin.serverOverhead, json.serverOverhead);
  l2("client-observed: totalMs - compute", bin.clientOverhead, json.clientOverhead);
  l2("infer() wall (+ client enc/dec) - compute", bin.wallOverhead, json.wallOverhead);
  l2("compute_time_ms", bin.compute, json.compute);
  l2("infer() wall", bin.wall, json.wall);
  console.log(`${"requests / failed; request body bytes".padEnd(46)}| ${`${bin.n} / ${Object.keys(bin.failures).length === 0 ? 0 : JSON.stringify(bin.failures)}; ${bin.bytesSent} B`.padStart(21)} | ${`${json.n} / ${Object.keys(json.failures).length === 0 ? 0 : JSON.stringify(json.failures)}; ${json.bytesSent} B`.padStart(21)} |`);
  console.log(`${"other processes CPU (% of one core)".padEnd(46)}| ${fmt(bin.otherCpuPct, 0).padStart(21)} | ${fmt(json.otherCpuPct, 0).padStart(21)} |`);
  const target = bin.serverOverhead.p50 < 1;
  console.log(`target (issue): server overhead p50 < 1 ms for a 1 MB tensor: ${target ? "MET" : "NOT MET"} (${fmt(bin.serverOverhead.p50)} ms); binary vs JSON logits max |diff| ${maxDiff}`);
  console.log("");
  const pick = (r) => ({ ok: r.ok, failures: r.failures, wallS: round(r.wallS), rps: round(r.rps, 1), latencyMs: roundStats(r.latency), serverMs: roundStats(r.server), serverCpuPct: round(r.serverCpuPct, 1), clientCpuPct: round(r.clientCpuPct, 1), otherCpuPct: round(r.otherCpuPct, 1) });
  const pick2 = (r) => ({
    n: r.n,
    failures: r.failures,
    bytesSent: r.bytesSent,
    otherCpuPct: round(r.otherCpuPct, 1),
    serverOverheadMs: roundStats(r.serverOverhead),
    clientOverheadMs: roundStats(r.clientOverhead),
    wallOverheadMs: roundStats(r.wallOverhead),
    computeMs: roundStats(r.compute),
    serverMs: roundStats(r.server),
    totalMs: roundStats(r.total),
    wallMs: roundStats(r.wall),
  });
  console.log(
    JSON.stringify({
      bench: "serve",
      node: process.version,
      cpus: cpus().length,
      seconds,
      maxConcurrent,
      maxQueue: SERVER_MAX_QUEUE,
      small: { model: smallName, cut: small.index, inputBytes: small.bytes, concurrency, c1: pick(r1), cN: pick(rN), rpsRatio: round(rN.rps / r1.rps, 3), p50Ratio: round(rN.latency.p50 / r1.latency.p50, 3), p99Ratio: round(rN.latency.p99 / r1.latency.p99, 3) },
      big: {
        model: bigName,
        source: `${bigModel}@${bigSize}`,
        cut: bigCut.index,
        inputBytes: bigCut.bytes,
        binary: pick2(bin),
        json: pick2(json),
        jsonOverBinaryServerOverheadP50: round(json.serverOverhead.p50 / bin.serverOverhead.p50, 2),
        jsonOverBinaryClientOverheadP50: round(json.clientOverhead.p50 / bin.clientOverhead.p50, 2),
        targetServerOverheadP50Under1ms: target,
        binaryVsJsonMaxAbsDiff: maxDiff,
      },
    }),
  );
}

let finished = false;
if (process.argv[2] === "--server-child") {
  serverChild(JSON.parse(process.argv[3] ?? "{}")).catch((err) => {
    process.stderr.write(`server child: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
} else {
  // a hard bound on the whole run
  const hardS = 600 + 10 * num("SPLITWATT_BENCH_SECONDS", 10);
  setTimeout(() => {
    console.error(`bench did not finish within ${hardS} s; giving up`);
    process.exit(1);
  }, hardS * 1000).unref();
  main().then(
    () => {
      killChild();
      process.exit(0);
    },
    (err) => {
      console.error(err?.stack ?? err);
      killChild();
      process.exit(1);
    },
  );
}
