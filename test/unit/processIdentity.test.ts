import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isThisProcess, processAlive, processIdentity, readProcStat } from "../../src/processIdentity.js";

const root = mkdtempSync(join(tmpdir(), "sw-proc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fake /proc/PID/stat in the kernel's layout (proc(5)): 52 fields, starttime is field 22. */
function fakeStat(pid: number, comm: string, state: string, startTicks: number): void {
  const fields = [String(pid), `(${comm})`, state, ...Array.from({ length: 18 }, (_, i) => String(i + 1)), String(startTicks), ...Array.from({ length: 30 }, () => "0")];
  mkdirSync(join(root, String(pid)), { recursive: true });
  writeFileSync(join(root, String(pid), "stat"), `${fields.join(" ")}\n`);
}

describe("processIdentity: pid + start time from /proc/PID/stat", () => {
  it("reads the state and field 22, whatever the command name holds", () => {
    fakeStat(101, "a) b (c", "S", 4242);
    expect(readProcStat(101, root)).toEqual({ state: "S", startTicks: 4242 });
    writeFileSync(join(root, "101", "stat"), "garbage");
    expect(readProcStat(101, root)).toBeNull();
    expect(readProcStat(999_999, root)).toBeNull();
  });

  it("on the real /proc: this process's start time matches its parent's ordering and survives a re-read", () => {
    const self = processIdentity();
    expect(self.pid).toBe(process.pid);
    expect(self.startTicks).toEqual(expect.any(Number));
    expect(processIdentity().startTicks).toBe(self.startTicks);
    const parent = processIdentity(process.ppid);
    expect(parent.startTicks as number).toBeLessThanOrEqual(self.startTicks as number);
    expect(processAlive(self)).toBe(true);
    expect(isThisProcess(self)).toBe(true);
  });

  it("a live pid with another start time is a reused pid: not the owner", () => {
    const real = processIdentity(process.ppid);
    expect(processAlive(real)).toBe(true);
    expect(processAlive({ pid: process.ppid, startTicks: (real.startTicks as number) + 1 })).toBe(false);
    // the same pid from a previous boot is not this process either
    expect(isThisProcess({ pid: process.pid, startTicks: (processIdentity().startTicks as number) + 7 })).toBe(false);
  });

  it("a zombie (state Z) is dead; a fake root without the pid falls back to kill(0)", () => {
    fakeStat(process.ppid, "splitwatt", "Z", 77);
    expect(processAlive({ pid: process.ppid, startTicks: 77 }, root)).toBe(false);
    fakeStat(process.ppid, "splitwatt", "S", 77);
    expect(processAlive({ pid: process.ppid, startTicks: 77 }, root)).toBe(true);
    expect(processAlive({ pid: process.ppid, startTicks: null }, join(root, "empty"))).toBe(true);
    expect(processAlive({ pid: 4_194_305, startTicks: null })).toBe(false); // above any pid_max
  });

  it("a real zombie: a child killed but not reaped yet reads state Z and counts as dead", async () => {
    // sh starts a sleeper in the background and replaces itself with a sleep that never reaps it
    const sh = spawn("sh", ["-c", "sleep 30 & echo $!; exec sleep 30"], { stdio: ["ignore", "pipe", "ignore"] });
    try {
      const pid = await new Promise<number>((res) => sh.stdout.once("data", (b) => res(Number(String(b).trim()))));
      const owner = processIdentity(pid);
      expect(processAlive(owner)).toBe(true);
      // kill only once sh has become the sleep that never reaps (before the exec, sh itself would reap the child)
      const parentComm = (): string => {
        try {
          return readFileSync(`/proc/${sh.pid}/comm`, "utf8").trim();
        } catch {
          return "";
        }
      };
      for (let i = 0; i < 500 && parentComm() !== "sleep"; i++) await new Promise((r) => setTimeout(r, 10));
      expect(parentComm()).toBe("sleep");
      process.kill(pid, "SIGKILL");
      for (let i = 0; i < 500 && readProcStat(pid)?.state !== "Z"; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readProcStat(pid)?.state).toBe("Z");
      expect(() => process.kill(pid, 0)).not.toThrow(); // kill(0) still says "alive"
      expect(processAlive(owner)).toBe(false);
    } finally {
      sh.kill("SIGKILL");
    }
  });
});
