/**
 * `splitwatt daemon` end to end: the built CLI as a child process, a real `splitwatt serve`
 * child on loopback for the tail, tiny_cnn from the zoo (real onnxruntime), fronts with the
 * model's real cuts and sha256 (test/fixtures/daemonFronts.ts).
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { inferJson, runCli, startChild, type Child } from "../fixtures/daemonProcess.js";

let dir: string;
let tinyPath: string;
let sha: string;
let L: number;
/** cut 3: 16 KiB crosses */
const REMOTE = { split: 3, bytes: 16384 };
const X = { name: "input", shape: [1, 3, 32, 32], data: seededFloats(3072, 11) };
const children: Child[] = [];
const env = (): Record<string, string> => ({ SPLITWATT_STATE_DIR: join(dir, "state") });

async function daemon(args: string[], extraEnv: Record<string, string> = {}): Promise<Child> {
  const c = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", ...args], { env: { ...env(), ...extraEnv } });
  children.push(c);
  return c;
}

async function serve(port = 0): Promise<Child> {
  const c = await startChild(["serve", "--model", "model=tiny_cnn", "--port", String(port)], { env: env() });
  children.push(c);
  return c;
}

const freePort = (): Promise<number> =>
  new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-daemon-"));
  tinyPath = await zooPath("tiny_cnn");
  const a = await analyzeModel(loadModel(tinyPath));
  sha = a.model.sha256;
  L = a.cuts.length - 1;
  expect(a.cuts[REMOTE.split]?.bytes).toBe(REMOTE.bytes);
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  rmSync(dir, { recursive: true, force: true });
});

const front = (name: string, spec: Partial<Parameters<typeof liveFront>[0]> = {}): string => writeFront(dir, name, liveFront({ sha256: sha, lastCut: L, ...spec }));

describe("splitwatt daemon: start", () => {
  it("refuses to start, in one line with exit 2: a front for another model, an unreadable or invalid front, a replayed front, frequencies on a machine without cpufreq", () => {
    const good = front("good.pareto.json");
    const other = front("other.pareto.json", { sha256: "ab".repeat(32) });
    const invalid = join(dir, "invalid.pareto.json");
    writeFileSync(invalid, JSON.stringify({ version: 2, front: "nope" }));
    const replay = writeFront(dir, "replay.pareto.json", { ...liveFront({ sha256: sha, lastCut: L }), mode: "replay" });
    const freqs = front("freqs.pareto.json", { freqs: [600, 1500] });
    const cases: Array<[string[], RegExp]> = [
      [["--front", other], /was made for another model \(sha256 abababababab\.\.\.; tiny_cnn is [0-9a-f]{12}\.\.\./],
      [["--front", join(dir, "missing.pareto.json")], /cannot read pareto file .*missing\.pareto\.json \(ENOENT\)/],
      [["--front", invalid], /pareto file .*invalid\.pareto\.json is invalid at/],
      [["--front", replay], /is a replay front .*the daemon runs live fronts/],
      [["--front", freqs, "--sysfs-root", join(dir, "no-sys")], /the front sets CPU frequencies \(600, 1500 MHz\) but this machine offers no cpufreq.*--cpufreq off/],
      [["--front", good, "--policy", "fastest"], /unknown policy "fastest"/],
      [["--front", good, "--on-infeasible", "maybe"], /onInfeasible is run-fastest or reject/],
      [["--front", good, "--default-deadline-ms", "-3"], /defaultDeadlineMs must be a positive number/],
      [["--model", "tiny_cnn"], /give --front/],
    ];
    for (const [args, re] of cases) {
      const r = runCli(["daemon", "--model", "tiny_cnn", "--port", "0", ...args], env());
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);

  it("refuses to start when the tail server lacks a tail the front needs (it serves another name) or another model's tails", async () => {
    const f = front("remote.pareto.json", { remote: [REMOTE] });
    const s = await startChild(["serve", "--model", "other=tiny_cnn", "--port", "0"], { env: env() });
    children.push(s);
    const r = runCli(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", f, "--server", s.url], env());
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/lacks tail model\.tail\.3 \(it answered 404.*serve the front's model there as model/);
    // the same name serving another model: its tail 3 takes other inputs
    const s2 = await startChild(["serve", "--model", "model=paddle:cls", "--port", "0"], { env: env() });
    children.push(s2);
    const r2 = runCli(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", f, "--server", s2.url], env());
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/serves model\.tail\.3 with inputs .* but cut 3 of this model sends .*another model/);
    await s.stop();
    await s2.stop();
  }, 120_000);

  it("a version-1 front is accepted with a warning that only dynasplit and static work on it", async () => {
    const doc = liveFront({ sha256: sha, lastCut: L, remote: [REMOTE] });
    const { archive: _a, version: _v, front: fr, ...rest } = doc;
    const v1 = writeFront(dir, "v1.pareto.json", {
      version: 1,
      ...rest,
      evaluations: fr.length,
      front: fr.map((e) => ({ config: e.config, latencyMs: e.latencyMs, energyJ: e.energyJ.total, accuracy: e.accuracy?.value ?? null, latency: { p50: null, p95: null, p99: null, max: null, n: 1 } })),
    });
    const refused = runCli(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", v1], env());
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/policy splitwatt needs the per-part data.*use dynasplit or static/);
    const d = await daemon(["--front", v1, "--policy", "dynasplit"]);
    expect(d.records().find((r) => r.msg === "front")?.detail).toMatch(/version-1 pareto file.*only the dynasplit and static policies work on it/);
    const ok = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 1000 });
    expect(ok.status).toBe(200);
    expect(ok.body.parameters?.policy).toBe("dynasplit");
    const bad = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 1000, policy: "splitwatt" });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/policy splitwatt cannot serve this front.*use dynasplit or static/);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);

  it("learns its all-on-device runs: after 10, splitwatt prices that configuration from them, and /v1/status shows them", async () => {
    const d = await daemon(["--front", front("local-runs.pareto.json")]);
    const answers = [];
    for (let i = 0; i < 12; i++) answers.push(await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 1000 }));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // the first decisions are priced from the front; from the 11th on, from the runs the daemon saw
    expect(String(answers[0]!.body.parameters?.reason)).not.toMatch(/priced from the device's/);
    expect(String(answers[11]!.body.parameters?.reason)).toMatch(/priced from the device's last 1[01] runs of it/);
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    const runs = Object.values(st.device.localRuns) as Array<{ runs: number; meanMs: number; spreadMs: number; maxMs: number }>;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.runs).toBe(12);
    expect(runs[0]!.meanMs).toBeGreaterThan(0);
    expect(runs[0]!.maxMs).toBeGreaterThanOrEqual(runs[0]!.meanMs);
    // the prediction the 12th answer reports is the mean of the 11 runs before it (their head_ms, each rounded to 1 µs), not the front's 2 ms
    expect(answers[11]!.body.parameters?.predicted_latency_ms).not.toBe(2);
    const before = answers.slice(0, 11).map((a) => Number(a.body.parameters?.head_ms));
    expect(Math.abs(Number(answers[11]!.body.parameters?.predicted_latency_ms) - before.reduce((x, y) => x + y, 0) / before.length)).toBeLessThan(0.002);
    expect((await d.stop()).code).toBe(0);
  }, 60_000);
});

describe("splitwatt daemon: signals", () => {
  it("SIGINT and SIGHUP take the one signal path (src/shutdown.ts) as SIGTERM does: stop accepting, drain, exit 0", async () => {
    const f = front("signals.pareto.json");
    for (const sig of ["SIGINT", "SIGHUP"] as const) {
      const d = await daemon(["--front", f]);
      expect((await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 1000 })).status).toBe(200);
      const exit = await d.stop(sig);
      expect(exit, `${sig}: ${d.log()}`).toEqual({ code: 0, signal: null });
      const msgs = d.records().map((r) => r.msg);
      expect(d.records().find((r) => r.msg === "signal")?.signal).toBe(sig);
      expect(msgs.indexOf("stopped")).toBeGreaterThan(msgs.indexOf("signal"));
    }
  }, 120_000);
});

describe("splitwatt daemon: requests", () => {
  let d: Child;
  let s: Child;
  beforeAll(async () => {
    s = await serve();
    d = await daemon(["--front", front("main.pareto.json", { remote: [REMOTE] }), "--server", s.url]);
  }, 60_000);

  it("answers with the model's outputs and parameters saying what happened (config, policy, predicted and measured latency, energy by part with sources, deadline_met, fallback)", async () => {
    const r = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 2000 });
    expect(r.status).toBe(200);
    const session = await ort.InferenceSession.create(tinyPath);
    const want = (await session.run({ input: new ort.Tensor("float32", X.data, X.shape) })).logits?.data as Float32Array;
    const got = r.body.outputs?.[0]?.data as number[];
    expect(got.length).toBe(10);
    got.forEach((v, i) => expect(v).toBeCloseTo(want[i] as number, 4));
    const p = r.body.parameters as Record<string, unknown>;
    // the cheapest configuration that meets 2 s: the remote one (fixture)
    expect(JSON.parse(p.config as string)).toEqual({ split: 3, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" });
    expect(p).toMatchObject({ policy: "splitwatt", feasible: true, deadline_ms: 2000, deadline_met: true, fallback: false, energy_device_source: "estimate", energy_network_source: "estimate", energy_server_source: "estimate", frequency_controlled: false });
    for (const k of ["predicted_latency_ms", "predicted_head_ms", "predicted_transfer_ms", "latency_ms", "head_ms", "transfer_ms", "server_ms", "energy_j", "energy_device_j", "energy_network_j", "energy_server_j", "probability", "bytes_sent"]) {
      expect(typeof p[k], k).toBe("number");
    }
    expect(p.bytes_sent as number).toBeGreaterThan(REMOTE.bytes);
    // the remote head (0.3 ms in the front, under inlineHeadMs 1) runs on the event loop; the whole model (2 ms) on the device thread
    expect(d.records().find((x) => x.msg === "listening")?.heads).toEqual({ deviceThread: 1, eventLoop: 1 });
    expect(p.energy_j as number).toBeCloseTo((p.energy_device_j as number) + (p.energy_network_j as number) + (p.energy_server_j as number), 5);
    expect(p.latency_ms as number).toBeGreaterThanOrEqual((p.head_ms as number) + (p.transfer_ms as number) + (p.server_ms as number) - 0.01);
    // a tight deadline: the fast all-on-device configuration
    const tight = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 5 });
    expect(JSON.parse(tight.body.parameters?.config as string).split).toBe(L);
    // binary tensors too (Triton's extension), the policy named per request
    const { encodeInferRequest, decodeInferResponse } = await import("../../src/transport/oip/index.js");
    const req = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: X.shape, data: X.data }], parameters: { deadline_ms: 2000, policy: "edge-only", binary_data_output: true } }, { binary: true });
    const res = await fetch(`${d.url}/v2/models/tiny_cnn/infer`, { method: "POST", headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.toLowerCase() !== "content-length")), body: Buffer.concat(Array.isArray(req.body) ? req.body : [req.body]) });
    expect(res.status).toBe(200);
    const dec = decodeInferResponse(new Uint8Array(await res.arrayBuffer()), Object.fromEntries(res.headers), { maxTensorBytes: 1 << 20, maxTensors: 4 });
    expect(dec.parameters?.policy).toBe("edge-only");
    expect([...(dec.outputs[0]?.data as Float32Array)].map((v, i) => Math.abs(v - (want[i] as number)) < 1e-4)).toEqual(new Array(10).fill(true));
  }, 60_000);

  it("bad input is a 4xx with {error} saying what to send instead, and the daemon keeps serving", async () => {
    const post = (path: string, body: string | Uint8Array, headers: Record<string, string> = { "content-type": "application/json" }) => fetch(`${d.url}${path}`, { method: "POST", headers, body });
    const json = (params: Record<string, unknown>, extra: Record<string, unknown> = {}) => JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: X.shape, data: Array.from(X.data) }], parameters: params, ...extra });
    const cases: Array<[() => Promise<Response>, number, RegExp]> = [
      [() => post("/v2/models/tiny_cnn/infer", "{not json"), 400, /could not decode request|JSON/i],
      [() => post("/v2/models/tiny_cnn/infer", json({})), 400, /no deadline: send deadline_ms, a positive number of ms, e\.g\. "parameters": \{"deadline_ms": 100\}/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: 0 })), 400, /deadline_ms must be a positive number of ms, got 0/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: -5 })), 400, /deadline_ms must be a positive number/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: "soon" })), 400, /deadline_ms must be a positive number of ms, got "soon"/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: 100, policy: "fastest" })), 400, /unknown policy "fastest": send one of splitwatt, dynasplit/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: 100, min_accuracy: 2 })), 400, /min_accuracy must be a fraction in \[0, 1\]/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: 100, deadlin_ms: 5 })), 400, /unknown request parameter "deadlin_ms"/],
      [() => post("/v2/models/resnet/infer", json({ deadline_ms: 100 })), 404, /unknown model "resnet": this daemon serves "tiny_cnn"/],
      [() => post("/v2/models/tiny_cnn/infer", JSON.stringify({ inputs: [{ name: "input", datatype: "FP32", shape: [1, 3, 16, 16], data: new Array(768).fill(0) }], parameters: { deadline_ms: 100 } })), 400, /has shape \[-1,3,32,32\]/],
      [() => post("/v2/models/tiny_cnn/infer", JSON.stringify({ inputs: [{ name: "x", datatype: "FP32", shape: [1], data: [0] }], parameters: { deadline_ms: 100 } })), 400, /has no input "x"; it takes input/],
      [() => post("/v2/models/tiny_cnn/infer", json({ deadline_ms: 100, min_accuracy: 0.99 })), 422, /reaches accuracy 0\.99 \(the best has 0\.9000\)/],
      [() => post("/v1/models/tiny_cnn/classify?deadline_ms=100", new Uint8Array([1, 2, 3]), { "content-type": "image/png" }), 404, /no image preprocessing: send tensors to \/v2\/models\/tiny_cnn\/infer/],
      [() => fetch(`${d.url}/v2/models/tiny_cnn/infer`), 405, /takes POST/],
      [() => fetch(`${d.url}/v3/nothing`), 404, /no such endpoint/],
    ];
    for (const [call, status, re] of cases) {
      const r = await call();
      const body = (await r.json()) as { error?: string };
      expect(r.status, `${re}: ${body.error}`).toBe(status);
      expect(body.error).toMatch(re);
    }
    expect((await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 100 })).status).toBe(200);
  }, 60_000);

  it("health, model metadata, /v1/status (estimates, breaker, queue, recent decisions, hit rate) and /metrics", async () => {
    expect((await fetch(`${d.url}/v2/health/live`)).status).toBe(200);
    expect((await fetch(`${d.url}/v2/health/ready`)).status).toBe(200);
    const meta = (await (await fetch(`${d.url}/v2/models/tiny_cnn`)).json()) as Record<string, unknown>;
    expect(meta).toMatchObject({ name: "tiny_cnn", inputs: [{ name: "input", datatype: "FP32", shape: [-1, 3, 32, 32] }], outputs: [{ name: "logits" }] });
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    expect(st.ready).toBe(true);
    expect(st.model.sha256).toBe(sha);
    expect(st.server.breaker.state).toBe("closed");
    expect(st.server.estimates.rttMs).toBeGreaterThanOrEqual(0);
    expect(st.server.estimates.samples.bandwidth).toBeGreaterThan(0);
    expect(st.queue).toMatchObject({ maxQueued: 64, concurrency: 1 });
    expect(st.decisions.total).toBeGreaterThan(0);
    expect(st.decisions.hitRate).toBeGreaterThan(0);
    expect(st.decisions.recent[0]).toMatchObject({ policy: expect.any(String), configKey: expect.any(String), deadlineMet: expect.any(Boolean) });
    // one device target: every head loaded at start, so no accelerator switch is ever counted (the cold start is reported apart)
    expect(st.accelerator.switchTimeMs).toMatchObject({ used: { cpu: 0 }, from: "none: one device target, every head loaded at start", measuredAtStart: null });
    expect(st.accelerator.switchTimeMs.coldStartMs.cpu).toBeGreaterThan(0);
    expect(st.gpu).toMatchObject({ controlled: false, device: null });
    // how fast heads run here against the front (tiny_cnn's real heads are far under the front's 2 ms: clamped ratios, or none)
    expect(st.device.speed.headScale).toBeGreaterThan(0);
    // never below the floor (as measured), however fast tiny_cnn's heads run against the front's 2 ms
    // (a loaded machine can make them slower: not pinned to 1)
    expect(st.device.speed.headScale).toBeGreaterThanOrEqual(1);
    const m = await (await fetch(`${d.url}/metrics`)).text();
    expect(m).toMatch(/^splitwatt_daemon_decisions_total\{policy="splitwatt",config="codec=raw;cpuFreqMHz=current;deviceTarget=cpu;serverTarget=cpu;split=3"\} \d+/m);
    expect(m).toMatch(/^splitwatt_daemon_deadline_total\{policy="splitwatt",result="hit"\} \d+/m);
    expect(m).toMatch(/^splitwatt_daemon_energy_joules_count\{part="device",source="estimate"\} \d+/m);
    expect(m).toMatch(/^splitwatt_daemon_bandwidth_estimate_bytes_per_second \d/m);
    expect(m).toMatch(/^splitwatt_daemon_breaker_state 0$/m);
    expect(Number(/^splitwatt_daemon_head_time_scale (\S+)$/m.exec(m)?.[1])).toBe(st.device.speed.headScale);
  });

  it("promtool check metrics passes on /metrics", async () => {
    const text = await (await fetch(`${d.url}/metrics`)).text();
    let out = "";
    let code = 0;
    try {
      out = execFileSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string; code?: string };
      if (e.code === "ENOENT") throw new Error("promtool is not installed: apt-get install prometheus (.ci/run installs it)");
      code = e.status;
      out = `${e.stdout}${e.stderr}`;
    }
    expect(code, out).toBe(0);
    expect(out).toBe("");
  });

  it("--on-infeasible reject: a deadline nothing is predicted to meet is a 422 at once, with the best predicted latency", async () => {
    const r = await daemon(["--front", front("reject.pareto.json", { remote: [REMOTE] }), "--on-infeasible", "reject"]);
    const res = await inferJson(r.url, "tiny_cnn", X, { deadline_ms: 0.5 });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/no configuration is predicted to meet deadline_ms 0\.5 .*the best predicted latency is 2\.00 ms .*send a deadline_ms of at least 2/);
    expect((await inferJson(r.url, "tiny_cnn", X, { deadline_ms: 100 })).status).toBe(200);
    // the default (run-fastest): it runs, marked
    const marked = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 0.5 });
    expect(marked.status).toBe(200);
    expect(marked.body.parameters).toMatchObject({ feasible: false });
    await r.stop();
  }, 60_000);

  it("the first RTT sample is taken at start, on the idle link, before any request (probes every minute here: none of them yet)", async () => {
    const cfg = join(dir, "rtt-at-start.yaml");
    writeFileSync(cfg, "probe: { rttIntervalMs: 60000, bandwidth: false }\n");
    const c = await daemon(["--front", front("rtt.pareto.json", { remote: [REMOTE] }), "--server", s.url, "--config", cfg]);
    const st = (await (await fetch(`${c.url}/v1/status`)).json()) as Record<string, any>;
    expect(st.server.estimates.samples).toMatchObject({ rtt: 1, bandwidth: 0 });
    expect(st.server.estimates.rttMs).toBeGreaterThan(0);
    await c.stop();
  }, 60_000);

  it("options: the config file over the defaults, the command line over the file; bearer token", async () => {
    const cfg = join(dir, "daemon.yaml");
    writeFileSync(cfg, `front: ${front("cfg.pareto.json", { remote: [REMOTE] })}\ndefaultDeadlineMs: 500\npolicy: dynasplit\ntoken: s3cret\n`);
    const c = await daemon(["--config", cfg, "--policy", "edge-only"]);
    expect((await inferJson(c.url, "tiny_cnn", X, {})).status).toBe(401);
    const r = await inferJson(c.url, "tiny_cnn", X, {}, { token: "s3cret" });
    expect(r.status).toBe(200);
    expect(r.body.parameters).toMatchObject({ policy: "edge-only", deadline_ms: 500 });
    expect((await fetch(`${c.url}/v2/health/ready`)).status).toBe(200);
    expect((await fetch(`${c.url}/metrics`)).status).toBe(401);
    await c.stop();
  }, 60_000);

  it("429 with Retry-After when the device queue is full; every other request is answered; it serves on", async () => {
    const q = await daemon(["--front", front("queue.pareto.json"), "--max-queue", "1"]);
    // Two requests with a batch of 2048 rows take the device for about 0.6 s each: the first runs, the
    // second waits, and while it waits the queue (bound 1) is full whatever the machine's speed.
    // Their bodies are binary tensors made before the first is sent, so the second is in the queue
    // within a few ms of being sent. (/v1/status answers while a head computes: heads run on the
    // device thread; the old daemon, heads on its event loop, could not answer it then.)
    const { encodeInferRequest } = await import("../../src/transport/oip/index.js");
    const ROWS = 2048;
    const bigBody = (): { headers: Record<string, string>; body: Buffer } => {
      const r = encodeInferRequest({ inputs: [{ name: "input", datatype: "FP32", shape: [ROWS, 3, 32, 32], data: new Float32Array(ROWS * 3072) }], parameters: { deadline_ms: 30_000 } }, { binary: true });
      return { headers: Object.fromEntries(Object.entries(r.headers).filter(([k]) => k.toLowerCase() !== "content-length")), body: Buffer.concat(Array.isArray(r.body) ? r.body : [r.body]) };
    };
    const bodies = [bigBody(), bigBody()];
    const big = async (i: number): Promise<{ status: number; body: { outputs?: Array<{ shape: number[] }> } }> => {
      const r = await fetch(`${q.url}/v2/models/tiny_cnn/infer`, { method: "POST", headers: bodies[i]?.headers, body: bodies[i]?.body });
      return { status: r.status, body: (await r.json()) as never };
    };
    const status = async (): Promise<{ queued: number; running: number }> => ((await (await fetch(`${q.url}/v1/status`)).json()) as { queue: { queued: number; running: number } }).queue;
    const until = async (what: string, ok: (s: { queued: number; running: number }) => boolean): Promise<void> => {
      for (let i = 0; i < 2000; i++) {
        if (ok(await status())) return;
        await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error(`the queue never got ${what}`);
    };
    const first = big(0);
    await until("a running job", (s) => s.running === 1);
    const second = big(1);
    await until("a waiting job", (s) => s.queued === 1);
    const results = await Promise.all(Array.from({ length: 20 }, () => inferJson(q.url, "tiny_cnn", X, { deadline_ms: 5000 })));
    const statuses = `statuses ${results.map((r) => `${r.status}${r.status === 200 || r.status === 429 ? "" : ` ${JSON.stringify(r.body)}`}`).join(",")}`;
    const by = (s: number) => results.filter((r) => r.status === s);
    expect(by(429).length, statuses).toBeGreaterThan(0);
    expect(by(200).length + by(429).length, statuses).toBe(20);
    for (const r of by(429)) {
      expect(Number(r.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
      expect(r.body.error).toMatch(/the device queue is full \(1 waiting\): retry after \d+ s/);
    }
    // the requests it accepted are all answered
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect((await second).body.outputs?.[0]?.shape[0]).toBe(ROWS);
    expect((await inferJson(q.url, "tiny_cnn", X, { deadline_ms: 5000 })).status).toBe(200);
    const m = await (await fetch(`${q.url}/metrics`)).text();
    expect(Number(/^splitwatt_daemon_queue_rejected_total (\d+)/m.exec(m)?.[1]), statuses).toBe(by(429).length);
    await q.stop();
  }, 60_000);
});

describe("splitwatt daemon: faults", () => {
  it("the tail server killed in the middle of a stream: every request answered, fallbacks counted, the server re-admitted once it is back", async () => {
    const port = await freePort();
    let s = await serve(port);
    const cfg = join(dir, "faults.yaml");
    writeFileSync(cfg, "breaker: { failureThreshold: 2, baseBackoffMs: 300, maxBackoffMs: 600, jitter: 0 }\nprobe: { rttIntervalMs: 200 }\n");
    const d = await daemon(["--front", front("faults.pareto.json", { remote: [REMOTE] }), "--server", s.url, "--config", cfg]);
    const answers: Array<{ status: number; fallback: unknown; reason: unknown; split: number }> = [];
    const one = async (): Promise<void> => {
      const r = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 2000 });
      answers.push({ status: r.status, fallback: r.body.parameters?.fallback, reason: r.body.parameters?.fallback_reason, split: JSON.parse(String(r.body.parameters?.config ?? "{}")).split });
    };
    const stream = async (n: number, concurrent: number): Promise<void> => {
      for (let i = 0; i < n; i += concurrent) await Promise.all(Array.from({ length: concurrent }, one));
    };
    await stream(10, 2);
    expect(answers.every((a) => a.status === 200 && a.fallback === false && a.split === REMOTE.split)).toBe(true);
    // kill the server while requests are in flight
    const inflight = stream(40, 4);
    await new Promise((r) => setTimeout(r, 30));
    await s.stop("SIGKILL");
    await inflight;
    expect(answers.map((a) => a.status)).toEqual(new Array(answers.length).fill(200));
    const fell = answers.filter((a) => a.fallback === true);
    expect(fell.length).toBeGreaterThan(0);
    expect(fell.every((a) => a.split === L)).toBe(true);
    expect(new Set(fell.map((a) => a.reason))).toContain("breaker-open");
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    expect(st.server.breaker.state).not.toBe("closed");
    expect(st.decisions.fallbacks).toBe(fell.length);
    const m = await (await fetch(`${d.url}/metrics`)).text();
    const counted = [...m.matchAll(/^splitwatt_daemon_fallbacks_total\{reason="[^"]+"\} (\d+)/gm)].reduce((n, x) => n + Number(x[1]), 0);
    expect(counted).toBe(fell.length);
    // the server comes back on the same port: re-admitted by a probe, requests go to it again
    s = await serve(port);
    let state = "";
    for (let i = 0; i < 100 && state !== "closed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = ((await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>).server.breaker.state;
    }
    expect(state).toBe("closed");
    expect(d.records().map((r) => r.msg)).toEqual(expect.arrayContaining(["tail server out: circuit breaker open, answering from the device", "tail server re-admitted"]));
    const back = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 2000 });
    expect(back.body.parameters).toMatchObject({ fallback: false });
    expect(JSON.parse(back.body.parameters?.config as string).split).toBe(REMOTE.split);
    expect((await d.stop()).code).toBe(0);
    await s.stop();
  }, 90_000);

  it("a server that hangs (SIGSTOP: connections accepted, nothing answered): every request is answered from the device within its deadline + grace, none hangs; re-admitted after SIGCONT", async () => {
    const s = await serve();
    const cfg = join(dir, "hang.yaml");
    const graceMs = 300;
    writeFileSync(cfg, `graceMs: ${graceMs}\nbreaker: { failureThreshold: 2, baseBackoffMs: 300, maxBackoffMs: 600, jitter: 0, probeTimeoutMs: 300 }\nprobe: { rttIntervalMs: 0, bandwidth: false }\n`);
    const d = await daemon(["--front", front("hang.pareto.json", { remote: [REMOTE] }), "--server", s.url, "--config", cfg]);
    const timed = async (deadlineMs: number) => {
      const t0 = performance.now();
      const r = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: deadlineMs });
      return { ms: performance.now() - t0, status: r.status, p: r.body.parameters as Record<string, unknown> };
    };
    // the cheap remote configuration while the server answers
    expect((await timed(400)).p).toMatchObject({ fallback: false, config: expect.stringContaining(`"split":${REMOTE.split}`) });
    s.child.kill("SIGSTOP");
    try {
      const answers: Array<Awaited<ReturnType<typeof timed>>> = [];
      for (let round = 0; round < 4; round++) answers.push(...(await Promise.all([timed(400), timed(250)])));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.p.fallback).toBe(true);
        expect(["server-timeout", "breaker-open", "no-time-for-server"]).toContain(a.p.fallback_reason);
        // the daemon's bound, on its own clock (arrival to result): deadline + grace
        expect(a.p.latency_ms as number, JSON.stringify(a.p)).toBeLessThan((a.p.deadline_ms as number) + graceMs);
        // and as this test sees it: none hangs (150 ms for its own HTTP round trip on a busy machine)
        expect(a.ms, JSON.stringify(a.p)).toBeLessThan((a.p.deadline_ms as number) + graceMs + 150);
      }
      expect(answers.map((a) => a.p.fallback_reason)).toContain("server-timeout");
      expect(answers.map((a) => a.p.fallback_reason)).toContain("breaker-open");
    } finally {
      s.child.kill("SIGCONT");
    }
    let state = "";
    for (let i = 0; i < 100 && state !== "closed"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      state = ((await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>).server.breaker.state;
    }
    expect(state).toBe("closed");
    expect((await timed(400)).p).toMatchObject({ fallback: false });
    expect((await d.stop()).code).toBe(0);
    await s.stop();
  }, 60_000);

  it("a server that is down at start: the daemon starts, answers from the device, and admits the server when it comes up", async () => {
    const port = await freePort();
    const cfg = join(dir, "late.yaml");
    writeFileSync(cfg, "breaker: { baseBackoffMs: 200, maxBackoffMs: 400, jitter: 0 }\n");
    const d = await daemon(["--front", front("late.pareto.json", { remote: [REMOTE] }), "--server", `http://127.0.0.1:${port}`, "--config", cfg]);
    expect(d.records().find((r) => String(r.msg).startsWith("tail server out at start"))).toBeDefined();
    const r = await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 2000 });
    expect(r.status).toBe(200);
    expect(r.body.parameters).toMatchObject({ fallback: true, fallback_reason: "breaker-open" });
    const s = await serve(port);
    let split = -1;
    for (let i = 0; i < 60 && split !== REMOTE.split; i++) {
      await new Promise((res) => setTimeout(res, 100));
      split = JSON.parse(String((await inferJson(d.url, "tiny_cnn", X, { deadline_ms: 2000 })).body.parameters?.config)).split;
    }
    expect(split).toBe(REMOTE.split);
    await d.stop();
    await s.stop();
  }, 60_000);
});
