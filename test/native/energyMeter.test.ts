import { writeFileSync } from "node:fs";
import * as os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { boardProfile } from "../../src/hw/boardProfile.js";
import { EnergyMeter } from "../../src/hw/energyMeter.js";
import type { SysIO } from "../../src/hw/sysIO.js";
import { binding } from "../../src/native/binding.js";
import { bareMachine, hwmonEnergyCounter, hwmonIna219, raplTwoSockets, raplZoneDir } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
const meters: EnergyMeter[] = [];
afterEach(async () => {
  for (const m of meters.splice(0)) await m.close();
  for (const t of trees.splice(0)) t.cleanup();
});

async function meterOn(build: (t: FakeTree) => void) {
  const t = FakeTree.create();
  trees.push(t);
  build(t);
  const meter = await EnergyMeter.open({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, nvmlLib: "/nonexistent/libnvidia-ml.so", board: "generic-x86" });
  meters.push(meter);
  return { t, meter };
}

const bump = (t: FakeTree, zone: string, deltaUJ: bigint) => {
  const p = `${raplZoneDir(zone)}/energy_uj`;
  t.file(p, BigInt(t.read(p)) + deltaUJ);
};

describe("EnergyMeter windows", () => {
  it("sums package and dram over the exact window; psys and core are reported, not added", async () => {
    const { t, meter } = await meterOn((tt) => {
      bareMachine(tt);
      raplTwoSockets(tt);
    });
    const from = meter.mark();
    bump(t, "intel-rapl:0", 2_000_000n);
    bump(t, "intel-rapl:0:1", 500_000n);
    bump(t, "intel-rapl:1", 1_000_000n);
    bump(t, "intel-rapl:1:0", 250_000n);
    bump(t, "intel-rapl:0:0", 1_500_000n);
    bump(t, "intel-rapl:2", 9_000_000n);
    const w = meter.since(from);
    expect(w.deviceJ).toBeCloseTo(3.75, 9);
    expect(w.source).toBe("rapl");
    expect(w.estimated).toBe(false);
    const psys = w.sources.find((s) => s.id === "rapl:psys");
    expect(psys).toMatchObject({ energyJ: 9, device: false });
    expect(w.sources.find((s) => s.id === "rapl:package-0/core")).toMatchObject({ energyJ: 1.5, device: false });
  });

  it("counts across a wraparound of the counter using max_energy_range_uj", async () => {
    const { t, meter } = await meterOn((tt) => {
      bareMachine(tt);
      raplTwoSockets(tt, { energyUJ: { "intel-rapl:0": 262143328850n - 1000n } });
    });
    const from = meter.mark();
    t.file(`${raplZoneDir("intel-rapl:0")}/energy_uj`, 4000n);
    const w = meter.since(from);
    expect(w.sources.find((s) => s.id === "rapl:package-0")?.energyJ).toBeCloseTo(0.005, 12);
  });

  it("a counter that goes backwards with no known range is dropped from the window, never negative", async () => {
    const { t, meter } = await meterOn((tt) => {
      bareMachine(tt);
      hwmonEnergyCounter(tt);
    });
    const from = meter.mark();
    const socket = t.path("sys/devices/platform/amd_energy.0/hwmon");
    const hw = (await import("node:fs")).readdirSync(socket)[0] as string;
    t.file(`sys/devices/platform/amd_energy.0/hwmon/${hw}/energy5_input`, 1000n);
    const w = meter.since(from);
    const r = w.sources.find((s) => s.id === "hwmon:amd_energy/Esocket0");
    expect(r).toMatchObject({ energyJ: null, note: "counter reset during the window", device: true });
    expect(w.deviceJ).toBe(0);
  });

  // The rule: a source whose read failed at any sample inside the window gives no figure (null,
  // with the errno), never what the good samples around the failure happen to add up to. The
  // failure is injected between two good samples: a mark() in between takes a sample (as the
  // sampler thread would), so the window has new samples and only its error count tells.
  it("a counter read error inside the window: that source has no figure; the others still count", async () => {
    const { t, meter } = await meterOn((tt) => {
      bareMachine(tt);
      raplTwoSockets(tt);
    });
    const pkg1 = `${raplZoneDir("intel-rapl:1")}/energy_uj`;
    const from = meter.mark();
    bump(t, "intel-rapl:0", 2_000_000n);
    bump(t, "intel-rapl:0:1", 500_000n);
    bump(t, "intel-rapl:1:0", 250_000n);
    const good = t.read(pkg1);
    t.raw(pkg1, ""); // the driver answers with no data
    meter.mark();
    t.remove(pkg1); // then the file is gone
    meter.mark();
    t.file(pkg1, BigInt(good) + 1_000_000n); // back, 1 J later
    const w = meter.since(from);
    const failed = w.sources.find((s) => s.id === "rapl:package-1");
    expect(failed).toMatchObject({ energyJ: null, powerW: null, device: true, note: `read failed (errno ${os.constants.errno.ENOENT})` });
    // package-0 + its dram + package-1's dram; package-1's joule is not guessed
    expect(w.deviceJ).toBeCloseTo(2.75, 9);
    expect(w.sources.find((s) => s.id === "rapl:package-1/dram")?.energyJ).toBeCloseTo(0.25, 12);
  });

  it("a power sensor read error inside the window: no figure, not 0 J", async () => {
    const { meter } = await meterOn((tt) => {
      bareMachine(tt);
      hwmonIna219(tt, { busMV: 5000, currentMA: 1000 });
    });
    const power = meter.sources.find((s) => s.id === "hwmon:ina219/power1")?.path as string;
    expect(power).toMatch(/power1_input$/);
    const from = meter.mark();
    writeFileSync(power, "");
    meter.mark();
    writeFileSync(power, "5000000\n");
    await new Promise((r) => setTimeout(r, 20));
    const w = meter.since(from);
    const r = w.sources.find((s) => s.id === "hwmon:ina219/power1");
    expect(r).toMatchObject({ energyJ: null, powerW: null, device: true, note: `read failed (errno ${os.constants.errno.ENODATA})` });
  });

  it("integrates a power-only sensor with the sampler thread running", async () => {
    const { meter } = await meterOn((tt) => {
      bareMachine(tt);
      hwmonIna219(tt, { busMV: 5000, currentMA: 1000 }); // power1_input = 5,000,000 uW
    });
    meter.start();
    const { window } = await meter.measure(() => new Promise((r) => setTimeout(r, 120)));
    const r = window.sources.find((s) => s.id === "hwmon:ina219/power1");
    expect(r?.powerW).toBeCloseTo(5, 6);
    expect(window.deviceJ).toBeCloseTo((5 * window.durationMs) / 1000, 6);
  });

  it("no counters: the estimate from the board profile and /proc/stat, labelled estimated", async () => {
    const { t, meter } = await meterOn(bareMachine);
    expect(meter.estimated).toBe(true);
    const stat = (user: number, idle: number) => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\ncpu1 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\n`;
    t.file("proc/stat", stat(1000, 9000));
    const from = meter.mark();
    t.file("proc/stat", stat(1200, 9600)); // +800 jiffies, 200 busy: 25% utilisation
    await new Promise((r) => setTimeout(r, 25)); // a window /proc/stat resolves (>= 20 ms)
    const w = meter.since(from);
    const p = boardProfile("generic-x86").power;
    expect(w.cpuUtilisation).toBeCloseTo(0.25, 12);
    expect(w.estimated).toBe(true);
    expect(w.source).toBe("estimate");
    expect(w.deviceJ).toBeCloseTo((w.durationMs / 1000) * (p.idleW + (p.maxW - p.idleW) * 0.25), 9);
  });

  it("a window under 20 ms (two USER_HZ ticks) is priced by this process's CPU time: /proc/stat is read at its start only, or not at all when it is expected short; 'process' mode never reads it", async () => {
    const statReads = { n: 0 };
    const counting = (): SysIO => {
      const io = new (binding().Sysfs)();
      return new Proxy(io, {
        get(target, key) {
          const v = Reflect.get(target, key) as unknown;
          if (key !== "readSync" || typeof v !== "function") return typeof v === "function" ? v.bind(target) : v;
          return (path: string) => {
            if (path.endsWith("/stat") && path.includes("proc")) statReads.n++;
            return (v as (p: string) => string).call(target, path);
          };
        },
      });
    };
    const stat = (user: number, idle: number) => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\ncpu1 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\n`;
    for (const utilisation of ["system", "process"] as const) {
      const t = FakeTree.create();
      trees.push(t);
      bareMachine(t);
      const meter = await EnergyMeter.open({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, io: counting(), nvmlLib: "/nonexistent/libnvidia-ml.so", board: "generic-x86", utilisation });
      meters.push(meter);
      t.file("proc/stat", stat(1000, 9000));
      statReads.n = 0;
      const from = meter.mark();
      t.file("proc/stat", stat(1800, 9000)); // the machine fully busy: 800 jiffies on 2 CPUs
      const w = meter.since(from); // well under 20 ms, unless the machine stalled this process
      expect(statReads.n).toBe(utilisation === "process" ? 0 : w.durationMs < 20 ? 1 : 2);
      // this process barely ran in the window, whatever /proc/stat says of the machine
      if (utilisation === "process" || w.durationMs < 20) expect(w.cpuUtilisation).not.toBe(1);
      expect(w.estimated).toBe(true);
      // a window expected under 20 ms reads /proc/stat at neither end, even when it runs longer
      statReads.n = 0;
      const hinted = meter.mark({ expectMs: 5 });
      t.file("proc/stat", stat(2600, 9000));
      await new Promise((r) => setTimeout(r, 25));
      const long = meter.since(hinted);
      expect(statReads.n).toBe(0);
      expect(long.cpuUtilisation).toBeLessThan(0.5); // this process slept; /proc/stat says 100%
    }
  });

  it("utilisation 'process': the estimate counts this process's CPU only, not the machine's", async () => {
    const t = FakeTree.create();
    trees.push(t);
    bareMachine(t);
    const meter = await EnergyMeter.open({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, nvmlLib: "/nonexistent/libnvidia-ml.so", board: "generic-x86", utilisation: "process" });
    meters.push(meter);
    const stat = (user: number, idle: number) => `cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0\ncpu0 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\ncpu1 ${user / 2} 0 0 ${idle / 2} 0 0 0 0 0 0\n`;
    t.file("proc/stat", stat(1000, 9000));
    const from = meter.mark();
    // the machine is fully busy (another process), this one sleeps
    t.file("proc/stat", stat(1800, 9000));
    await new Promise((r) => setTimeout(r, 100));
    const w = meter.since(from);
    expect(w.cpuUtilisation).toBeLessThan(0.2);
    // and busy itself: spin until this process has used 100 ms of CPU (however long that takes
    // on a loaded machine); the window's utilisation x duration x CPUs is this process's CPU time:
    // at least the 100 ms spun inside the window, at most what it used around the window
    const cpuUs = (u: NodeJS.CpuUsage): number => u.user + u.system;
    const outer = process.cpuUsage();
    const from2 = meter.mark();
    const spin = process.cpuUsage();
    while (cpuUs(process.cpuUsage(spin)) < 100_000);
    const w2 = meter.since(from2);
    const outerUs = cpuUs(process.cpuUsage(outer));
    const cpus = 2; // the fake /proc/stat lists cpu0 and cpu1
    const meterUs = (w2.cpuUtilisation as number) * (w2.durationMs * 1000) * cpus;
    expect(meterUs).toBeGreaterThanOrEqual(100_000 * (1 - 1e-9));
    expect(meterUs).toBeLessThanOrEqual(outerUs * (1 + 1e-9));
  });
});
