import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RejectedError } from "../../src/errors.js";
import { Cpufreq } from "../../src/hw/cpufreq.js";
import { binding } from "../../src/native/binding.js";
import { acpiCpufreqUserspace, amdPstateEpp, boards, cpufreqBoards, intelPstateActive, jetsonOrin, ORIN_TABLE, raspberryPi4 } from "../fixtures/boards.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
function tree(build: (t: FakeTree) => void): FakeTree {
  const t = FakeTree.create();
  build(t);
  trees.push(t);
  return t;
}
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});

const POLICY = "sys/devices/system/cpu/cpufreq";

/** A Cpufreq over `t` whose writes go through the fake kernel on top of the real native I/O. */
function setup(build: (t: FakeTree) => void, failWrites?: Record<string, string>) {
  const t = tree(build);
  const kernel = new FakeKernel(new (binding().Sysfs)(), failWrites === undefined ? {} : { failWrites });
  const stateDir = mkdtempSync(join(tmpdir(), "sw-state-"));
  const cf = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, io: kernel, stateDir, restoreOnExit: false });
  return { t, kernel, cf, stateDir };
}

describe("cpufreq policies on every board's tree", () => {
  it.each(cpufreqBoards)("%s: one entry per policy, cpuN symlinks deduplicated", async (name) => {
    const { cf, t } = setup((tt) => boards[name](tt));
    const policies = await cf.policies();
    expect(policies.length).toBeGreaterThan(0);
    const allCpus = policies.flatMap((p) => p.cpus);
    expect(new Set(allCpus).size).toBe(allCpus.length);
    for (const p of policies) {
      expect(p.minKHz).toBeLessThanOrEqual(p.maxKHz);
      expect(p.scalingMinKHz).toBeLessThanOrEqual(p.scalingMaxKHz);
      expect(p.governors).toContain(p.governor);
      expect(p.path.startsWith(t.root)).toBe(true);
      if (p.availableKHz !== null) expect([...p.availableKHz].sort((a, b) => a - b)).toEqual(p.availableKHz);
    }
    expect(cf.warnings).toEqual([]);
  });

  it("acpi-cpufreq: four single-CPU policies, descending table read ascending, userspace offered", async () => {
    const { cf } = setup(acpiCpufreqUserspace);
    const ps = await cf.policies();
    expect(ps.map((p) => p.id)).toEqual(["policy0", "policy1", "policy2", "policy3"]);
    expect(ps[0]?.availableKHz).toEqual([800000, 1000000, 1200000, 1400000, 1600000, 1800000, 2000000, 2200000]);
    expect(ps[0]?.governors).toContain("userspace");
    expect(ps[0]?.timeInState?.length).toBe(8);
  });

  it("intel_pstate and amd-pstate offer no table", async () => {
    for (const build of [intelPstateActive, amdPstateEpp]) {
      const { cf } = setup(build);
      const ps = await cf.policies();
      expect(ps.every((p) => p.availableKHz === null)).toBe(true);
      expect(ps.every((p) => !p.governors.includes("userspace"))).toBe(true);
    }
  });

  it("Jetson Orin: three clusters, the offline core listed in cpus but not onlineCpus", async () => {
    const { cf } = setup(jetsonOrin);
    const ps = await cf.policies();
    expect(ps.map((p) => p.id)).toEqual(["policy0", "policy4", "policy8"]);
    expect(ps[2]?.cpus).toEqual([8, 9, 10, 11]);
    expect(ps[2]?.onlineCpus).toEqual([8, 9, 10]);
    expect(ps[0]?.availableKHz).toEqual([...ORIN_TABLE]);
  });

  it("a malformed file skips that policy with a warning, never a crash", async () => {
    const { cf, t } = setup(acpiCpufreqUserspace);
    t.file(`${POLICY}/policy1/scaling_max_freq`, "banana");
    t.file(`${POLICY}/policy2/scaling_available_frequencies`, "fast slow");
    const ps = await cf.policies();
    expect(ps.map((p) => p.id)).toEqual(["policy0", "policy2", "policy3"]);
    expect(ps[1]?.availableKHz).toBeNull();
    expect(cf.warnings.join("\n")).toMatch(/policy1: skipped.*scaling_max_freq/);
    expect(cf.warnings.join("\n")).toMatch(/policy2: ignoring scaling_available_frequencies/);
  });
});

describe("setting the frequency, verified by read-back through the fake kernel", () => {
  it("userspace governor + scaling_setspeed where offered, then restore", async () => {
    const { cf, t, kernel } = setup(acpiCpufreqUserspace);
    const r = await cf.setFrequency("policy0", 1_200_000);
    expect(r).toMatchObject({ policy: "policy0", requestedKHz: 1_200_000, appliedKHz: 1_200_000, method: "userspace-setspeed", curKHz: 1_200_000 });
    expect(t.read(`${POLICY}/policy0/scaling_governor`)).toBe("userspace");
    expect(kernel.writes.map((w) => w.path.split("/").pop())).toEqual(["scaling_governor", "scaling_setspeed"]);
    expect(cf.restore()).toEqual(["policy0"]);
    expect(t.read(`${POLICY}/policy0/scaling_governor`)).toBe("schedutil");
  });

  it("pins min = max without a userspace governor, writing in the order that keeps min <= max", async () => {
    const { cf, t, kernel } = setup(intelPstateActive);
    const before = { min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`) };
    const low = await cf.setFrequency("policy0", 1_000_000);
    expect(low.method).toBe("minmax-pin");
    expect(low.appliedKHz).toBe(1_000_000);
    // from the pinned 1.0 GHz up to 3.0 GHz: max must be written first (the fake kernel rejects min > max)
    kernel.writes.length = 0;
    const high = await cf.setFrequency("policy0", 3_000_000);
    expect(high.appliedKHz).toBe(3_000_000);
    expect(kernel.writes.map((w) => w.path.split("/").pop())).toEqual(["scaling_max_freq", "scaling_min_freq"]);
    cf.restore();
    expect({ min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`) }).toEqual(before);
  });

  it("a frequency that is not offered is E_REJECTED listing the offered ones; nothing is written", async () => {
    const { cf, kernel } = setup(raspberryPi4);
    await expect(cf.setFrequency("policy0", 1_450_000)).rejects.toThrow(RejectedError);
    await expect(cf.setFrequency("policy0", 1_450_000)).rejects.toThrow(/offered MHz: 600, 700, 800/);
    expect(kernel.writes).toEqual([]);
  });

  it("snaps a round request to the offered frequency within 1% (Jetson 1497.6 MHz)", async () => {
    const { cf } = setup(jetsonOrin);
    const r = await cf.setFrequency("policy4", 1_500_000);
    expect(r.appliedKHz).toBe(1_497_600);
  });

  it("setGovernor refuses a governor the driver lacks, naming the ones it offers; nothing is written", async () => {
    const { cf, kernel } = setup(intelPstateActive);
    await expect(cf.setGovernor("policy0", "userspace")).rejects.toThrow(RejectedError);
    await expect(cf.setGovernor("policy0", "userspace")).rejects.toThrow('governor "userspace" is not offered by policy0 (intel_pstate); offered: performance, powersave');
    expect(kernel.writes).toEqual([]);
    await cf.setGovernor("policy0", "performance");
    expect((await cf.policy("policy0")).governor).toBe("performance");
    cf.restore();
    expect((await cf.policy("policy0")).governor).toBe("powersave");
  });

  it.each([
    ["EACCES", "E_NOT_PERMITTED", /permission denied.*scaling_setspeed.*root/],
    ["EROFS", "E_READ_ONLY", /read-only/],
    ["EBUSY", "E_REJECTED", /rejected/],
  ])("a kernel %s on write becomes %s naming the file", async (errno, code, message) => {
    const { cf } = setup(acpiCpufreqUserspace, { scaling_setspeed: errno });
    const err = await cf.setFrequency("policy0", 1_200_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain("policy0/scaling_setspeed");
  });
});

describe("restore state file", () => {
  it("is written before the first change and removed by restore()", async () => {
    const { cf, stateDir, t } = setup(raspberryPi4);
    const original = t.read(`${POLICY}/policy0/scaling_governor`);
    expect(original).not.toBe("userspace");
    await cf.setFrequency("policy0", 600_000);
    const files = (await import("node:fs")).readdirSync(stateDir);
    expect(files.length).toBe(1);
    const state = JSON.parse(readFileSync(join(stateDir, files[0] as string), "utf8"));
    expect(state.pid).toBe(process.pid);
    expect(state.policies[0]).toMatchObject({ id: "policy0", governor: original });
    cf.restore();
    expect((await import("node:fs")).readdirSync(stateDir)).toEqual([]);
  });

  it("a dead run's state is restored before the next change, so the true original is kept", async () => {
    const { cf, t, stateDir } = setup(raspberryPi4);
    const original = t.read(`${POLICY}/policy0/scaling_governor`);
    await cf.setFrequency("policy0", 600_000);
    const [file] = (await import("node:fs")).readdirSync(stateDir);
    const path = join(stateDir, file as string);
    // pretend the process that wrote it died (pid 2^22 + 1 is above pid_max's ceiling)
    const state = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify({ ...state, pid: 4194305 }));
    const next = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    await next.setFrequency("policy0", 1_000_000);
    expect(next.warnings.join()).toMatch(/restored cpufreq settings a previous run left behind: policy0/);
    next.restore();
    expect(t.read(`${POLICY}/policy0/scaling_governor`)).toBe(original);
    expect(existsSync(path)).toBe(false);
  });

  it("refuses to fight another live process over the same tree", async () => {
    const { t, stateDir } = setup(raspberryPi4);
    const a = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    await a.setFrequency("policy0", 600_000);
    const [file] = (await import("node:fs")).readdirSync(stateDir);
    const path = join(stateDir, file as string);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), pid: process.ppid }));
    const b = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    await expect(b.setFrequency("policy0", 700_000)).rejects.toThrow(/another splitwatt process \(pid \d+\)/);
  });

  /** A Cpufreq reading the real /proc (process identities) over the fake sysfs tree `t`. */
  const onRealProc = (t: FakeTree, stateDir: string) =>
    new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: "/proc", io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });

  it("a state file whose pid now belongs to an unrelated live process (another start time) is restored, and hw set proceeds", async () => {
    const { t, stateDir } = setup(raspberryPi4);
    const original = t.read(`${POLICY}/policy0/scaling_governor`);
    const a = onRealProc(t, stateDir);
    await a.setFrequency("policy0", 600_000);
    const [file] = (await import("node:fs")).readdirSync(stateDir);
    const path = join(stateDir, file as string);
    const state = JSON.parse(readFileSync(path, "utf8"));
    expect(state.startTicks).toEqual(expect.any(Number));
    // the owner died and its pid went to our parent, a live process that started at another time
    const parentStart = Number(readFileSync(`/proc/${process.ppid}/stat`, "utf8").split(")")[1]?.trim().split(/\s+/)[19]);
    writeFileSync(path, JSON.stringify({ ...state, pid: process.ppid, startTicks: parentStart + 1 }));
    const b = onRealProc(t, stateDir);
    expect(b.leftBehind()).toEqual(["policy0"]);
    await b.setFrequency("policy0", 700_000);
    expect(b.warnings.join()).toMatch(/restored cpufreq settings a previous run left behind: policy0/);
    b.restore();
    expect(t.read(`${POLICY}/policy0/scaling_governor`)).toBe(original);
    // with the parent's true start time it is the parent's file: refused as before
    await onRealProc(t, stateDir).setFrequency("policy0", 600_000);
    const again = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify({ ...again, pid: process.ppid, startTicks: parentStart }));
    await expect(onRealProc(t, stateDir).setFrequency("policy0", 700_000)).rejects.toThrow(/another splitwatt process/);
  });

  it.each([
    ["policies: [null]", (s: { policies: unknown[] }) => ({ ...s, policies: [null, ...s.policies] })],
    ["a policy without its path", (s: { policies: Array<Record<string, unknown>> }) => ({ ...s, policies: [{ ...s.policies[0], path: undefined, id: "policy9" }, ...s.policies] })],
    ["a policy without its governor", (s: { policies: Array<Record<string, unknown>> }) => ({ ...s, policies: [{ ...s.policies[0], governor: null }] })],
    ["no pid", (s: Record<string, unknown>) => ({ ...s, pid: "x" })],
  ])("a damaged state file (%s): restores what it can, warns about the rest, never throws", async (_what, damage) => {
    const { t, stateDir } = setup(raspberryPi4);
    const original = { min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`) };
    const a = onRealProc(t, stateDir);
    await a.setFrequency("policy0", 600_000);
    const [file] = (await import("node:fs")).readdirSync(stateDir);
    const path = join(stateDir, file as string);
    const state = JSON.parse(readFileSync(path, "utf8"));
    writeFileSync(path, JSON.stringify(damage({ ...state, pid: 4194305 } as never)));
    const b = onRealProc(t, stateDir);
    expect(b.recover()).toEqual(["policy0"]);
    expect({ min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`) }).toEqual(original);
    expect(b.warnings.join("\n")).toMatch(/cpufreq state file: /);
    expect(b.warnings.join("\n")).toMatch(/moved to .*corrupt-/);
    expect(existsSync(path)).toBe(false);
    expect(b.recover()).toEqual([]);
  });

  it("a failed write while restoring is E_REJECTED (exit 2) saying what to do; the state file is kept", async () => {
    const { t, stateDir } = setup(raspberryPi4);
    const a = onRealProc(t, stateDir);
    await a.setFrequency("policy0", 600_000);
    const [file] = (await import("node:fs")).readdirSync(stateDir);
    const path = join(stateDir, file as string);
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), pid: 4194305 }));
    const b = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: "/proc", io: new FakeKernel(new (binding().Sysfs)(), { failWrites: { scaling_governor: "EACCES" } }), stateDir, restoreOnExit: false });
    const err = (() => {
      try {
        b.recover();
        return null;
      } catch (e) {
        return e as RejectedError;
      }
    })();
    expect(err).toBeInstanceOf(RejectedError);
    expect(err?.exitCode).toBe(2);
    expect(err?.message).toMatch(/cpufreq restore incomplete: policy0: .*the state is kept in .*run `splitwatt hw restore`/);
    expect(existsSync(path)).toBe(true);
  });
});
