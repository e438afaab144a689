#!/usr/bin/env node
// dynasplit and splitwatt side by side on a kernel-shaped link stepping 100 -> 5 -> 100 Mbit/s
// (not a test; root, iproute2 and a writable cgroup cpu controller needed: cgroup v2's cpu.max,
// e.g. /sys/fs/cgroup on current distributions, or cgroup v1's /sys/fs/cgroup/cpu).
//
// The testbed is one machine, so the edge device is emulated and says so:
// - the device side (optimize's profiler, then the daemon) runs capped at
//   SPLITWATT_BENCH_DEVICE_SHARE (default 0.1) of one CPU, its heads on one thread (deviceTarget
//   cpu:1), so that the device is slower than the tail server (which runs uncapped in its own
//   network namespace) as an edge board is slower than its server. SPLITWATT_BENCH_CAP=thread
//   (default, cgroup v1): every thread of the device processes in a cgroup of its own, each at
//   that share: a board whose cores are each that slow (the event loop, the device thread and
//   the head each run at the share, as the profiler measured the head). SPLITWATT_BENCH_CAP=process
//   (and cgroup v2 here): one cgroup for the process, its threads sharing the share: the event
//   loop's work and the head then take each other's time, and every wake-up may wait for the
//   next period (the RTT probes read tens of ms), which no board does;
// - device energy is the `estimate` source priced with the raspberry-pi-4 power model over the
//   device process's own CPU time (utilisation: process), server energy the jetson-orin-nano model
//   (marginal), network energy a wired link's PHY (0.5 W, the ethernet-1gbps profile's
//   assumption) at 20 Mbit/s.
// 1. the front: `splitwatt optimize --model resnet18` on this machine, small budget, its link the
//    kernel's tbf at 20 Mbit/s (written to the run's temporary directory and kept there: give it
//    to a later run as SPLITWATT_BENCH_FRONT to skip this step);
// 2. a `splitwatt serve` child behind a netns + tbf link at 100 Mbit/s, a `splitwatt daemon`
//    child (capped) in front of it; a seeded stream of deadlines, each sent once with
//    policy=dynasplit and once with policy=splitwatt (alternating which goes first); the link's
//    rate changed with `tc qdisc change` between phases: 100, 5, 100 Mbit/s; the deadlines are
//    drawn from the all-on-device latency the daemon measured just before (p99 .. 1.3 x p99);
// 3. per phase and policy: deadline hit rate, mean energy per request, mean latency, share sent
//    to the server.
//
//   npx tsc -p tsconfig.json && npm run bench:daemon-link
//   SPLITWATT_BENCH_REQUESTS=60 SPLITWATT_BENCH_FRONT=/path/kept.pareto.json npm run bench:daemon-link
//   SPLITWATT_BENCH_CALIBRATION=100 (the all-on-device requests the deadlines are drawn from)
//   SPLITWATT_BENCH_LOCAL_RUNS=off (the daemon's localRuns: false: all-on-device priced from the front)
//   SPLITWATT_BENCH_OUT=run.json ... (every request's parameters and the daemon's final /v1/status, as JSON)
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { encodeInferRequest, LinkEmulation, mulberry32, readParetoFile } from "../../dist/index.js";

const SHARE = Number(process.env.SPLITWATT_BENCH_DEVICE_SHARE ?? "0.1");
const REQUESTS = Number(process.env.SPLITWATT_BENCH_REQUESTS ?? "100");
const CALIBRATION = Number(process.env.SPLITWATT_BENCH_CALIBRATION ?? "100");
// off: the daemon prices all-on-device configurations from the front only (localRuns: false), for a side-by-side
const LOCAL_RUNS = (process.env.SPLITWATT_BENCH_LOCAL_RUNS ?? "on") !== "off";
const MODEL = process.env.SPLITWATT_BENCH_MODEL ?? "resnet18";
const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dir = mkdtempSync(join(tmpdir(), "sw-bench-link-"));
const env = { ...process.env, CI: "true", SPLITWATT_STATE_DIR: join(dir, "state") };

function fail(why) {
  console.error(`bench:daemon-link cannot run here: ${why}`);
  process.exit(1);
}

const avail = await LinkEmulation.available();
if (!avail.ok) fail(`kernel link emulation unavailable (${avail.reason})`);

// --- the emulated device: a CPU-capped cgroup (v2 cpu.max, or v1 cpu.cfs_quota_us) -----------
/** Our own cgroup path in a hierarchy: v2 is the "0::" line, v1 the line whose controllers include cpu. */
function ownCgroup(v2) {
  for (const line of readFileSync("/proc/self/cgroup", "utf8").split("\n")) {
    const [id, ctrls, path] = [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1, line.lastIndexOf(":")), line.slice(line.lastIndexOf(":") + 1)];
    if (v2 ? id === "0" && ctrls === "" : ctrls.split(",").includes("cpu")) return path;
  }
  return null;
}
function cgroupDevice(share, perThread) {
  // the shortest period whose quota is at least the kernel's minimum (1 ms), and not under 5 ms:
  // a head's time is quantised by the period (a thread runs its quota, then waits for the next one)
  const periodUs = Math.max(5000, Math.round(1000 / share));
  const quotaUs = Math.max(1000, Math.round(share * periodUs));
  // cgroup v2: a cgroup2 mount whose controllers include cpu (the unified /sys/fs/cgroup on current distributions)
  const mounts = readFileSync("/proc/mounts", "utf8").split("\n").map((l) => l.split(" ")).filter((f) => f[2] === "cgroup2").map((f) => f[1]);
  const v2 = mounts.find((m) => {
    try {
      return readFileSync(join(m, "cgroup.controllers"), "utf8").split(/\s+/).includes("cpu");
    } catch {
      return false;
    }
  });
  let base;
  let cg;
  let label;
  // cgroups of single threads (perThread on cgroup v1): each capped at the share, by thread id
  const threads = new Map();
  if (v2 !== undefined) {
    const own = ownCgroup(true) ?? "/";
    base = join(v2, own);
    const sub = join(base, "cgroup.subtree_control");
    if (!readFileSync(sub, "utf8").split(/\s+/).includes("cpu")) {
      try {
        writeFileSync(sub, "+cpu");
      } catch (err) {
        fail(`cgroup v2 at ${v2}: cannot enable the cpu controller in ${base} (${err.code ?? err.message}${own === "/" ? "" : "; a cgroup with processes in it cannot delegate: run the bench from the root cgroup, e.g. systemd-run --scope -p Delegate=yes"})`);
      }
    }
    cg = join(base, `splitwatt-bench-${process.pid}`);
    mkdirSync(cg);
    writeFileSync(join(cg, "cpu.max"), `${quotaUs} ${periodUs}`);
    // (threads of one process in separate cgroups need a threaded subtree on v2: not done here)
    perThread = false;
    label = `cgroup v2 ${cg} cpu.max ${quotaUs} ${periodUs}, shared by the process's threads`;
  } else {
    const root = "/sys/fs/cgroup/cpu";
    if (!existsSync(join(root, "cgroup.procs")) || !existsSync(join(root, "cpu.cfs_quota_us"))) fail(`no cgroup v2 mount with the cpu controller and no cgroup v1 cpu controller at ${root} to cap the emulated device`);
    base = join(root, ownCgroup(false) ?? "/");
    cg = join(base, `splitwatt-bench-${process.pid}`);
    mkdirSync(cg);
    writeFileSync(join(cg, "cpu.cfs_period_us"), String(periodUs));
    // per thread: the parent stays uncapped (a v1 child cannot exceed its parent's quota)
    writeFileSync(join(cg, "cpu.cfs_quota_us"), String(perThread ? -1 : quotaUs));
    label = perThread
      ? `cgroup v1, one cgroup per thread under ${cg}, each cpu.cfs_quota_us ${quotaUs} / cpu.cfs_period_us ${periodUs}`
      : `cgroup v1 ${cg} cpu.cfs_quota_us ${quotaUs} / cpu.cfs_period_us ${periodUs}, shared by the process's threads`;
  }
  const lines = (f) => {
    try {
      return readFileSync(f, "utf8").split("\n").filter(Boolean);
    } catch {
      return [];
    }
  };
  /** A cgroup of its own for thread `tid`, capped at the share; the thread moved into it. */
  const own = (tid) => {
    const t = join(cg, `t${tid}`);
    mkdirSync(t, { recursive: true });
    writeFileSync(join(t, "cpu.cfs_period_us"), String(periodUs));
    writeFileSync(join(t, "cpu.cfs_quota_us"), String(quotaUs));
    writeFileSync(join(t, "tasks"), String(tid));
    threads.set(tid, t);
  };
  const dirs = () => [cg, ...threads.values()];
  const procs = () => [...new Set(dirs().flatMap((d) => lines(join(d, "cgroup.procs"))))];
  return {
    label,
    cpus: quotaUs / periodUs,
    perThread,
    procs,
    capped: (pid) => (perThread ? own(pid) : writeFileSync(join(cg, "cgroup.procs"), String(pid))),
    /** perThread: every thread of the capped processes that has no cgroup of its own gets one (threads start in their creator's) */
    follow() {
      if (!perThread) return;
      for (const pid of procs()) {
        for (const tid of listTasks(pid)) {
          if (threads.has(Number(tid))) continue;
          try {
            own(Number(tid));
          } catch {
            // the thread is gone
          }
        }
      }
    },
    uncapped: (pid) => {
      try {
        writeFileSync(join(base, "cgroup.procs"), String(pid));
      } catch {
        // gone
      }
    },
    close() {
      for (const pid of procs()) this.uncapped(pid);
      for (const d of [...threads.values(), cg]) {
        try {
          rmdirSync(d);
        } catch (err) {
          console.error(`could not remove ${d}: ${err.message}`);
        }
      }
    },
  };
}

function listTasks(pid) {
  try {
    return readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

const device = cgroupDevice(SHARE, (process.env.SPLITWATT_BENCH_CAP ?? "thread") === "thread");
const capped = (pid) => device.capped(pid);
/** Tail servers started by a capped process are the server: move them out of the cgroup. */
const watcher = setInterval(() => {
  for (const pid of device.procs()) {
    try {
      if (/\0serve\0/.test(readFileSync(`/proc/${pid}/cmdline`, "latin1"))) device.uncapped(pid);
    } catch {
      // gone
    }
  }
  device.follow();
}, 20);

function child(args, opts = {}) {
  const prefix = opts.prefix ?? [];
  const cmd = prefix.length > 0 ? prefix[0] : process.execPath;
  const argv = prefix.length > 0 ? [...prefix.slice(1), process.execPath, bin, ...args] : [bin, ...args];
  const c = spawn(cmd, argv, { env, stdio: ["ignore", "pipe", "pipe"] });
  if (opts.capped) capped(c.pid);
  let err = "";
  c.stderr.on("data", (b) => (err += b));
  const exited = new Promise((res) => c.on("exit", (code) => res(code)));
  if (opts.toEnd) return exited.then((code) => ({ code, err }));
  return new Promise((res, rej) => {
    let out = "";
    c.stdout.on("data", (b) => {
      out += b;
      if (out.includes("\n")) res({ c, url: out.split("\n")[0].trim(), exited, err: () => err });
    });
    exited.then((code) => rej(new Error(`${args[0]} exited ${code}: ${err.slice(-2000)}`)));
  });
}

const wired = join(dir, "wired-20mbps.json");
const ethernet = JSON.parse(readFileSync(join(repo, "configs/networks/ethernet-1gbps.json"), "utf8"));
writeFileSync(
  wired,
  JSON.stringify({ ...ethernet, name: "wired-20mbps", description: "bench: a 20 Mbit/s wired link; PHY power from the ethernet-1gbps profile (an assumption)", uplinkMbps: 20, downlinkMbps: 20, rttMs: 0 }),
);

let links = [];
const children = [];
try {
  // --- 1. the front, measured on this machine ----------------------------------------------
  let frontPath = process.env.SPLITWATT_BENCH_FRONT;
  if (frontPath === undefined || !existsSync(frontPath)) {
    frontPath = frontPath ?? join(dir, `${MODEL}-bench-link.pareto.json`);
    const cfg = join(dir, "optimize.yaml");
    writeFileSync(
      cfg,
      [
        `model: ${MODEL}`,
        `network: ${wired}`,
        "link: kernel",
        "board: raspberry-pi-4",
        "serverBoard: jetson-orin-nano",
        "serverEnergy: marginal",
        "dimensions: { split: bottlenecks, deviceTarget: [cpu:1], codec: [fp16, int8] }",
        "objectives: [latency, energy]",
        "budget: 14",
        "measure: { maxSeconds: 3, accuracy: false, idleMs: 300 }",
        `out: ${frontPath}`,
        "",
      ].join("\n"),
    );
    const t0 = performance.now();
    console.error(`optimize --model ${MODEL} on this machine (device capped at ${SHARE} CPU, kernel tbf 20 Mbit/s), budget 14 ...`);
    const r = await child(["optimize", "--config", cfg], { capped: true, toEnd: true });
    if (r.code !== 0) throw new Error(`optimize failed (${r.code}): ${r.err.slice(-2000)}`);
    console.error(`front written to ${frontPath} in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  const { doc } = readParetoFile(frontPath);
  const L = Math.max(...doc.space.dimensions.find((d) => d.name === "split").values);
  const local = doc.archive.filter((e) => e.config.split === L).sort((a, b) => a.latencyMs - b.latencyMs)[0];
  const localMs = local.latency.p95 ?? local.latencyMs;

  // --- 2. the daemon on the stepped link ----------------------------------------------------
  const link = await LinkEmulation.start({ uplinkMbps: 100, downlinkMbps: 100, name: "bench" });
  links.push(link);
  const server = await child(["serve", "--model", `model=${MODEL}`, "--host", link.serverAddress, "--port", "0"], { prefix: link.execPrefix });
  children.push(server);
  const dcfg = join(dir, "daemon.yaml");
  writeFileSync(dcfg, [`network: ${wired}`, "board: raspberry-pi-4", "serverBoard: jetson-orin-nano", "utilisation: process", "graceMs: 3000", "estimator: { window: 5 }", "probe: { rttIntervalMs: 1000 }", ...(LOCAL_RUNS ? [] : ["localRuns: false"]), ""].join("\n"));
  const daemon = await child(["daemon", "--model", MODEL, "--front", frontPath, "--server", server.url, "--port", "0", "--config", dcfg], { capped: true });
  children.push(daemon);
  // binary tensors (a JSON body of 150k numbers would cost the capped device more than the model)
  const data = new Float32Array(3 * 224 * 224).fill(0.5);
  const request = (policy, deadline) => {
    const r = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, 224, 224], data }], parameters: { deadline_ms: deadline, policy } }, { binary: true });
    const headers = Object.fromEntries(Object.entries(r.headers).filter(([k]) => k.toLowerCase() !== "content-length"));
    return { headers, body: Buffer.concat(Array.isArray(r.body) ? r.body : [r.body]) };
  };
  const rnd = mulberry32(7);
  // Deadlines the device alone meets: the front's ~10 samples of the all-on-device configuration
  // say less about its spread on this emulated device than the daemon's own runs, so the bench
  // first sends CALIBRATION requests with policy edge-only (a deadline it cannot miss) and draws
  // every deadline from [p99, 1.3 x p99] of their measured latency: deadlines the all-on-device
  // configuration met at least 99% of the time just before, at every link rate (it sends
  // nothing). A policy that holds 0.99 on them does so where the device alone could.
  const calibration = [];
  for (let i = 0; i < CALIBRATION; i++) {
    const q = request("edge-only", 60_000);
    const r = await fetch(`${daemon.url}/v2/models/${MODEL}/infer`, { method: "POST", headers: q.headers, body: q.body });
    const j = await r.json();
    if (r.status !== 200) throw new Error(`daemon answered ${r.status}: ${j.error}`);
    calibration.push(j.parameters.latency_ms);
  }
  calibration.sort((a, b) => a - b);
  const q = (x) => calibration[Math.min(calibration.length - 1, Math.ceil(x * calibration.length) - 1)];
  const floorMs = q(0.99);
  const deadline = () => Math.round(floorMs * (1 + 0.3 * rnd()));
  const results = [];
  const phases = [
    ["100 Mbit/s", 100],
    ["5 Mbit/s", 5],
    ["100 Mbit/s again", 100],
  ];
  for (const [phase, mbps] of phases) {
    await link.setRate({ uplinkMbps: mbps, downlinkMbps: mbps });
    for (let i = 0; i < REQUESTS; i++) {
      const d = deadline();
      const order = i % 2 === 0 ? ["dynasplit", "splitwatt"] : ["splitwatt", "dynasplit"];
      for (const policy of order) {
        const q = request(policy, d);
        const r = await fetch(`${daemon.url}/v2/models/${MODEL}/infer`, { method: "POST", headers: q.headers, body: q.body });
        const j = await r.json();
        if (r.status !== 200) throw new Error(`daemon answered ${r.status}: ${j.error}`);
        const p = j.parameters;
        results.push({ phase, policy, met: p.deadline_met, energy: p.energy_j, latency: p.latency_ms, remote: JSON.parse(p.config).split !== L, fallback: p.fallback, deadline: d, predicted: p.predicted_latency_ms, probability: p.probability, queue: p.queue_ms, head: p.head_ms, encode: p.encode_ms, transfer: p.transfer_ms, server: p.server_ms, decode: p.decode_ms, config: p.config_key });
      }
    }
  }
  const status = await (await fetch(`${daemon.url}/v1/status`)).json();
  if (process.env.SPLITWATT_BENCH_OUT) writeFileSync(process.env.SPLITWATT_BENCH_OUT, JSON.stringify({ front: frontPath, device: device.label, calibration, results, status }, null, 1));

  // --- 3. the table ---------------------------------------------------------------------------
  const mean = (xs) => xs.reduce((s, v) => s + v, 0) / xs.length;
  console.log(`${MODEL}, front from splitwatt optimize on this machine (${doc.archive.length} configurations, ${doc.front.length} on the front; all on the device: mean ${local.latencyMs.toFixed(1)} ms, p95 ${localMs.toFixed(1)} ms, ${local.energyJ.total.toFixed(3)} J)`);
  if (!LOCAL_RUNS) console.log("daemon: localRuns: false (SPLITWATT_BENCH_LOCAL_RUNS=off): all-on-device configurations priced from the front, not from the daemon's own runs");
  console.log(`device: EMULATED, this machine capped at ${device.cpus} CPU (${device.label}), heads on one thread; energy: estimate (raspberry-pi-4 model x the daemon's CPU time) + wired PHY 0.5 W + jetson-orin-nano server model (marginal)`);
  console.log(`all on the device, measured by the daemon before the phases (${CALIBRATION} requests, policy edge-only): p50 ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, p99 ${floorMs.toFixed(1)} ms, max ${calibration[calibration.length - 1].toFixed(1)} ms`);
  console.log(`link: ${link.label.replace(/tbf .*$/, "tbf stepped 100 -> 5 -> 100 Mbit/s")}; ${REQUESTS} deadlines per phase (uniform in ${Math.round(floorMs)}-${Math.round(floorMs * 1.3)} ms: that p99 x 1 .. 1.3), each sent to both policies`);
  console.log("| phase | policy | deadline hit rate | mean energy per request | mean latency | sent to the server |");
  console.log("| --- | --- | --- | --- | --- | --- |");
  for (const [phase] of phases) {
    for (const policy of ["dynasplit", "splitwatt"]) {
      const rs = results.filter((r) => r.phase === phase && r.policy === policy);
      console.log(`| ${phase} | ${policy} | ${((100 * rs.filter((r) => r.met).length) / rs.length).toFixed(0)}% | ${mean(rs.map((r) => r.energy)).toFixed(3)} J | ${mean(rs.map((r) => r.latency)).toFixed(1)} ms | ${((100 * rs.filter((r) => r.remote).length) / rs.length).toFixed(0)}% |`);
    }
  }
  const misses = results.filter((r) => !r.met);
  if (misses.length > 0) {
    console.log(`misses (phase, policy: deadline / predicted / measured latency ms = queue + head + encode + transfer + server + decode, probability, configuration):`);
    for (const r of misses) console.log(`  ${r.phase}, ${r.policy}: ${r.deadline.toFixed(0)} / ${r.predicted} / ${r.latency} = ${r.queue} + ${r.head} + ${r.encode} + ${r.transfer} + ${r.server} + ${r.decode}, p ${r.probability}, ${r.config}`);
  }
  console.log(`final estimates: bandwidth ${status.server.estimates.bandwidthMbps?.toFixed(1)} Mbit/s, RTT ${status.server.estimates.rttMs?.toFixed(2)} ms; fallbacks ${status.decisions.fallbacks}`);
} finally {
  clearInterval(watcher);
  for (const c of children) c.c.kill("SIGTERM");
  await Promise.all(children.map((c) => c.exited));
  for (const l of links) await l.close();
  device.close();
}
