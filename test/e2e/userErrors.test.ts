// Anything a user can cause is a one-line user error (exit 2), never "internal error", a hang or
// a multi-line warning (issue 11, items 8-10).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
