/**
 * The estimate follows the CPU frequency (issue 12, item 8) and warns about a board profile for
 * another machine (item 9): EnergyMeter on fake cpufreq trees, frequencies changed through the
 * fake kernel as `splitwatt hw set` and the profiler change them.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { boardProfile } from "../../src/hw/boardProfile.js";
import { Cpufreq } from "../../src/hw/cpufreq.js";
import { EnergyMeter, type EnergyMark, type EnergyWindow } from "../../src/hw/energyMeter.js";
import { binding } from "../../src/native/binding.js";
import { acpiCpufreqUserspace, bareMachine, hwmonEnergyCounter, raspberryPi4 } from "../fixtures/boards.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
const meters: EnergyMeter[] = [];
afterEach(async () => {
  for (const m of meters.splice(0)) await m.close();
  for (const t of trees.splice(0)) t.cleanup();
});

function setup(build: (t: FakeTree) => void, board: string) {
  const t = FakeTree.create();
  trees.push(t);
  build(t);
  const kernel = new FakeKernel(new (binding().Sysfs)());
  const roots = { sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot };
  const cf = new Cpufreq({ ...roots, io: kernel, stateDir: mkdtempSync(join(tmpdir(), "sw-state-")), restoreOnExit: false });
  return { t, cf, open: async () => {
    const m = await EnergyMeter.open({ ...roots, io: kernel, nvmlLib: "/nonexistent/libnvidia-ml.so", board, utilisation: "system" });
    meters.push(m);
    return m;
  } };
}

/** /proc/stat of `cpus` CPUs with `busy` and `idle` jiffies in total. */
function stat(cpus: number, busy: number, idle: number): string {
  const rows = Array.from({ length: cpus }, (_, i) => `cpu${i} ${busy / cpus} 0 0 ${idle / cpus} 0 0 0 0 0 0`);
  return `cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0\n${rows.join("\n")}\n`;
}

/** A window at 50% utilisation (800 jiffies, 400 busy) lasting about `ms` (>= 20 ms for /proc/stat to price it). */
async function halfBusy(t: FakeTree, meter: EnergyMeter, cpus: number, ms: number, during?: () => Promise<void>): Promise<EnergyWindow> {
  t.file("proc/stat", stat(cpus, 1000, 9000));
  const from: EnergyMark = meter.mark();
  if (during !== undefined) await during();
  await sleep(ms);
  t.file("proc/stat", stat(cpus, 1400, 9400));
  return meter.since(from);
}

const estimate = (w: EnergyWindow) => w.sources.find((s) => s.id === "estimate");

describe("the estimate at the frequency the CPU ran at", () => {
  it("raspberry-pi-4: the same utilisation at 600 and 1500 MHz gives the profile's power ratio, (600/1500)^alpha", async () => {
    const { t, cf, open } = setup(raspberryPi4, "raspberry-pi-4");
    const meter = await open();
    meter.start();
    // the reference: the shipped profile's own figures (configs/boards/raspberry-pi-4.json)
    const json = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../configs/boards/raspberry-pi-4.json"), "utf8")) as { power: { idleW: number; maxW: number; model: { alpha: number } } };
    const { idleW, maxW, model } = json.power;

    await cf.setAll(600_000);
    const low = await halfBusy(t, meter, 4, 40);
    await cf.setAll(1_500_000);
    const high = await halfBusy(t, meter, 4, 40);

    expect([low.cpuUtilisation, high.cpuUtilisation]).toEqual([0.5, 0.5]);
    expect([low.freqMHz, low.freqSource]).toEqual([600, "scaling_cur_freq"]);
    expect([high.freqMHz, high.freqSource]).toEqual([1500, "scaling_cur_freq"]);
    const pLow = estimate(low)?.powerW as number;
    const pHigh = estimate(high)?.powerW as number;
    expect(pHigh).toBeCloseTo(idleW + (maxW - idleW) * 0.5, 9);
    expect((pLow - idleW) / (pHigh - idleW)).toBeCloseTo((600 / 1500) ** model.alpha, 9);
    expect(estimate(low)?.note).toBe("at 600 MHz (scaling_cur_freq, time-weighted)");
    expect(estimate(low)?.freqMHz).toBe(600);
  });

  it("the frequency splitwatt set wins over scaling_cur_freq, for the time it was set", async () => {
    const { t, cf, open } = setup(raspberryPi4, "raspberry-pi-4");
    const meter = await open();
    meter.start();
    await cf.setAll(1_500_000);
    meter.frequencyApplied(900_000);
    const set = await halfBusy(t, meter, 4, 25);
    expect([set.freqMHz, set.freqSource]).toEqual([900, "applied"]);
    expect(estimate(set)?.note).toBe("at 900 MHz (set by splitwatt)");
    meter.frequencyApplied(null);
    const after = await halfBusy(t, meter, 4, 25);
    expect([after.freqMHz, after.freqSource]).toEqual([1500, "scaling_cur_freq"]);
  });

  it("a change inside the window is time-weighted (within the sampler's period)", async () => {
    const { t, cf, open } = setup(raspberryPi4, "raspberry-pi-4");
    const meter = await open(); // sampler period 10 ms
    meter.start();
    await cf.setAll(600_000);
    let switchFrom = 0;
    let switchTo = 0;
    const t0 = performance.now();
    const w = await halfBusy(t, meter, 4, 100, async () => {
      await sleep(100);
      switchFrom = performance.now();
      await cf.setAll(1_500_000);
      switchTo = performance.now();
    });
    const total = w.durationMs;
    // 600 MHz until the switch, 1500 after; the switch is somewhere in [switchFrom, switchTo]
    const at600 = (s: number) => (s - t0) / total;
    const expectedLo = 600 * at600(switchTo) + 1500 * (1 - at600(switchTo));
    const expectedHi = 600 * at600(switchFrom) + 1500 * (1 - at600(switchFrom));
    // the sampler reads every 10 ms and joins readings by straight lines: the step is smeared over one period
    const slack = (900 * 10) / total + 900 * (Math.abs(w.durationMs - (performance.now() - t0)) / total);
    expect(w.freqSource).toBe("scaling_cur_freq");
    expect(w.freqMHz as number).toBeGreaterThanOrEqual(expectedLo - slack);
    expect(w.freqMHz as number).toBeLessThanOrEqual(expectedHi + slack);
  });

  it("policies are weighted by their CPUs; a profile without a cpu block takes fmax from cpuinfo_max_freq", async () => {
    // acpi-cpufreq: four one-CPU policies now at 1400, 800, 2200 and 1000 MHz; cpuinfo_max_freq 2200 MHz
    const { t, open } = setup(acpiCpufreqUserspace, "generic-x86");
    const meter = await open();
    meter.start();
    const w = await halfBusy(t, meter, 4, 25);
    expect(w.freqMHz).toBe((1400 + 800 + 2200 + 1000) / 4);
    const p = boardProfile("generic-x86");
    const alpha = p.power.model?.kind === "linear-util-freq" ? p.power.model.alpha : Number.NaN;
    expect(estimate(w)?.powerW).toBeCloseTo(p.power.idleW + (p.power.maxW - p.power.idleW) * 0.5 * (1350 / 2200) ** alpha, 9);
  });

  it("no cpufreq: frequency unknown, priced at the profile's maximum, and the reading says so", async () => {
    const { t, open } = setup((tt) => bareMachine(tt), "generic-x86");
    const meter = await open();
    const w = await halfBusy(t, meter, 2, 25);
    expect([w.freqMHz, w.freqSource]).toEqual([null, null]);
    expect(estimate(w)?.note).toBe("CPU frequency unknown: priced at the profile's maximum");
    const p = boardProfile("generic-x86").power;
    expect(estimate(w)?.powerW).toBeCloseTo(p.idleW + (p.maxW - p.idleW) * 0.5, 9);
  });
});

describe("a board profile for another machine", () => {
  it("--board raspberry-pi-4 on a 2-CPU x86 machine: one warning line saying what was detected", async () => {
    const { open } = setup((tt) => bareMachine(tt), "raspberry-pi-4");
    const meter = await open();
    const lines = meter.warnings.filter((w) => /board profile raspberry-pi-4/.test(w));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(
      `board profile raspberry-pi-4 is for a 4-core arm64/arm board, but this machine is ${process.arch} with 2 CPUs: the estimate uses raspberry-pi-4 anyway (name this board's profile with --board or SPLITWATT_BOARD, or attach a meter)`,
    );
  });

  it("on a (fake) Pi 4 tree the cores match; only the architecture can differ", async () => {
    const { open } = setup(raspberryPi4, "raspberry-pi-4");
    const meter = await open();
    const lines = meter.warnings.filter((w) => /board profile/.test(w));
    if (process.arch === "arm64" || process.arch === "arm") expect(lines).toEqual([]);
    else expect(lines).toEqual([expect.stringMatching(new RegExp(`this machine is ${process.arch} with 4 CPUs`))]);
  });

  it("a profile naming this architecture and core count gives no warning; nor does any profile when a counter measures", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-board-"));
    const file = join(dir, "two-core.json");
    const pi = JSON.parse(readFileSync(resolve(import.meta.dirname, "../../configs/boards/raspberry-pi-4.json"), "utf8")) as Record<string, any>;
    writeFileSync(file, JSON.stringify({ ...pi, name: "two-core", cpu: { ...pi.cpu, cores: 2, arch: [process.arch] } }));
    const same = await setup((tt) => bareMachine(tt), file).open();
    expect(same.warnings.filter((w) => /board profile/.test(w))).toEqual([]);
    const counted = await setup((tt) => {
      bareMachine(tt);
      hwmonEnergyCounter(tt);
    }, "raspberry-pi-4").open();
    expect(counted.estimated).toBe(false);
    expect(counted.warnings.filter((w) => /board profile/.test(w))).toEqual([]);
  });
});
