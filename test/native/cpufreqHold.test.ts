/**
 * Holding the CPU frequency for a daemon's life (src/hw/cpufreqHold.ts) on fake trees through
 * the fake kernel: the policies read once, the governor taken once, each switch writing only
 * what changes, and release() putting everything back.
 */
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RejectedError } from "../../src/errors.js";
import { Cpufreq } from "../../src/hw/cpufreq.js";
import type { ReadResult, SysIO } from "../../src/hw/sysIO.js";
import { binding } from "../../src/native/binding.js";
import { acpiCpufreqUserspace, intelPstateActive, jetsonOrin, raspberryPi4 } from "../fixtures/boards.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});

const POLICY = "sys/devices/system/cpu/cpufreq";

/** The fake kernel, counting the files read and the directories listed. */
class CountingKernel extends FakeKernel {
  reads: string[] = [];
  lists = 0;
  override readMany(paths: string[]): Promise<ReadResult[]> {
    this.reads.push(...paths);
    return super.readMany(paths);
  }
  override list(dir: string): ReturnType<SysIO["list"]> {
    this.lists++;
    return super.list(dir);
  }
}

function setup(build: (t: FakeTree) => void) {
  const t = FakeTree.create();
  build(t);
  trees.push(t);
  const kernel = new CountingKernel(new (binding().Sysfs)());
  const stateDir = mkdtempSync(join(tmpdir(), "sw-hold-"));
  const cf = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, io: kernel, stateDir, restoreOnExit: false });
  return { t, kernel, cf, stateDir };
}

const names = (k: FakeKernel) => k.writes.map((w) => `${w.path.split("/").slice(-2).join("/")}=${w.text}`);

describe("a frequency hold", () => {
  it("userspace: governor once at start; each switch one setspeed write and one read per policy; the same frequency writes nothing; release restores", async () => {
    const { cf, t, kernel, stateDir } = setup(acpiCpufreqUserspace);
    const before = ["scaling_governor", "scaling_min_freq", "scaling_max_freq"].map((f) => t.read(`${POLICY}/policy0/${f}`));
    const hold = await cf.hold();
    expect(Object.values(hold.methods)).toEqual(["userspace-setspeed", "userspace-setspeed", "userspace-setspeed", "userspace-setspeed"]);
    expect(names(kernel).filter((w) => w.startsWith("policy0/"))).toEqual(["policy0/scaling_governor=userspace"]);
    expect(readdirSync(stateDir)).toHaveLength(1);
    kernel.writes.length = 0;
    kernel.reads = [];
    kernel.lists = 0;
    const a = await hold.set(1_200_000);
    expect(a.changed).toBe(true);
    expect(names(kernel)).toEqual(["policy0", "policy1", "policy2", "policy3"].map((p) => `${p}/scaling_setspeed=1200000`));
    // no policy re-read: one read-back per policy, no directory listing
    expect(kernel.reads.map((r) => r.split("/").pop())).toEqual(["scaling_setspeed", "scaling_setspeed", "scaling_setspeed", "scaling_setspeed"]);
    expect(kernel.lists).toBe(0);
    expect(hold.appliedKHz).toBe(1_200_000);
    kernel.writes.length = 0;
    expect((await hold.set(1_200_000)).changed).toBe(false);
    expect(kernel.writes).toEqual([]);
    await hold.set(800_000);
    expect(t.read(`${POLICY}/policy2/scaling_setspeed`)).toBe("800000");
    expect(hold.switches).toBe(2);
    expect(hold.release()).toEqual(["policy0", "policy1", "policy2", "policy3"]);
    expect(["scaling_governor", "scaling_min_freq", "scaling_max_freq"].map((f) => t.read(`${POLICY}/policy0/${f}`))).toEqual(before);
    expect(readdirSync(stateDir)).toEqual([]);
    expect(hold.appliedKHz).toBeNull();
    await expect(hold.set(800_000)).rejects.toThrow(/released/);
    expect(hold.release()).toEqual([]);
  });

  it("min/max pin (intel_pstate): limits tracked, only the ones that change written, in the order that keeps min <= max", async () => {
    const { cf, t, kernel } = setup(intelPstateActive);
    const before = { min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`), gov: t.read(`${POLICY}/policy0/scaling_governor`) };
    const hold = await cf.hold();
    expect(kernel.writes).toEqual([]);
    await hold.set(1_000_000);
    expect(t.read(`${POLICY}/policy0/scaling_max_freq`)).toBe("1000000");
    kernel.writes.length = 0;
    kernel.reads = [];
    await hold.set(3_000_000);
    expect(names(kernel).filter((w) => w.startsWith("policy0/"))).toEqual(["policy0/scaling_max_freq=3000000", "policy0/scaling_min_freq=3000000"]);
    expect(kernel.reads.filter((r) => r.includes("/policy0/")).map((r) => r.split("/").pop())).toEqual(["scaling_min_freq", "scaling_max_freq"]);
    kernel.writes.length = 0;
    expect((await hold.set(3_000_000)).changed).toBe(false);
    expect(kernel.writes).toEqual([]);
    hold.release();
    expect({ min: t.read(`${POLICY}/policy0/scaling_min_freq`), max: t.read(`${POLICY}/policy0/scaling_max_freq`), gov: t.read(`${POLICY}/policy0/scaling_governor`) }).toEqual(before);
  });

  it("check() refuses a frequency a policy does not offer (E_REJECTED, the offered ones listed); snaps within 1% per policy (Jetson)", async () => {
    const { cf } = setup(raspberryPi4);
    const hold = await cf.hold();
    expect(() => hold.check(1_450_000)).toThrow(RejectedError);
    expect(() => hold.check(1_450_000)).toThrow(/offered MHz: 600, 700/);
    expect(() => hold.check(1_500_000)).not.toThrow();
    hold.release();
    const j = setup(jetsonOrin);
    const h = await j.cf.hold();
    const r = await h.set(1_500_000);
    expect(r.results.map((x) => x.appliedKHz)).toEqual([1_497_600, 1_497_600, 1_497_600]);
    h.release();
  });

  it("while a hold lives its state file is not taken for a dead run's; release restores the governor", async () => {
    const { cf, t, stateDir } = setup(raspberryPi4);
    const hold = await cf.hold();
    await hold.set(600_000);
    // the state file's owner (this process) is alive: nothing counts as left behind
    const other = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, stateDir, restoreOnExit: false });
    expect(other.leftBehind()).toEqual([]);
    hold.release();
    expect(t.read(`${POLICY}/policy0/scaling_governor`)).toBe("ondemand");
  });
});
