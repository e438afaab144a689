/**
 * Ctrl-C and SIGTERM through the built CLI (src/shutdown.ts): the command's own clean-up first
 * (optimize writes the front so far), then the emulated link's teardown, exit 130 / 143 with one
 * line that says how to continue, and nothing left behind: no network namespace, no server child.
 *
 * Ctrl-C in a terminal goes to the whole foreground process group, the local `splitwatt serve`
 * child included: the CLI is started as a group leader here and signalled as a group.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-interrupt-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const QUICK = ["--no-accuracy", "--min-runs", "3", "--max-seconds", "1", "--warm-up", "1", "--idle-ms", "0"];
const records = (f: string): string[] => (existsSync(f) ? readFileSync(f, "utf8").split("\n").filter((l) => l.trim() !== "") : []);
const lines = (f: string): number => records(f).length;
/** stored records that sent a request to the tail server (all-on-device ones send nothing) */
const sentRecords = (f: string): number =>
  records(f).filter((l) => {
    try {
      return ((JSON.parse(l) as { wireBytes?: number }).wireBytes ?? 0) > 0;
    } catch {
      return false;
    }
  }).length;
const cmdline = (p: number): string => {
  try {
    return readFileSync(`/proc/${p}/cmdline`, "latin1");
  } catch {
    return "";
  }
};
/** the run's local `splitwatt serve` child is up (it is in the CLI's process group) */
const serving = (mark: string): boolean => marked(mark).some((p) => cmdline(p).includes("\0serve\0"));
/** pids of processes whose environment carries `mark` (children inherit it) */
const marked = (mark: string): number[] =>
  readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/environ`, "latin1").includes(mark);
      } catch {
        return false;
      }
    })
    .map(Number);
const netnsOf = (pid: number): string[] =>
  execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.startsWith(`sw-${pid}t`) || n.startsWith(`sw-${pid}-`));

interface Interrupted {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  pid: number;
  mark: string;
  /** ms from the signal to the exit */
  exitMs: number;
}

/**
 * Run the CLI as a process-group leader, wait until `ready()` holds, signal it (the group, or
 * the process alone), and collect what it did.
 */
async function interrupt(args: string[], state: string, sig: NodeJS.Signals, opts: { group: boolean; ready: (mark: string) => boolean }): Promise<Interrupted> {
  const mark = `${process.pid}-${Date.now()}-${Math.random()}`;
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: state, SW_TEST_MARK: mark },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.once("exit", (code, signal) => done({ code, signal })));
  // "close": the exit and both pipes drained
  const closed = new Promise((done) => child.once("close", done));
  let early: { code: number | null } | null = null;
  void exited.then((e) => (early = e));
  const deadline = Date.now() + 120_000;
  while (!opts.ready(mark) && early === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  if (early !== null) throw new Error(`exited (${(early as { code: number | null }).code}) before the signal: ${stderr}`);
  const pid = child.pid as number;
  const t0 = performance.now();
  process.kill(opts.group ? -pid : pid, sig);
  const e = await exited;
  const exitMs = performance.now() - t0;
  await closed;
  return { ...e, stdout, stderr, pid, mark, exitMs };
}

/** Nothing of the run is left: no namespace, no process (the server child included). */
async function nothingLeft(r: Interrupted): Promise<void> {
  const deadline = Date.now() + 3000;
  while (marked(r.mark).length > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  expect(marked(r.mark), "processes of the run still alive").toEqual([]);
  expect(netnsOf(r.pid)).toEqual([]);
}

/** The one line that says what happened and how to continue, last on stderr. */
function interruptLine(stderr: string, sig: string): string {
  const all = stderr.trim().split("\n");
  const about = all.filter((l) => /interrupted/.test(l));
  expect(about, stderr).toHaveLength(1);
  expect(all.at(-1)).toBe(about[0]);
  expect(about[0]).toMatch(new RegExp(`^splitwatt: interrupted by ${sig}`));
  expect(stderr).not.toMatch(/internal error|E_USAGE|ECONNREFUSED/);
  return about[0] as string;
}

function checkFront(out: string, storeLines: number): Record<string, any> {
  expect(existsSync(out), `${out} was not written`).toBe(true);
  const doc = JSON.parse(readFileSync(out, "utf8")) as Record<string, any>;
  expect(doc.aborted).toBe(true);
  expect(doc.evaluations).toBeGreaterThanOrEqual(2);
  expect(doc.evaluations).toBeLessThan(20);
  expect(doc.archive).toHaveLength(doc.evaluations);
  // every evaluation in the front file is in the store (nothing half-measured is in either)
  expect(storeLines).toBe(doc.evaluations);
  expect(doc.front.length).toBeGreaterThan(0);
  return doc;
}

describe("interrupting a live command", () => {
  for (const link of ["kernel", "app"] as const) {
    it(`optimize --link ${link}: SIGINT to the process group writes the front so far, exit 130, one line, no namespace or child left`, async () => {
      const d = tmp();
      const store = join(d, "m.jsonl");
      const out = join(d, "tiny.pareto.json");
      const args = ["optimize", "--model", "tiny_cnn", "--budget", "20", "--seed", "5", "--store", store, "--out", out, "--link", link, ...QUICK];
      // the server child is up and has answered (the first configurations are all on the device:
      // a signal then would not reach a server child), and the search goes on
      const r = await interrupt(args, d, "SIGINT", { group: true, ready: (mark) => serving(mark) && sentRecords(store) >= 1 && lines(store) >= 2 });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(130);
      const line = interruptLine(r.stderr, "SIGINT");
      expect(line).toContain(out);
      expect(line).toMatch(/run the same command again to continue/);
      const doc = checkFront(out, lines(store));
      // the link was the one asked for
      expect(doc.source.link).toMatch(link === "kernel" ? /^kernel: netns sw-/ : /^app: token bucket/);
      // promptly: the measurement in flight is aborted, not finished
      expect(r.exitMs).toBeLessThan(15_000);
      await nothingLeft(r);
    }, 180_000);
  }

  it("optimize: SIGTERM to the process alone writes the front so far, exit 143", async () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    const out = join(d, "tiny.pareto.json");
    const args = ["optimize", "--model", "tiny_cnn", "--budget", "20", "--seed", "5", "--store", store, "--out", out, ...QUICK];
    const r = await interrupt(args, d, "SIGTERM", { group: false, ready: (mark) => serving(mark) && sentRecords(store) >= 1 && lines(store) >= 2 });
    expect(r.code, r.stderr).toBe(143);
    expect(interruptLine(r.stderr, "SIGTERM")).toMatch(/run the same command again to continue/);
    checkFront(out, lines(store));
    await nothingLeft(r);
  }, 180_000);

  it("measure: SIGINT to the process group while measuring, exit 130, nothing stored, no namespace or child left", async () => {
    const d = tmp();
    const store = join(d, "m.jsonl");
    // a long measurement: the signal comes while requests run (the server child has answered)
    const args = ["measure", "tiny_cnn", "--cut", "6", "--store", store, "--link", "kernel", "--no-accuracy", "--ci", "0.0001", "--min-runs", "100000", "--max-runs", "100000", "--max-seconds", "60", "--warm-up", "1", "--idle-ms", "0"];
    let servingSince: number | null = null;
    const ready = (mark: string): boolean => {
      // the server child is up (it is in the group too), and the requests have run a while
      if (servingSince === null && serving(mark)) servingSince = Date.now();
      return servingSince !== null && Date.now() - servingSince > 2000;
    };
    const r = await interrupt(args, d, "SIGINT", { group: true, ready });
    expect(r.code, r.stderr).toBe(130);
    expect(interruptLine(r.stderr, "SIGINT")).toMatch(/not stored; run the same command again/);
    expect(lines(store)).toBe(0);
    expect(r.stdout).toBe("");
    await nothingLeft(r);
  }, 120_000);
});
