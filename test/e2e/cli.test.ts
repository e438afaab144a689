import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { acpiCpufreqUserspace, bareMachine, raplTwoSockets, raspberryPi4 } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function cli(args: string[], opts: SpawnSyncOptions & { binPath?: string } = {}) {
  const r = spawnSync(process.execPath, [opts.binPath ?? bin, ...args], { encoding: "utf8", timeout: 30_000, ...opts, env: { ...process.env, CI: "true", ...opts.env } });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function fake(build: (t: FakeTree) => void): FakeTree {
  const t = FakeTree.create();
  build(t);
  cleanups.push(() => t.cleanup());
  return t;
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "sw-e2e-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const oneLine = (s: string) => s.trim().split("\n").length === 1;

describe("splitwatt CLI", () => {
  it("--help and --version work", () => {
    const h = cli(["--help"]);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/Usage: splitwatt/);
    expect(h.stdout).toMatch(/hw/);
    expect(cli(["--version"]).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("--help works without the native binary, and a command that needs it says where it looked and how to build", () => {
    const d = tmp();
    for (const p of ["bin", "dist", "configs", "package.json"]) cpSync(join(repo, p), join(d, p), { recursive: true });
    symlinkSync(join(repo, "node_modules"), join(d, "node_modules"));
    expect(cli(["--help"], { binPath: join(d, "bin/splitwatt.js") }).code).toBe(0);
    const r = cli(["hw"], { binPath: join(d, "bin/splitwatt.js"), env: { SPLITWATT_NATIVE_PATH: "" } });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(/error\[E_NATIVE_MISSING\].*looked in: .*build\/Release\/splitwatt.node \(not found\).*npm run build:native/);
  });

  it("hw on this machine: a plain report; with no counters it says estimate", () => {
    const r = cli(["hw", "--reading-ms", "50"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/CPU frequency/);
    expect(r.stdout).toMatch(/Energy sources/);
    expect(r.stdout).toMatch(/Capabilities/);
    const j = JSON.parse(cli(["hw", "--json", "--reading-ms", "50"]).stdout);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(["cpufreq", "energy", "capabilities", "board"]));
    if (j.energy.estimated) {
      expect(r.stdout).toMatch(/ESTIMATE/);
      expect(j.energy.sources.map((s: { id: string }) => s.id)).toContain("estimate");
    }
    if (j.cpufreq.policies.length === 0) expect(r.stdout).toMatch(/offers no CPU frequency control/);
  });

  it("hw --json on a fake acpi-cpufreq + two-socket RAPL tree has the documented shape", () => {
    const t = fake((tt) => {
      acpiCpufreqUserspace(tt);
      raplTwoSockets(tt);
    });
    const r = cli(["hw", "--json", "--reading-ms", "20", "--sysfs-root", t.sysfsRoot, "--proc-root", t.procRoot, "--dev-root", t.devRoot]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const p0 = j.cpufreq.policies[0];
    expect(Object.keys(p0)).toEqual(expect.arrayContaining(["id", "cpus", "driver", "governor", "governors", "availableKHz", "minKHz", "maxKHz", "curKHz"]));
    expect(p0).toMatchObject({ id: "policy0", cpus: [0], driver: "acpi-cpufreq", minKHz: 800000, maxKHz: 2200000 });
    expect(j.energy.sources.length).toBeGreaterThan(0);
    for (const s of j.energy.sources) expect(Object.keys(s)).toEqual(expect.arrayContaining(["id", "kind", "domain", "socket"]));
    expect(j.energy.deviceSource).toBe("rapl");
    expect(j.capabilities.length).toBeGreaterThan(0);
    for (const c of j.capabilities) expect(Object.keys(c).sort()).toEqual(["available", "fix", "name", "reason"]);
    expect(j.capabilities.find((c: { name: string }) => c.name === "cpufreq.set")).toMatchObject({ available: true });
  });

  it("the roots can come from the environment instead of flags", () => {
    const t = fake(acpiCpufreqUserspace);
    const r = cli(["hw", "--json", "--reading-ms", "0"], { env: { SPLITWATT_SYSFS_ROOT: t.sysfsRoot, SPLITWATT_PROC_ROOT: t.procRoot, SPLITWATT_DEV_ROOT: t.devRoot } });
    const j = JSON.parse(r.stdout);
    expect(j.roots.sysfs).toBe(t.sysfsRoot);
    expect(j.cpufreq.policies.map((p: { driver: string }) => p.driver)).toEqual(["acpi-cpufreq", "acpi-cpufreq", "acpi-cpufreq", "acpi-cpufreq"]);
  });

  it.each([
    [["hw", "--sysfs-root", "/nonexistent/sys"], /--sysfs-root \/nonexistent\/sys is not a directory/],
    [["hw", "--reading-ms", "abc"], /reading-ms/],
    [["hw", "--bogus"], /unknown option '--bogus'/],
    [["hw", "set"], /give --freq-mhz and\/or --governor/],
    [["hw", "--board", "no-such-board"], /board profile "no-such-board" not found/],
  ])("bad input %j: one line, exit 2", (args, message) => {
    const r = cli(args as string[]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(true);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("hw set with a frequency that is not offered: E_REJECTED listing the offered ones, exit 2", () => {
    const t = fake(raspberryPi4);
    const r = cli(["hw", "set", "--freq-mhz", "1450", "--hold", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[E_REJECTED\]: 1450 MHz is not offered by policy0; offered MHz: 600, 700, 800, 900, 1000, 1100, 1200, 1300, 1400, 1500/);
  });
});

describe("never leaves a board stuck at a low clock", () => {
  const POLICY = "sys/devices/system/cpu/cpufreq/policy0";

  function startHold(t: FakeTree, stateDir: string) {
    const child = spawn(process.execPath, [bin, "hw", "set", "--freq-mhz", "600", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir], { env: { ...process.env, CI: "true" } });
    const ready = new Promise<void>((res, rej) => {
      let out = "";
      child.stdout.on("data", (b) => {
        out += String(b);
        if (out.includes("applied")) res();
      });
      child.on("exit", (code) => rej(new Error(`exited early with ${code}`)));
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
    return { child, ready, exited };
  }

  it("restores on SIGTERM", async () => {
    const t = fake(raspberryPi4);
    const stateDir = tmp();
    const original = t.read(`${POLICY}/scaling_governor`);
    const { child, ready, exited } = startHold(t, stateDir);
    await ready;
    expect(t.read(`${POLICY}/scaling_governor`)).toBe("userspace");
    expect(t.read(`${POLICY}/scaling_setspeed`)).toBe("600000");
    child.kill("SIGTERM");
    // restored, then the exit status of SIGTERM (src/shutdown.ts)
    expect(await exited).toEqual({ code: 143, signal: null });
    expect(t.read(`${POLICY}/scaling_governor`)).toBe(original);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it("after SIGKILL, `hw restore` puts the saved state back", async () => {
    const t = fake(raspberryPi4);
    const stateDir = tmp();
    const original = t.read(`${POLICY}/scaling_governor`);
    const { child, ready, exited } = startHold(t, stateDir);
    await ready;
    child.kill("SIGKILL");
    await exited;
    expect(t.read(`${POLICY}/scaling_governor`)).toBe("userspace");
    expect(readdirSync(stateDir).length).toBe(1);
    const shown = cli(["hw", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(shown.stdout).toMatch(/a splitwatt run that died left policy0 changed: run `splitwatt hw restore`/);
    const r = cli(["hw", "restore", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored policy0/);
    expect(t.read(`${POLICY}/scaling_governor`)).toBe(original);
    expect(readdirSync(stateDir)).toEqual([]);
  });
});

describe("a holder that is gone but not dead to kill(0) (issue 11, item 5)", () => {
  const POLICY = "sys/devices/system/cpu/cpufreq/policy0";

  /**
   * `hw set` as the child of a parent that never reaps it (sh replaced by sleep): once SIGKILLed,
   * it is a zombie until that parent exits. Resolves when the low clock is applied.
   */
  async function zombieHolder(t: FakeTree, stateDir: string): Promise<{ pid: number; stop: () => void }> {
    const q = (s: string) => `'${s.replace(/'/g, "'\\''")}'`;
    const cmd = `${q(process.execPath)} ${q(bin)} hw set --freq-mhz 600 --sysfs-root ${q(t.sysfsRoot)} --state-dir ${q(stateDir)} >/dev/null 2>&1 & echo $!; exec sleep 60`;
    const sh = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, CI: "true" } });
    const stop = () => sh.kill("SIGKILL");
    cleanups.push(stop);
    const pid = await new Promise<number>((res) => sh.stdout.once("data", (b) => res(Number(String(b).trim()))));
    // the state file in place (renamed from its .tmp: killed before that, there is no state to find)
    const saved = () => readdirSync(stateDir).filter((f) => !f.endsWith(".tmp")).length === 1;
    for (let i = 0; i < 500 && !(t.read(`${POLICY}/scaling_setspeed`) === "600000" && saved()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(t.read(`${POLICY}/scaling_setspeed`)).toBe("600000");
    process.kill(pid, "SIGKILL");
    const state = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(")")[1]?.trim().split(" ")[0];
    for (let i = 0; i < 200 && state() !== "Z"; i++) await new Promise((r) => setTimeout(r, 10));
    expect(state()).toBe("Z");
    return { pid, stop };
  }

  it("a zombie holder: hw warns, hw restore restores, and hw set proceeds after restoring", async () => {
    const t = fake(raspberryPi4);
    const stateDir = tmp();
    const original = t.read(`${POLICY}/scaling_governor`);
    const z = await zombieHolder(t, stateDir);
    expect(t.read(`${POLICY}/scaling_governor`)).toBe("userspace");
    const shown = cli(["hw", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(shown.stdout).toMatch(/a splitwatt run that died left policy0 changed: run `splitwatt hw restore`/);
    const r = cli(["hw", "restore", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored policy0/);
    expect(t.read(`${POLICY}/scaling_governor`)).toBe(original);
    z.stop();

    const z2 = await zombieHolder(t, stateDir);
    const set = cli(["hw", "set", "--freq-mhz", "700", "--hold", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toMatch(/restored cpufreq settings a previous run left behind: policy0/);
    expect(t.read(`${POLICY}/scaling_governor`)).toBe(original);
    expect(readdirSync(stateDir)).toEqual([]);
    z2.stop();
  });

  it("a damaged state file (policies: [null], a policy without its path): hw restore restores the rest and warns, never an internal error", async () => {
    const t = fake(raspberryPi4);
    const stateDir = tmp();
    const original = t.read(`${POLICY}/scaling_governor`);
    const z = await zombieHolder(t, stateDir);
    z.stop();
    const file = join(stateDir, readdirSync(stateDir)[0] as string);
    const state = JSON.parse(readFileSync(file, "utf8"));
    writeFileSync(file, JSON.stringify({ ...state, policies: [null, { ...state.policies[0], path: undefined, id: "policy7" }, ...state.policies] }));
    const r = cli(["hw", "restore", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored policy0/);
    expect(r.stderr).toMatch(/warning: cpufreq state file: entry 1 is null/);
    expect(r.stderr).toMatch(/warning: cpufreq state file: policy7 has no policy path/);
    expect(r.stderr).not.toMatch(/internal error/);
    expect(t.read(`${POLICY}/scaling_governor`)).toBe(original);
  });
});

describe("as an unprivileged user (real EACCES from the kernel)", () => {
  // The tests run as root here; the child drops to nobody (65534) so the kernel itself refuses.
  const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

  it("writing cpufreq files is E_NOT_PERMITTED naming the file and the fix", () => {
    const t = fake(raspberryPi4);
    chmodSync(t.root, 0o755);
    const stateDir = tmp();
    chmodSync(stateDir, 0o777);
    const r = cli(["hw", "set", "--freq-mhz", "600", "--hold", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir], asNobody);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[E_NOT_PERMITTED\]: permission denied to write "userspace" to .*policy0\/scaling_governor: run as root/);
  });

  it("root-only energy_uj: the capability says not permitted and gives the udev fix", () => {
    const t = fake((tt) => {
      bareMachine(tt);
      raplTwoSockets(tt, { mode: 0o400 });
    });
    chmodSync(t.root, 0o755);
    const r = cli(["hw", "--json", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--proc-root", t.procRoot, "--dev-root", t.devRoot], asNobody);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const cap = j.capabilities.find((c: { name: string }) => c.name === "energy.rapl");
    expect(cap.available).toBe(false);
    expect(cap.reason).toMatch(/not permitted: cannot read .*energy_uj/);
    expect(cap.fix).toMatch(/udev/);
    expect(j.energy.estimated).toBe(true);
  });
});

it("dist is built (npm test runs tsc first)", () => {
  expect(existsSync(join(repo, "dist/cli/main.js"))).toBe(true);
});
