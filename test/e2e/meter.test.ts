/**
 * `--meter` through the built CLI, against fake meters on loopback (a real HTTP server in this
 * process: the CLI is spawned asynchronously so the server can answer), and the estimate's
 * frequency label on a fake Raspberry Pi 4 tree.
 */
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { raspberryPi4 } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dirs: string[] = [];
const servers: Server[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-meter-e2e-"));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The CLI, asynchronously (a synchronous spawn would block the fake meter in this process). */
function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, CI: "true", ...env } }, (err, stdout, stderr) =>
      done({ code: err === null ? 0 : typeof err.code === "number" ? err.code : null, stdout, stderr }),
    );
  });
}

const QUICK = ["--min-runs", "5", "--max-seconds", "3", "--warm-up", "1", "--idle-ms", "20", "--no-accuracy", "--network", "none"];
const LAST_CUT = "14"; // tiny_cnn: all on the device, no tail server

async function httpMeter(watts: number): Promise<string> {
  const server = createServer((_req, res) => res.end(JSON.stringify({ meters: [{ power: watts }] })));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  return `http:http://127.0.0.1:${(server.address() as { port: number }).port}/status#meters.0.power`;
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe("splitwatt measure --meter", () => {
  it("measure tiny_cnn --meter http:... --json: energySource.device is meter, the spec is in the host facts", async () => {
    const spec = await httpMeter(5);
    const state = tmp();
    const r = await cli(["measure", "tiny_cnn", "--cut", LAST_CUT, "--meter", spec, "--meter-period-ms", "50", "--store", join(state, "m.jsonl"), "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(r.stderr).not.toMatch(/internal error|warning/);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, any>;
    expect(j.energySource.device).toBe("meter");
    expect(j.host.deviceEnergy).toBe(`meter:${spec}`);
    expect(j.host.deviceMeter).toMatchObject({ spec, windows: j.latencyMs.n, noFigure: 0 });
    expect(j.host.deviceMeter.integrated + j.host.deviceMeter.runMean).toBe(j.latencyMs.n);
    // a constant 5 W: each request's window (a little longer than its measured latency) x 5 W
    expect(j.energyJ.device).toBeGreaterThanOrEqual((5 * j.latencyMs.mean) / 1000);
    expect(j.energyJ.device).toBeLessThanOrEqual((5 * (j.latencyMs.mean + 2)) / 1000);
    expect(j.energyJ.total).toBe(j.energyJ.device);
    expect(j.notes.join("\n")).toMatch(/device energy from the meter http:/);
    if (j.host.deviceMeter.runMean > 0) expect(j.notes.join("\n")).toMatch(/shorter than 3 meter periods/);
  }, 120_000);

  it("a meter that is not there: warnings on stderr, no figure (never 0 J), nothing stored, no crash", async () => {
    const spec = `shelly:127.0.0.1:${await deadPort()}`;
    const state = tmp();
    const store = join(state, "m.jsonl");
    const r = await cli(["measure", "tiny_cnn", "--cut", LAST_CUT, "--meter", spec, "--meter-period-ms", "50", "--store", store, "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/splitwatt: warning: meter shelly:127\.0\.0\.1:\d+: connection refused/);
    const j = JSON.parse(r.stdout) as Record<string, any>;
    expect(j.energyJ.device).toBeNull();
    expect(j.energyJ.total).toBeNull();
    expect(j.energySource.device).toBeNull();
    expect(j.notes.join("\n")).toMatch(/not stored/);
    const again = await cli(["measure", "tiny_cnn", "--cut", LAST_CUT, "--store", store, "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(JSON.parse(again.stdout).cached).toBe(false);
  }, 120_000);

  it("a bad spec is a one-line usage error on every command that takes --meter", async () => {
    for (const args of [["hw"], ["measure", "tiny_cnn", "--cut", "3"], ["optimize", "--model", "tiny_cnn"]]) {
      const r = await cli([...args, "--meter", "modbus:10.0.0.1"]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/--meter: meter "modbus:10\.0\.0\.1": unknown meter kind/);
    }
  }, 60_000);
});

describe("splitwatt optimize with meter: in its YAML config", () => {
  it("every evaluation is measured with the meter; the pareto file names it", async () => {
    const spec = await httpMeter(2.5);
    const d = tmp();
    const store = join(d, "m.jsonl");
    const out = join(d, "tiny.pareto.json");
    const config = join(d, "opt.yaml");
    writeFileSync(
      config,
      [
        "model: tiny_cnn",
        "network: none",
        `meter: "${spec}"`,
        "meterPeriodMs: 50",
        `store: ${store}`,
        "dimensions: { codec: [raw] }",
        "budget: 3",
        "seed: 3",
        "measure: { minRuns: 3, maxSeconds: 1, warmUp: 1, idleMs: 0, accuracy: false }",
        `out: ${out}`,
      ].join("\n"),
    );
    const r = await cli(["optimize", "--config", config], { SPLITWATT_STATE_DIR: d });
    expect(r.stderr).not.toMatch(/internal error|warning/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(out, "utf8")) as Record<string, any>;
    expect(doc.source.deviceEnergy).toBe(`meter ${spec}`);
    expect(doc.evaluations).toBe(3);
    const records = readFileSync(store, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, any>);
    expect(records).toHaveLength(3);
    for (const m of records) {
      expect(m.energySource.device).toBe("meter");
      expect(m.host.deviceMeter.spec).toBe(spec);
      expect(m.energyJ.device).toBeGreaterThan(0);
    }
  }, 300_000);
});

describe("splitwatt hw --meter", () => {
  it("a recorded csv trace: the device source is the meter, read over 5 meter periods", async () => {
    const d = tmp();
    const f = join(d, "trace.csv");
    const now = Date.now();
    const rows = ["epoch_ms,W"];
    for (let t = now - 5000; t <= now + 30_000; t += 100) rows.push(`${t},3.3`);
    writeFileSync(f, `${rows.join("\n")}\n`);
    const r = await cli(["hw", "--json", "--meter", `csv:${f}`, "--meter-period-ms", "100"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, any>;
    expect(j.energy.deviceSource).toBe("meter");
    expect(j.energy.estimated).toBe(false);
    expect(j.energy.readingWindowMs).toBe(500);
    const m = j.energy.sources.find((s: { kind: string }) => s.kind === "meter");
    expect(m).toMatchObject({ id: `meter:csv:${f}`, device: true, measures: "power" });
    expect(m.reading.powerW).toBeCloseTo(3.3, 6);
    expect(m.reading.method).toBe("trapezoid");
    const human = await cli(["hw", "--meter", `csv:${f}`, "--meter-period-ms", "100"]);
    expect(human.stdout).toMatch(/Energy sources \(device total from: meter\)/);
    expect(human.stdout).toMatch(new RegExp(`meter:csv:${f.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\s+meter\\s+board\\s+power\\s+3\\.30 W over 500 ms\\s+\\[device\\]`));
  }, 60_000);
});

describe("the estimate's frequency in measure's output", () => {
  it("--freq-mhz on a (fake) Pi 4 with --board raspberry-pi-4: priced and labelled at that frequency; the board check warns once", async () => {
    const t = FakeTree.create();
    raspberryPi4(t);
    try {
      const state = tmp();
      const env = { SPLITWATT_STATE_DIR: state, SPLITWATT_SYSFS_ROOT: t.sysfsRoot };
      const common = ["measure", "tiny_cnn", "--cut", LAST_CUT, "--board", "raspberry-pi-4", "--store", join(state, "m.jsonl"), ...QUICK];
      const r = await cli([...common, "--freq-mhz", "600", "--json"], env);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as Record<string, any>;
      expect(j.energySource.device).toBe("estimate");
      expect(j.host.deviceEstimateFreqMHz).toBe(600);
      expect(j.host.deviceEstimateFreqSource).toBe("applied");
      const boardLines = (j.notes as string[]).filter((n) => /board profile raspberry-pi-4 is for/.test(n));
      expect(boardLines).toHaveLength(process.arch === "arm64" || process.arch === "arm" ? 0 : 1);
      const human = await cli([...common, "--freq-mhz", "1500"], env);
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/energy J {5}device \d+\.\d{4} \[estimate at 1500 MHz\]/);
    } finally {
      t.cleanup();
    }
  }, 120_000);
});

describe("--meter is offered where energy is measured", () => {
  it("hw, measure and optimize list --meter and --meter-period-ms", () => {
    for (const c of ["hw", "measure", "optimize"]) {
      const r = spawnSync(process.execPath, [bin, c, "--help"], { encoding: "utf8" });
      expect(r.stdout, c).toMatch(/--meter <spec>/);
      expect(r.stdout, c).toMatch(/--meter-period-ms <ms>/);
    }
  });
});
