/**
 * `splitwatt bench --daemon` end to end: the built CLI, tiny_cnn from the zoo (real
 * onnxruntime), fronts with the model's real cuts and sha256 (test/fixtures/daemonFronts.ts),
 * real tail servers and daemons: the in-process ones of the bench behind the shaped link (kernel
 * tbf as root, else the app token bucket), or `splitwatt serve` / `splitwatt daemon` children.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBenchResults } from "../../src/contracts/benchResults.js";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { bin, runCli, startChild, type Child } from "../fixtures/daemonProcess.js";

let dir: string;
let sha: string;
let L: number;
let front: string;
const children: Child[] = [];
const env = (): Record<string, string> => ({ SPLITWATT_STATE_DIR: join(dir, "state") });
const cli = (args: string[], timeoutMs = 60_000) => runCli(args, env(), timeoutMs);

const oneLineExit2 = (r: { code: number | null; stderr: string }, pattern: RegExp): void => {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
};

/** A `splitwatt serve` child and a `splitwatt daemon` child in front of it, on loopback. */
async function daemonChild(frontPath: string): Promise<Child> {
  const s = await startChild(["serve", "--model", "model=tiny_cnn", "--port", "0"], { env: env() });
  children.push(s);
  const d = await startChild(["daemon", "--model", "tiny_cnn", "--front", frontPath, "--server", s.url, "--port", "0"], { env: env() });
  children.push(d);
  return d;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-bench-live-"));
  const a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  sha = a.model.sha256;
  L = a.cuts.length - 1;
  // cut 0 sends the 3x32x32 input (12 KiB), cut 3 16 KiB; the last cut runs all on the device
  expect([a.cuts[0]?.bytes, a.cuts[3]?.bytes]).toEqual([12288, 16384]);
  front = writeFront(
    dir,
    "tiny.pareto.json",
    liveFront({
      sha256: sha,
      lastCut: L,
      remote: [
        { split: 0, bytes: 12288 },
        { split: 3, bytes: 16384 },
      ],
    }),
  );
  // 24 deadlines in 40-200 ms, 40 ms apart: the bandwidth trace steps from 100 to 1 Mbit/s at 480 ms (request 12)
  expect(cli(["workload", "--weibull-shape", "1", "--min-ms", "40", "--max-ms", "200", "--n", "24", "--seed", "3", "--out", join(dir, "w24.csv")]).code).toBe(0);
  expect(cli(["workload", "--bandwidth", "step", "--levels-mbps", "100,1", "--every-ms", "480", "--out", join(dir, "bw.csv")]).code).toBe(0);
  expect(cli(["workload", "--weibull-shape", "1", "--min-ms", "40", "--max-ms", "200", "--n", "200", "--seed", "4", "--out", join(dir, "w200.csv")]).code).toBe(0);
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  rmSync(dir, { recursive: true, force: true });
});

describe("splitwatt bench --daemon (in-process daemon and tail server on the shaped link)", () => {
  it("replays the deadlines for real, steps the link's rate with the bandwidth trace, writes a live results.json that splitwatt report renders with its timeline", () => {
    const out = join(dir, "in-process");
    const r = cli(["bench", "--daemon", "--front", front, "--workload", join(dir, "w24.csv"), "--bandwidth-trace", join(dir, "bw.csv"), "--interval-ms", "40", "--strategies", "cloud-only,edge-only,splitwatt", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^# splitwatt bench: tiny_cnn/);
    expect(r.stdout).toMatch(/- link: emulated \((kernel tbf|app)\)/);
    expect(r.stdout).toMatch(/- device energy: estimate \(board .* power model x this process's CPU utilisation\)/);
    const doc = readBenchResults(out);
    expect(doc.mode).toBe("live");
    expect(doc.daemon).toMatchObject({ inProcess: true });
    expect(doc.strategies.map((s) => [s.name, s.requests, s.sourceLabel])).toEqual([
      ["cloud-only", 24, "estimate"],
      ["edge-only", 24, "estimate"],
      ["splitwatt", 24, "estimate"],
    ]);
    const live = doc.live!;
    expect(live.link.kind === "kernel-tbf" || live.link.kind === "app").toBe(true);
    expect(live).toMatchObject({ pacing: "arrival", plannedRequests: 24, startedRequests: 24, interrupted: false, errors: [] });
    expect(live.rateChanges).toEqual([
      { timeMs: 0, bandwidthMbps: 100, rttMs: null },
      { timeMs: 480, bandwidthMbps: 1, rttMs: null },
    ]);
    // what the daemon measured: cloud-only sent all of its 12 KiB inputs to the server, edge-only none
    const cloud = doc.strategies[0]!;
    const edge = doc.strategies[1]!;
    expect(Object.keys(cloud.decisions)).toEqual([expect.stringMatching(/split=0$/)]);
    expect(Object.keys(edge.decisions)).toEqual([expect.stringMatching(new RegExp(`split=${L}$`))]);
    expect(edge.energyByPartJ.network).toBe(0);
    expect(cloud.energyByPartJ.network).toBeGreaterThan(0);
    // the step is real: 12 KiB take ~1 ms at 100 Mbit/s and ~98 ms at 1 Mbit/s (+ the profile's 10 ms RTT both times)
    const bins = doc.timeline!.filter((t) => t.strategy === "cloud-only");
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const fast = bins.filter((t) => t.bandwidthMbps === 100).map((t) => t.meanLatencyMs!);
    const slow = bins.filter((t) => t.bandwidthMbps === 1).map((t) => t.meanLatencyMs!);
    expect(fast.length).toBeGreaterThan(0);
    expect(slow.length).toBeGreaterThan(0);
    expect(mean(slow) - mean(fast)).toBeGreaterThan(60);
    // splitwatt re-renders from results.json alone, the timeline chart with it
    rmSync(join(out, "report.html"));
    expect(cli(["report", out]).code).toBe(0);
    const html = readFileSync(join(out, "report.html"), "utf8");
    const timeline = /<figure class="chart" data-chart="timeline">(.*?)<\/figure>/s.exec(html)?.[1] ?? "";
    expect(timeline).toMatch(/^<svg[^>]*>.*<path/s);
    expect(html).toContain("emulated (");
    expect(readFileSync(join(out, "summary.md"), "utf8")).toMatch(/live run, seed 1: .* paced at the arrival times/);
  }, 30_000);

  it("--link app (the path without root): the token bucket in the daemon's client shapes the link and follows the trace, labelled app", () => {
    const out = join(dir, "app");
    const r = cli(["bench", "--daemon", "--link", "app", "--front", front, "--workload", join(dir, "w24.csv"), "--bandwidth-trace", join(dir, "bw.csv"), "--interval-ms", "40", "--pace", "back-to-back", "--strategies", "cloud-only", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = readBenchResults(out);
    expect(doc.live!.link).toEqual({ kind: "app", label: expect.stringMatching(/^emulated \(app\): token bucket in the client, 100 Mbit\/s up \/ 100 Mbit\/s down \+ 10 ms RTT per request \(requested\), in the daemon's client/) });
    const bins = doc.timeline!;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const fast = mean(bins.filter((t) => t.bandwidthMbps === 100).map((t) => t.meanLatencyMs!));
    const slow = mean(bins.filter((t) => t.bandwidthMbps === 1).map((t) => t.meanLatencyMs!));
    // 12 KiB up: ~1 ms at 100 Mbit/s, ~98 ms at 1 Mbit/s; the 10 ms RTT both times
    expect(fast).toBeGreaterThan(10);
    expect(slow - fast).toBeGreaterThan(60);
  }, 30_000);

  it("refuses, in one line with exit 2: a front for another model, a load trace, live options in replay mode, a bad --pace", () => {
    const other = writeFront(dir, "other.pareto.json", liveFront({ sha256: "ab".repeat(32), lastCut: L }));
    const w = join(dir, "w24.csv");
    oneLineExit2(cli(["bench", "--daemon", "--front", other, "--model", "tiny_cnn", "--workload", w, "--out", join(dir, "x1")]), /other\.pareto\.json was made for another model \(sha256 abababababab\.\.\.; tiny_cnn is/);
    oneLineExit2(cli(["bench", "--daemon", "--front", front, "--workload", w, "--load-trace", join(dir, "bw.csv")]), /--load-trace applies to --replay only/);
    oneLineExit2(cli(["bench", "--daemon", "--workload", w]), /--daemon needs --workload TRACE\.csv and --front FILE\.pareto\.json/);
    oneLineExit2(cli(["bench", "--daemon", "--front", front, "--workload", w, "--pace", "slow"]), /--pace: give arrival or back-to-back/);
    oneLineExit2(cli(["bench", "--daemon", "--front", front, "--workload", w, "--strategies", "splitwatt,oracle"]), /unknown strategy "oracle"/);
    oneLineExit2(cli(["bench", "--replay", "pool.csv", "--workload", w, "--front", front, "--pace", "arrival"]), /--pace is an option of live runs \(--daemon \[URL\]\); leave it out/);
    expect(existsSync(join(dir, "x1", "results.json"))).toBe(false);
  }, 30_000);
});

describe("splitwatt bench --daemon URL (a splitwatt daemon child)", () => {
  let d: Child;
  beforeAll(async () => {
    d = await daemonChild(front);
  }, 30_000);

  it("sends every deadline once per strategy, back to back; the daemon's own decision count agrees; --per-request rows add up", async () => {
    const out = join(dir, "url");
    const r = cli(["bench", "--daemon", d.url, "--front", front, "--workload", join(dir, "w24.csv"), "--pace", "back-to-back", "--strategies", "cloud-only,splitwatt,dynasplit", "--per-request", "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    const doc = readBenchResults(out);
    expect(doc.daemon).toEqual({ url: d.url, inProcess: false });
    expect(doc.live).toMatchObject({ pacing: "back-to-back", link: { kind: "external" }, maxLagMs: null });
    expect(doc.live!.deviceEnergy).toMatch(/^estimate \(board /);
    expect(doc.strategies.map((s) => s.requests)).toEqual([24, 24, 24]);
    // the daemon counted the same requests: 24 x 3 and one warm-up per strategy
    const status = (await (await fetch(`${d.url}/v1/status`)).json()) as { decisions: { total: number } };
    expect(status.decisions.total).toBe(24 * 3 + 3);
    const rows = readFileSync(join(out, "requests.csv"), "utf8").trim().split("\n");
    expect(rows[0]).toBe("Index,Network,ArrivalMs,DeadlineMs,Strategy,Config,LatencyMs,EnergyJ,DeviceJ,NetworkJ,ServerJ,Met");
    expect(rows).toHaveLength(1 + 24 * 3);
    for (const s of doc.strategies) {
      const mine = rows.slice(1).filter((l) => l.split(",")[4] === s.name);
      expect(mine.filter((l) => l.endsWith(",0"))).toHaveLength(s.missed);
      const energy = mine.map((l) => Number(l.split(",")[7]));
      expect(energy.reduce((a, b) => a + b, 0) / energy.length).toBeCloseTo(s.meanEnergyJ!, 9);
    }
  }, 30_000);

  it("Ctrl-C keeps what was measured: exit 130, a valid results.json of the requests answered, marked interrupted", async () => {
    const out = join(dir, "interrupted");
    const child = spawn(process.execPath, [bin, "bench", "--daemon", d.url, "--front", front, "--workload", join(dir, "w200.csv"), "--interval-ms", "50", "--strategies", "splitwatt,edge-only", "--out", out], {
      env: { ...process.env, CI: "true", ...env() },
    });
    let stderr = "";
    child.stderr.on("data", (b) => (stderr += String(b)));
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    await new Promise((res) => setTimeout(res, 2500));
    child.kill("SIGINT");
    expect(await exited, stderr).toBe(130);
    const last = stderr.trim().split("\n").pop() ?? "";
    expect(last).toMatch(/^splitwatt: interrupted after \d+ of 200 requests: what was measured is in .*results\.json/);
    const doc = readBenchResults(out);
    const started = doc.live!.startedRequests;
    expect(doc.live!.interrupted).toBe(true);
    expect(started).toBeGreaterThan(0);
    expect(started).toBeLessThan(200);
    expect(doc.workload.requests).toBe(started);
    for (const s of doc.strategies) expect(s.requests).toBeGreaterThanOrEqual(started - 1);
    expect(readFileSync(join(out, "summary.md"), "utf8")).toMatch(/INTERRUPTED after \d+ of 200 requests/);
  }, 30_000);

  it("refuses, in one line with exit 2: a dead URL, a daemon for another model, options that only set up the in-process daemon", () => {
    const w = join(dir, "w24.csv");
    oneLineExit2(cli(["bench", "--daemon", "http://127.0.0.1:9", "--front", front, "--workload", w]), /E_UNREACHABLE.*cannot reach the daemon at http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\): start it with splitwatt daemon/);
    oneLineExit2(cli(["bench", "--daemon", "not a url", "--front", front, "--workload", w]), /--daemon not a url is not a URL/);
    const other = writeFront(dir, "other2.pareto.json", liveFront({ sha256: "cd".repeat(32), lastCut: L }));
    oneLineExit2(cli(["bench", "--daemon", d.url, "--front", other, "--workload", w]), /the daemon at .* serves model "tiny_cnn" \(tiny_cnn, sha256 [0-9a-f]{12}\.\.\.\) but .*other2\.pareto\.json was made for another model \(sha256 cdcdcdcdcdcd/);
    oneLineExit2(cli(["bench", "--daemon", d.url, "--front", front, "--workload", w, "--model", "resnet18"]), /serves model "tiny_cnn" \(tiny_cnn\), not resnet18/);
    oneLineExit2(cli(["bench", "--daemon", d.url, "--front", front, "--workload", w, "--bandwidth-trace", join(dir, "bw.csv")]), /--bandwidth-trace needs the in-process daemon/);
    oneLineExit2(cli(["bench", "--daemon", d.url, "--front", front, "--workload", w, "--target", "0.9"]), /--target sets the in-process daemon's policies/);
    oneLineExit2(cli(["bench", "--daemon", d.url, "--front", front, "--workload", w, "--link", "app"]), /--link sets up the in-process daemon/);
  }, 30_000);

  it("a daemon started with --token: refused in one line without SPLITWATT_TOKEN, measured with it", async () => {
    const s = await startChild(["serve", "--model", "model=tiny_cnn", "--port", "0"], { env: env() });
    children.push(s);
    const t = await startChild(["daemon", "--model", "tiny_cnn", "--front", front, "--server", s.url, "--port", "0", "--token", "s3cret"], { env: env() });
    children.push(t);
    const args = ["bench", "--daemon", t.url, "--front", front, "--workload", join(dir, "w24.csv"), "--pace", "back-to-back", "--strategies", "edge-only", "--out", join(dir, "token")];
    oneLineExit2(runCli(args, { ...env(), SPLITWATT_TOKEN: "" }), /the daemon at .* wants a bearer token: set SPLITWATT_TOKEN to the daemon's --token/);
    const r = runCli(args, { ...env(), SPLITWATT_TOKEN: "s3cret" });
    expect(r.code, r.stderr).toBe(0);
    expect(readBenchResults(join(dir, "token")).strategies[0]!.requests).toBe(24);
  }, 30_000);

  it("a daemon that dies mid-run: one line, exit 2, the requests answered before kept", async () => {
    const dying = await daemonChild(front);
    const out = join(dir, "died");
    const child = spawn(process.execPath, [bin, "bench", "--daemon", dying.url, "--front", front, "--workload", join(dir, "w200.csv"), "--interval-ms", "50", "--strategies", "edge-only", "--out", out], {
      env: { ...process.env, CI: "true", ...env() },
    });
    let stderr = "";
    child.stderr.on("data", (b) => (stderr += String(b)));
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    await new Promise((res) => setTimeout(res, 2000));
    await dying.stop("SIGKILL");
    expect(await exited, stderr).toBe(2);
    expect(stderr.trim().split("\n"), stderr).toHaveLength(1);
    expect(stderr).toMatch(/E_UNREACHABLE.*cannot reach the daemon at .*; the \d+ requests before are in .*results\.json/);
    const doc = readBenchResults(out);
    expect(doc.strategies[0]!.requests).toBeGreaterThan(0);
  }, 30_000);
});
