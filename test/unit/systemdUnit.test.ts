/**
 * configs/systemd/splitwatt-daemon.service: checked by systemd's own `systemd-analyze verify`
 * (Debian's systemd package; .ci/run installs it when missing) with ExecStart pointed at this
 * checkout's CLI (verify refuses a command that does not exist), and read for the hardening a
 * daemon that writes cpufreq needs: /sys read-only but the cpufreq policies writable.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const unitPath = resolve(import.meta.dirname, "../../configs/systemd/splitwatt-daemon.service");
const text = readFileSync(unitPath, "utf8");
const bin = resolve(import.meta.dirname, "../../bin/splitwatt.js");

/** key -> values of the [Service] section (a key may repeat). */
function service(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = "";
  for (const line of text.split("\n")) {
    const l = line.trim();
    if (l.startsWith("#") || l === "") continue;
    const s = /^\[(\w+)\]$/.exec(l);
    if (s !== null) {
      section = s[1] as string;
      continue;
    }
    const i = l.indexOf("=");
    if (section !== "Service" || i < 0) continue;
    const k = l.slice(0, i);
    out.set(k, [...(out.get(k) ?? []), l.slice(i + 1)]);
  }
  return out;
}

/** Run systemd-analyze; its exit code and everything it printed (warnings go to stderr with exit 0). */
function analyze(args: string[]): { code: number | null; out: string } {
  const r = spawnSync("systemd-analyze", args, { encoding: "utf8" });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") throw new Error("systemd-analyze is not installed: apt-get install systemd (.ci/run installs it)");
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe("the systemd unit", () => {
  it("passes systemd-analyze verify with no warning (ExecStart pointed at this checkout), and verify catches a misspelt key", () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-unit-"));
    const local = join(dir, "splitwatt-daemon.service");
    writeFileSync(local, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${bin}`));
    expect(analyze(["verify", local])).toEqual({ code: 0, out: "" });
    // the check can fail: an unknown key is reported
    const bad = join(dir, "bad.service");
    writeFileSync(bad, text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath} ${bin}`).replace("ProtectKernelTunables=yes", "ProtectKernelTunabels=yes"));
    const r = analyze(["verify", bad]);
    expect(r.out).toMatch(/Unknown key 'ProtectKernelTunabels'/);
  });

  it("hardening: /sys read-only but the cpufreq policies, the state directory, no capabilities or devices, no restart on a user error; systemd's offline exposure score", () => {
    const s = service();
    expect(s.get("ExecStart")?.[0]).toMatch(/splitwatt daemon --config \/etc\/splitwatt\/daemon\.yaml$/);
    expect(s.get("ProtectKernelTunables")).toEqual(["yes"]);
    expect(s.get("ProtectSystem")).toEqual(["strict"]);
    expect(s.get("ReadWritePaths")).toEqual(["/sys/devices/system/cpu/cpufreq"]);
    expect(s.get("StateDirectory")).toEqual(["splitwatt"]);
    expect(s.get("Environment")).toContain("SPLITWATT_STATE_DIR=/var/lib/splitwatt");
    expect(s.get("CapabilityBoundingSet")).toEqual([""]);
    expect(s.get("NoNewPrivileges")).toEqual(["yes"]);
    expect(s.get("PrivateDevices")).toEqual(["yes"]);
    expect(s.get("KillSignal")).toEqual(["SIGTERM"]);
    expect(s.get("RestartPreventExitStatus")).toEqual(["2"]);
    // what would break the daemon stays off
    for (const k of ["MemoryDenyWriteExecute", "ProcSubset", "ProtectProc", "ReadOnlyPaths", "InaccessiblePaths"]) expect(s.has(k), k).toBe(false);
    const dir = mkdtempSync(join(tmpdir(), "sw-unit-"));
    const local = join(dir, "splitwatt-daemon.service");
    writeFileSync(local, text);
    const sec = analyze(["security", "--offline=true", local]);
    const score = Number(/Overall exposure level for splitwatt-daemon\.service: ([\d.]+)/.exec(sec.out)?.[1]);
    process.stdout.write(`systemd-analyze security --offline: exposure ${score}\n`);
    expect(score).toBeLessThanOrEqual(2.5);
  });
});
