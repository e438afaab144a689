/** `splitwatt measure` through the built CLI: the JSON shape, the link it used, crash-free errors. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acpiCpufreqUserspace, hwmonEnergyCounter } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-measure-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, CI: "true", ...env } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const QUICK = ["--min-runs", "5", "--max-seconds", "3", "--warm-up", "1", "--idle-ms", "20", "--accuracy-n", "4"];

describe("splitwatt measure", () => {
  it("prints the issue's JSON shape, through the emulated wifi link, and the store keeps it", () => {
    const state = tmp();
    const store = join(state, "m.jsonl");
    const r = cli(["measure", "tiny_cnn", "--cut", "6", "--codec", "fp16", "--store", store, "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, any>;
    expect(Object.keys(j)).toEqual(expect.arrayContaining(["config", "latencyMs", "breakdownMs", "bytes", "energyJ", "energySource", "accuracy", "host"]));
    expect(j.config).toEqual({ split: 6, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "fp16" });
    for (const k of ["mean", "p50", "p95", "p99", "n"]) expect(typeof j.latencyMs[k]).toBe("number");
    for (const k of ["head", "encode", "transfer", "server", "decode"]) expect(typeof j.breakdownMs[k]).toBe("number");
    for (const k of ["device", "network", "server", "total"]) expect(j.energyJ[k]).toBeGreaterThan(0);
    expect(j.energySource).toEqual({ device: "estimate", network: "estimate", server: "estimate" });
    // fp16 of 1x32x8x8: 4 KiB of payload (the cut tensor's bytes), on the wire plus the protocol's header
    expect(j.bytes).toBe(4096);
    expect(j.wireBytes).toBeGreaterThan(4096);
    expect(j.wireBytes).toBeLessThan(4096 + 2048);
    // at 20 Mbit/s up with a 10 ms RTT the transfer cannot be quicker than 10 ms + 4096 * 8 / 20e6 s
    expect(j.breakdownMs.transfer).toBeGreaterThan(10 + 1.6);
    expect(j.host.link).toMatch(/kernel|token bucket/);
    expect(j.notes.join(" ")).toMatch(/estimate/);
    expect(j.accuracy.n).toBe(4);
    const lines = readFileSync(store, "utf8").trim().split("\n");
    expect(lines).toHaveLength(1);
    // again: from the store, nothing measured
    const again = cli(["measure", "tiny_cnn", "--cut", "6", "--codec", "fp16", "--store", store, "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(JSON.parse(again.stdout).cached).toBe(true);
  }, 120_000);

  it("sets the frequency on a (fake) cpufreq tree and restores it; an offered one only; the server reports its own energy", () => {
    const t = FakeTree.create();
    acpiCpufreqUserspace(t);
    hwmonEnergyCounter(t);
    try {
      const state = tmp();
      const gov = join(t.root, "sys/devices/system/cpu/cpufreq/policy0/scaling_governor");
      const before = readFileSync(gov, "utf8");
      const env = { SPLITWATT_STATE_DIR: state, SPLITWATT_SYSFS_ROOT: t.sysfsRoot };
      const r = cli(["measure", "tiny_cnn", "--cut", "14", "--freq-mhz", "1000", "--network", "none", "--no-accuracy", "--store", join(state, "m.jsonl"), "--json", ...QUICK], env);
      expect(r.stderr).not.toMatch(/internal error/);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as Record<string, any>;
      expect(j.config.cpuFreqMHz).toBe(1000);
      expect(j.host.appliedFreqKHz).toEqual([1000000, 1000000, 1000000, 1000000]);
      expect(j.energyJ.network).toBeNull();
      expect(readFileSync(gov, "utf8").trim()).toBe(before.trim());
      // the restore state file is removed once everything is restored
      expect(readdirSync(state).filter((f) => f.startsWith("cpufreq-"))).toEqual([]);
      const bad = cli(["measure", "tiny_cnn", "--cut", "14", "--freq-mhz", "1100", "--network", "none", "--store", join(state, "m.jsonl"), ...QUICK], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr.trim().split("\n")).toHaveLength(1);
      expect(bad.stderr).toMatch(/1100 MHz is not offered/);
      // a split: the local server (same fake tree) has an energy counter and reports energy_j per inference
      const split = cli(["measure", "tiny_cnn", "--cut", "6", "--network", "none", "--no-accuracy", "--store", join(state, "m.jsonl"), "--json", ...QUICK], env);
      expect(split.stderr).not.toMatch(/internal error/);
      expect(split.code).toBe(0);
      const js = JSON.parse(split.stdout) as Record<string, any>;
      expect(js.energySource.device).toBe("hwmon");
      expect(js.energySource.server).toBe("hwmon");
      expect(js.host.serverAccounting).toMatch(/measured by the server/);
      expect(js.energyJ.server).toBeGreaterThanOrEqual(0);
    } finally {
      t.cleanup();
    }
  }, 120_000);

  it("bad input: one line, exit 2", () => {
    const state = tmp();
    const cases: Array<[string[], RegExp]> = [
      [["measure", "tiny_cnn", "--cut", "99", "--store", join(state, "m.jsonl")], /split 99 is out of range/],
      [["measure", "tiny_cnn", "--cut", "3", "--codec", "int4", "--store", join(state, "m.jsonl")], /unknown codec "int4"/],
      [["measure", "tiny_cnn", "--cut", "3", "--network", "carrier-pigeon", "--store", join(state, "m.jsonl")], /carrier-pigeon/],
      [["measure", "tiny_cnn", "--cut", "3", "--device-target", "tpu", "--store", join(state, "m.jsonl")], /device target "tpu"/],
      [["measure", "tiny_cnn", "--cut", "3", "--freq-mhz", "1000", "--store", join(state, "m.jsonl")], /no cpufreq/],
      [["measure", "tiny_cnn"], /--cut/],
    ];
    for (const [args, re] of cases) {
      const r = cli(args, { SPLITWATT_STATE_DIR: state });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(2);
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  }, 120_000);
});
