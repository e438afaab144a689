// Anything a user can cause is a one-line user error (exit 2), never "internal error", a hang or
// a multi-line warning (issue 11, items 8-10).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const pool = resolve(repo, "../shared/data/dynasplit/simulation_pool_vgg16.csv");
const dir = mkdtempSync(join(tmpdir(), "sw-e2e-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[], timeoutMs = 30_000) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: timeoutMs, env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: join(dir, "state") } });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr), ms: performance.now() - t0 };
}

/** The same, without blocking this process (for a server the child talks to). */
function cliAsync(args: string[], timeoutMs = 60_000): Promise<ReturnType<typeof cli>> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, ...args], { env: { ...process.env, CI: "true", SPLITWATT_STATE_DIR: join(dir, "state") } });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => (stdout += String(b)));
  child.stderr.on("data", (b) => (stderr += String(b)));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((res) =>
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      res({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    }),
  );
}

/** The first `rows` runs of DynaSplit's VGG16 pool, with `edit` applied to the data lines. */
function smallPool(name: string, edit: (fields: string[], i: number, col: (c: string) => number) => void, rows = 40): string {
  const [header, ...lines] = readFileSync(pool, "utf8").trim().split("\n");
  const cols = (header as string).split(",");
  const col = (c: string) => cols.indexOf(c);
  const out = lines.slice(0, rows).map((l, i) => {
    const f = l.split(",");
    edit(f, i, col);
    return f.join(",");
  });
  const file = join(dir, name);
  writeFileSync(file, `${header}\n${out.join("\n")}\n`);
  return file;
}

/** exit 2, exactly one line on stderr matching `re`, no stack, no "internal error". */
function expectUserError(r: ReturnType<typeof cli>, re: RegExp): void {
  const what = `exit ${r.code} (signal ${r.signal}) after ${Math.round(r.ms)} ms: ${r.stderr}`;
  expect(r.code, what).toBe(2);
  expect(r.stderr.trim().split("\n"), what).toHaveLength(1);
  expect(r.stderr, what).toMatch(/^splitwatt: error\[E_[A-Z_]+\]: /);
  expect(r.stderr, what).not.toMatch(/internal error/);
  expect(r.stderr, what).toMatch(re);
}

describe("output paths (item 9): one helper makes every output directory", () => {
  it.each([
    [["split", "tiny_cnn", "--at", "1", "--out", "/proc/nope"], /--out: \/proc is on proc, a pseudo-filesystem/],
    [["measure", "tiny_cnn", "--cut", "1", "--store", "/proc/nope/m.jsonl"], /--store: \/proc is on proc, a pseudo-filesystem/],
    [["optimize", "--replay", pool, "--budget", "5", "--out", "/proc/nope/x.json"], /--out: \/proc is on proc, a pseudo-filesystem/],
    [["export-triton", "tiny_cnn", "--out", "/sys/nope"], /--out: \/sys is on sysfs, a pseudo-filesystem/],
  ])("%j: exit 2 with one line within 5 s", (args, re) => {
    const r = cli(args as string[], 10_000);
    expectUserError(r, re);
    expect(r.ms).toBeLessThan(5_000);
  });

  it("split --out on an existing file, or under a dangling symbolic link: one line, exit 2", () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    expectUserError(cli(["split", "tiny_cnn", "--at", "1", "--out", file]), /a-file is a file, not a directory/);
    const link = join(dir, "dangling");
    symlinkSync(join(dir, "nowhere"), link);
    expectUserError(cli(["split", "tiny_cnn", "--at", "1", "--out", link]), /dangling is a symbolic link to .*nowhere, which does not exist/);
    expectUserError(cli(["split", "tiny_cnn", "--at", "1", "--out", join(link, "sub")]), /dangling is a symbolic link/);
  });
});

describe("YAML (item 10)", () => {
  it("an unknown tag (!!js/function) is one line, no Node warning after it", () => {
    const f = join(dir, "tag.yaml");
    writeFileSync(f, 'model: !!js/function "function () { return 1 }"\n');
    const r = cli(["optimize", "--config", f]);
    expectUserError(r, /unknown YAML tag.*js\/function at line 1, column 8/);
    expect(r.stderr).not.toMatch(/Warning/);
  });
});

describe("user errors, never internal errors (item 8)", () => {
  it("a tail server that resets every connection: one line naming the server and what to check, exit 2", async () => {
    // answers the readiness probe, then drops every other connection (a server that crashes per request)
    const server = createServer((req, res) => {
      if (req.url === "/v2/health/ready") res.end("{}");
      else req.socket.destroy();
    });
    await new Promise<void>((res) => server.listen(0, "127.0.0.1", res));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await cliAsync(["measure", "tiny_cnn", "--cut", "1", "--server", url, "--no-accuracy", "--warm-up", "0", "--idle-ms", "0"]);
      expectUserError(r, new RegExp(`error\\[E_UNREACHABLE\\]: cannot reach the tail server at ${url} \\(the server closed the connection, ECONNRESET, also on a retry\\): check that \`splitwatt serve\` is running`));
    } finally {
      server.close();
    }
  });

  it("serve --warm-up naming a tail or model that does not exist", () => {
    expectUserError(cli(["serve", "--port", "0", "--model", "cls=paddle:cls", "--warm-up", "nope"]), /--warm-up nope: unknown model "nope"; this server has cls/);
    expectUserError(cli(["serve", "--port", "0", "--model", "cls=paddle:cls", "--warm-up", "cls.tail.9999"]), /--warm-up cls.tail.9999: model "cls" has tails for cuts 0-\d+/);
  });

  it("a pool with a negative latency is caught while reading the CSV, naming the line", () => {
    const f = smallPool("negative.csv", (fields, i, col) => {
      if (i === 2) fields[col("latency")] = "-428.5";
    });
    expectUserError(cli(["optimize", "--replay", f, "--budget", "5"]), /negative\.csv line 4: column "latency" is "-428\.5", expected a number >= 0/);
  });

  it("a pool layer of 3e6 is refused at once, saying why (replay fills every index between the smallest and largest)", () => {
    const f = smallPool("huge-layer.csv", (fields, i, col) => {
      if (i === 5) fields[col("layer")] = "3000000.0";
    });
    const r = cli(["optimize", "--replay", f, "--budget", "5"], 20_000);
    expectUserError(r, /pool .*huge-layer\.csv: pool column "layer" spans \d+ to 3000000: \d+ split indices, more than the 10000 a replay accepts/);
    expect(r.ms).toBeLessThan(5_000);
  });

  it.each([
    [["measure", "tiny_cnn", "--cut", ""], /--cut: expected a number, got ""/],
    [["measure", "tiny_cnn", "--cut", " "], /--cut: expected a number, got " "/],
    [["split", "tiny_cnn", "--at", "", "--out", "x"], /--at: expected a number, got ""/],
    [["optimize", "--replay", "x.csv", "--budget", ""], /--budget: expected a number, got ""/],
    [["serve", "--model", "a=b", "--port", ""], /--port: expected a number, got ""/],
    [["hw", "--reading-ms", ""], /--reading-ms: expected a number, got ""/],
  ])("an empty number is an error, not 0: %j", (args, re) => {
    expectUserError(cli(args as string[]), re);
  });
});
