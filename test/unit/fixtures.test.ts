import { openSync, readFileSync, readSync, closeSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  acpiCpufreqUserspace,
  amdPstateEpp,
  bareMachine,
  boards,
  cpufreqBoards,
  cpuList,
  devfreqJetsonGpu,
  devfreqMali,
  i915Gpu,
  hwmonEnergyCounter,
  hwmonIna219,
  intelPstateActive,
  jetsonOrin,
  MSR,
  msrAmd,
  msrIntel,
  msrOffset,
  ORIN_TABLE,
  perfPowerPmu,
  raplTwoSockets,
  raplZoneDir,
  raspberryPi4,
  raspberryPi5,
} from "../fixtures/boards.js";
import { FakeKernel, fsSysIO, nativeError } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
function tree(): FakeTree {
  const t = FakeTree.create();
  trees.push(t);
  return t;
}
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});

const POL = "sys/devices/system/cpu/cpufreq";
const CPU = "sys/devices/system/cpu";

function readU64(file: string, offset: number): bigint {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(8);
    expect(readSync(fd, buf, 0, 8, offset)).toBe(8);
    return buf.readBigUInt64LE(0);
  } finally {
    closeSync(fd);
  }
}

async function rejection(p: Promise<unknown>): Promise<NodeJS.ErrnoException & { path?: string }> {
  try {
    await p;
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error("expected a rejection");
}

describe("FakeTree", () => {
  it("creates sys/proc/dev under tmpdir and cleans up", () => {
    const t = FakeTree.create();
    expect(t.sysfsRoot).toBe(join(t.root, "sys"));
    expect(statSync(t.procRoot).isDirectory()).toBe(true);
    expect(statSync(t.devRoot).isDirectory()).toBe(true);
    t.cleanup();
    expect(() => statSync(t.root)).toThrow();
  });

  it("writes sysfs-style files, symlinks, sparse files; reads trimmed", () => {
    const t = tree();
    t.file("/sys/a/b/c", 42).file("sys/a/ro", "x", 0o444).symlink("sys/link", "a/b").dir("dev/cpu/0");
    expect(readFileSync(t.path("sys/a/b/c"), "utf8")).toBe("42\n");
    expect(t.read("sys/link/c")).toBe("42");
    expect(statSync(t.path("sys/a/ro")).mode & 0o777).toBe(0o444);
    t.file("sys/a/ro", "y"); // rewriting a read-only file keeps its mode
    expect(t.read("sys/a/ro")).toBe("y");
    expect(statSync(t.path("sys/a/ro")).mode & 0o777).toBe(0o444);
    t.sparse("dev/cpu/0/msr", [[0x606, 0xa0e03n]]).sparse("dev/cpu/0/msr", [[0xc001029b, 0xffff_ffff_ffff_fffen]]);
    expect(readU64(t.path("dev/cpu/0/msr"), 0x606)).toBe(0xa0e03n);
    expect(readU64(t.path("dev/cpu/0/msr"), 0xc001029b)).toBe(0xffff_ffff_ffff_fffen);
    t.remove("sys/link");
    expect(t.exists("sys/link")).toBe(false);
    expect(t.exists("sys/a/b/c")).toBe(true);
    expect(() => t.path("../escape")).toThrow(/outside/);
  });
});

describe("boards", () => {
  it("cpuList formats kernel cpulists", () => {
    expect(cpuList([0, 1, 2, 3, 5, 7, 8])).toBe("0-3,5,7-8");
    expect(cpuList([])).toBe("");
  });

  for (const [name, build] of Object.entries(boards)) {
    it(`${name} builds on its own`, () => {
      const t = tree();
      build(t);
      expect(t.exists("sys") && t.exists("proc") && t.exists("dev")).toBe(true);
    });
  }

  it("builders compose on one tree", () => {
    const t = tree();
    acpiCpufreqUserspace(t);
    raplTwoSockets(t);
    msrIntel(t);
    perfPowerPmu(t);
    hwmonIna219(t);
    hwmonEnergyCounter(t);
    expect(t.read(`${POL}/policy3/scaling_driver`)).toBe("acpi-cpufreq");
    expect(t.read("sys/class/powercap/intel-rapl:1/name")).toBe("package-1");
    expect(t.exists("dev/cpu/3/msr")).toBe(true); // one per present CPU
    expect(t.read("proc/cpuinfo")).toMatch(/^model name\t: Intel\(R\) Core\(TM\) i5-5200U/m); // msrIntel kept the cpuinfo
    expect(t.read("sys/class/hwmon/hwmon0/name")).toBe("ina219");
    expect(t.read("sys/class/hwmon/hwmon1/name")).toBe("amd_energy");
    expect(t.read("sys/class/hwmon/hwmon2/name")).toBe("amdgpu");
  });

  for (const name of cpufreqBoards) {
    it(`${name}: every cpuN/cpufreq is a relative symlink resolving to a policy that lists the CPU`, () => {
      const t = tree();
      boards[name](t);
      const present = t.read(`${CPU}/present`);
      const last = Number(present.split("-")[1] ?? present);
      for (let c = 0; c <= last; c++) {
        const link = t.path(`${CPU}/cpu${c}/cpufreq`);
        const real = realpathSync(link);
        expect(real.startsWith(t.path(`${POL}/policy`))).toBe(true);
        expect(readFileSync(join(real, "related_cpus"), "utf8").trim().split(" ").map(Number)).toContain(c);
      }
      expect(t.read(`${CPU}/cpu1/online`)).toBe("1");
      expect(t.read("proc/stat")).toMatch(/^cpu  \d+/);
      expect(Number(t.read("proc/sys/kernel/perf_event_paranoid"))).toBe(2);
    });
  }

  it("acpi-cpufreq: descending table with the kernel's trailing space, time_in_state, userspace available", () => {
    const t = tree();
    acpiCpufreqUserspace(t);
    const p = `${POL}/policy2`;
    expect(readFileSync(t.path(`${p}/scaling_available_frequencies`), "utf8")).toBe(
      "2200000 2000000 1800000 1600000 1400000 1200000 1000000 800000 \n",
    );
    expect(t.read(`${p}/scaling_available_governors`).split(" ")).toContain("userspace");
    expect(t.read(`${p}/scaling_governor`)).toBe("schedutil");
    expect(t.read(`${p}/scaling_setspeed`)).toBe("<unsupported>");
    expect(t.read(`${p}/affected_cpus`)).toBe("2");
    expect(t.read(`${p}/stats/time_in_state`).split("\n")).toHaveLength(8);
    expect(t.read(`${p}/stats/time_in_state`).split("\n")[0]).toMatch(/^2200000 \d+$/);
    expect(statSync(t.path(`${p}/cpuinfo_cur_freq`)).mode & 0o777).toBe(0o400);
    expect(t.exists(`${CPU}/cpu0/online`)).toBe(false);
    expect(t.read("proc/stat").split("\n").filter((l) => /^cpu\d/.test(l))).toHaveLength(4);
  });

  it("intel_pstate / amd-pstate-epp: setpolicy drivers without table", () => {
    for (const [build, driver] of [
      [intelPstateActive, "intel_pstate"],
      [amdPstateEpp, "amd-pstate-epp"],
    ] as const) {
      const t = tree();
      build(t);
      const p = `${POL}/policy0`;
      expect(t.read(`${p}/scaling_driver`)).toBe(driver);
      expect(readFileSync(t.path(`${p}/scaling_available_governors`), "utf8")).toBe("performance powersave\n");
      expect(t.exists(`${p}/scaling_available_frequencies`)).toBe(false);
      expect(t.exists(`${p}/stats`)).toBe(false);
      expect(t.read(`${p}/scaling_setspeed`)).toBe("<unsupported>");
      expect(t.read(`${p}/energy_performance_preference`)).toBe("balance_performance");
    }
    const t = tree();
    intelPstateActive(t);
    expect(t.read(`${CPU}/intel_pstate/status`)).toBe("active");
    expect(t.read(`${CPU}/intel_pstate/no_turbo`)).toBe("0");
    expect(t.read(`${POL}/policy0/cpuinfo_max_freq`)).toBe("4700000");
    const a = tree();
    amdPstateEpp(a);
    expect(a.read(`${CPU}/amd_pstate/status`)).toBe("active");
    expect(a.read(`${POL}/policy1/amd_pstate_lowest_nonlinear_freq`)).toMatch(/^\d+$/);
    expect(a.read("proc/cpuinfo")).toMatch(/^vendor_id\t: AuthenticAMD$/m);
  });

  it("Raspberry Pi 4/5: one cpufreq-dt policy, ascending 100 MHz table, device-tree model", () => {
    const t4 = tree();
    raspberryPi4(t4);
    expect(t4.read(`${POL}/policy0/related_cpus`)).toBe("0 1 2 3");
    expect(t4.read(`${POL}/policy0/scaling_driver`)).toBe("cpufreq-dt");
    expect(t4.read(`${POL}/policy0/scaling_available_frequencies`)).toBe(
      "600000 700000 800000 900000 1000000 1100000 1200000 1300000 1400000 1500000",
    );
    expect(t4.read("proc/device-tree/model")).toBe("Raspberry Pi 4 Model B Rev 1.4");
    expect(t4.read("proc/cpuinfo")).toMatch(/^Model\t\t: Raspberry Pi 4 Model B Rev 1.4$/m);
    expect(t4.exists(`${POL}/policy1`)).toBe(false);
    const t5 = tree();
    raspberryPi5(t5, { deviceTreeNul: true });
    expect(t5.read(`${POL}/policy0/scaling_available_frequencies`).split(" ").map(Number)).toEqual([
      1500000, 1600000, 1700000, 1800000, 1900000, 2000000, 2100000, 2200000, 2300000, 2400000,
    ]);
    expect(readFileSync(t5.path("proc/device-tree/model"), "utf8")).toBe("Raspberry Pi 5 Model B Rev 1.0\0");
  });

  it("Jetson AGX Orin: 3 clusters, cpu11 offline but still linked, INA3221 per JetPack", () => {
    const t = tree();
    jetsonOrin(t);
    expect(t.read(`${POL}/policy8/affected_cpus`)).toBe("8 9 10");
    expect(t.read(`${POL}/policy8/related_cpus`)).toBe("8 9 10 11");
    expect(t.read(`${POL}/policy4/scaling_driver`)).toBe("tegra194");
    expect(t.read(`${CPU}/cpu11/online`)).toBe("0");
    expect(t.read(`${CPU}/cpu0/online`)).toBe("1");
    expect(t.read(`${CPU}/online`)).toBe("0-10");
    expect(t.read(`${CPU}/offline`)).toBe("11");
    expect(realpathSync(t.path(`${CPU}/cpu11/cpufreq`))).toBe(realpathSync(t.path(`${POL}/policy8`)));
    expect(t.exists(`${CPU}/cpu11/topology`)).toBe(false);
    expect(t.read("proc/stat")).not.toMatch(/^cpu11 /m);
    expect(ORIN_TABLE[0]).toBe(115200);
    expect(ORIN_TABLE.at(-2)).toBe(2188800);
    expect(ORIN_TABLE.at(-1)).toBe(2201600);
    expect(t.read("sys/devices/soc0/family")).toBe("Tegra");
    expect(t.read("proc/device-tree/model")).toBe("NVIDIA Jetson AGX Orin Developer Kit");
    // JetPack 5: hwmon under platform/c240000.i2c, V and I only
    const h = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3";
    expect(t.read(`${h}/name`)).toBe("ina3221");
    expect([1, 2, 3].map((c) => t.read(`${h}/in${c}_label`))).toEqual(["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]);
    expect(t.exists(`${h}/power1_input`)).toBe(false);
    expect(realpathSync(t.path("sys/class/hwmon/hwmon4"))).toBe(t.path("sys/devices/platform/c240000.i2c/i2c-1/1-0041/hwmon/hwmon4"));
    expect(t.exists("sys/class/hwmon/hwmon4/in1_label")).toBe(false);
    expect(t.read("sys/class/hwmon/hwmon4/in2_label")).toBe("VDDQ_VDD2_1V8AO");

    const t6 = tree();
    jetsonOrin(t6, { jetpack: 6 });
    expect(realpathSync(t6.path("sys/class/hwmon/hwmon1"))).toBe(
      t6.path("sys/devices/platform/bus@0/c240000.i2c/i2c-1/1-0040/hwmon/hwmon1"),
    );
    const t4 = tree();
    jetsonOrin(t4, { jetpack: 4 });
    const iio = "sys/bus/i2c/drivers/ina3221x/1-0040/iio:device0";
    expect(t4.read(`${iio}/rail_name_0`)).toBe("GPU");
    const mV = Number(t4.read(`${iio}/in_voltage0_input`));
    const mA = Number(t4.read(`${iio}/in_current0_input`));
    expect(Number(t4.read(`${iio}/in_power0_input`))).toBe(Math.round((mV * mA) / 1000));
    expect(t4.exists("sys/class/hwmon")).toBe(false);
  });

  it("RAPL: real dirs under devices/virtual/powercap, class entries are symlinks", () => {
    const t = tree();
    raplTwoSockets(t, { energyUJ: { "intel-rapl:0:1": 5n }, mode: 0o400 });
    const cls = "sys/class/powercap";
    const names: Record<string, string> = {
      "intel-rapl:0": "package-0",
      "intel-rapl:0:0": "core",
      "intel-rapl:0:1": "dram",
      "intel-rapl:1": "package-1",
      "intel-rapl:1:0": "dram",
      "intel-rapl:2": "psys",
      "intel-rapl-mmio:0": "package-0",
    };
    for (const [id, name] of Object.entries(names)) {
      expect(realpathSync(t.path(`${cls}/${id}`))).toBe(t.path(raplZoneDir(id)));
      expect(t.read(`${cls}/${id}/name`)).toBe(name);
      expect(statSync(t.path(`${cls}/${id}/energy_uj`)).mode & 0o777).toBe(0o400);
    }
    expect(raplZoneDir("intel-rapl:0:1")).toBe("sys/devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:1");
    expect(t.read(`${cls}/intel-rapl:0/max_energy_range_uj`)).toBe("262143328850");
    expect(t.read(`${cls}/intel-rapl:1:0/max_energy_range_uj`)).toBe("65712999613");
    expect(t.read(`${cls}/intel-rapl:0:1/energy_uj`)).toBe("5");
    expect(t.read(`${cls}/intel-rapl:0/constraint_0_name`)).toBe("long_term");
    expect(t.read(`${cls}/intel-rapl:0/constraint_1_name`)).toBe("short_term");
    expect(t.read(`${cls}/intel-rapl/enabled`)).toBe("1");
  });

  it("perf power PMU, MSRs, hwmon sources", () => {
    const t = tree();
    bareMachine(t, { cpus: 2 });
    perfPowerPmu(t, { type: 24 });
    const pmu = "sys/bus/event_source/devices/power";
    expect(t.read(`${pmu}/type`)).toBe("24");
    expect(t.read(`${pmu}/events/energy-pkg`)).toBe("event=0x02");
    expect(t.read(`${pmu}/events/energy-psys`)).toBe("event=0x05");
    expect(t.read(`${pmu}/events/energy-pkg.scale`)).toBe("2.3283064365386962890625e-10");
    expect(t.read(`${pmu}/events/energy-ram.unit`)).toBe("Joules");

    msrAmd(t);
    const amd = t.path("dev/cpu/1/msr");
    expect(readU64(amd, MSR.AMD_RAPL_POWER_UNIT) & 0x1fffn).toBe(0x1003n); // power + energy units exact
    expect(readU64(amd, MSR.AMD_PKG_ENERGY_STATUS)).toBe(0x7d21_4b90n);
    t.sparse("dev/cpu/1/msr", [[MSR.AMD_PKG_ENERGY_STATUS, 0xffff_fff0n]]); // a test bumping the counter
    expect((readU64(amd, MSR.AMD_RAPL_POWER_UNIT) >> 8n) & 0x1fn).toBe(16n);
    expect(readU64(amd, MSR.AMD_PKG_ENERGY_STATUS)).toBe(0xffff_fff0n);
    expect(() => msrAmd(tree(), { values: { [MSR.AMD_CORE_ENERGY_STATUS]: 1n } })).toThrow(/stride 8/);
    const a8 = tree();
    msrAmd(a8, { cpus: [0, 1], stride: 8 });
    expect(readU64(a8.path("dev/cpu/0/msr"), msrOffset(MSR.AMD_RAPL_POWER_UNIT, 8))).toBe(0xa1003n);
    expect(readU64(a8.path("dev/cpu/1/msr"), msrOffset(MSR.AMD_CORE_ENERGY_STATUS, 8))).toBe(0x1210_0001n);
    expect(readU64(a8.path("dev/cpu/1/msr"), msrOffset(MSR.AMD_PKG_ENERGY_STATUS, 8))).toBe(0x7d21_4b90n);
    expect(() => msrIntel(tree(), { values: { 0x607: 1n } })).toThrow(/share bytes/);
    expect(t.exists("dev/cpu/2/msr")).toBe(false);
    const i = tree();
    msrIntel(i, { cpus: [0], values: { [MSR.PKG_ENERGY_STATUS]: 0xffff_fff0n } });
    expect(readU64(i.path("dev/cpu/0/msr"), MSR.RAPL_POWER_UNIT)).toBe(0xa0e03n);
    expect(readU64(i.path("dev/cpu/0/msr"), MSR.PKG_ENERGY_STATUS)).toBe(0xffff_fff0n);
    expect(i.read("proc/cpuinfo")).toMatch(/^vendor_id\t: GenuineIntel$/m);

    const h = tree();
    hwmonIna219(h);
    const mv = Number(h.read("sys/class/hwmon/hwmon0/in1_input"));
    const ma = Number(h.read("sys/class/hwmon/hwmon0/curr1_input"));
    expect(Number(h.read("sys/class/hwmon/hwmon0/power1_input"))).toBe(mv * ma); // uW
    hwmonEnergyCounter(h, { cores: 2 });
    expect(h.read("sys/class/hwmon/hwmon1/energy3_label")).toBe("Esocket0");
    expect(h.read("sys/class/hwmon/hwmon2/power1_input")).toMatch(/^\d+$/);
  });

  it("bareMachine: empty cpufreq dir, no powercap/hwmon/power PMU", () => {
    const t = tree();
    bareMachine(t);
    expect(t.read(`${CPU}/present`)).toBe("0-1");
    expect(t.exists(`${CPU}/cpufreq`)).toBe(true);
    expect(t.exists(`${POL}/policy0`)).toBe(false);
    expect(t.exists(`${CPU}/cpu0/cpufreq`)).toBe(false);
    expect(t.exists(`${CPU}/cpu0/online`)).toBe(false);
    expect(t.read(`${CPU}/cpu1/online`)).toBe("1");
    expect(t.exists("sys/class/powercap")).toBe(false);
    expect(t.exists("sys/class/hwmon")).toBe(false);
    expect(t.exists("sys/bus/event_source/devices/power")).toBe(false);
    expect(t.read("sys/bus/event_source/devices/software/type")).toBe("1");
    expect(t.read("proc/cpuinfo")).toMatch(/^vendor_id\t: AuthenticAMD$/m);
  });
});

describe("fsSysIO", () => {
  it("reads, lists sorted with link types, realpath, access", async () => {
    const t = tree();
    acpiCpufreqUserspace(t);
    const io = fsSysIO();
    const p0 = t.path(`${POL}/policy0`);
    expect(io.readSync(`${p0}/scaling_driver`)).toBe("acpi-cpufreq\n");
    const res = await io.readMany([`${p0}/scaling_driver`, `${p0}/nope`]);
    expect(res[0]).toEqual({ ok: true, text: "acpi-cpufreq\n" });
    expect(res[1]).toEqual({ ok: false, errno: 2, code: "ENOENT", syscall: "open" });
    const entries = await io.list(t.path(`${CPU}/cpu0`));
    expect(entries).toContainEqual({ name: "cpufreq", type: "link" });
    expect(entries).toContainEqual({ name: "topology", type: "dir" });
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    expect(io.realpathSync(t.path(`${CPU}/cpu0/cpufreq`))).toBe(realpathSync(p0));
    expect(io.access(`${p0}/scaling_driver`, "r")).toBe(0);
    expect(io.access(`${p0}/nope`, "f")).toBe(2);
  });

  it("errors look like the addon's NativeIoError", async () => {
    const t = tree();
    const io = fsSysIO();
    const missing = t.path("sys/nope");
    let err: (Error & { errno?: number; code?: string; syscall?: string; path?: string }) | undefined;
    try {
      io.readSync(missing);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ errno: 2, code: "ENOENT", syscall: "open", path: missing });
    const w = await rejection(io.write(missing, "1"));
    expect(w).toMatchObject({ errno: 2, code: "ENOENT", syscall: "open", path: missing }); // no O_CREAT
    await expect(io.list(missing)).rejects.toMatchObject({ code: "ENOENT", errno: 2 });
    // write replaces the content (O_TRUNC)
    t.file("sys/x", "2200000");
    await io.write(t.path("sys/x"), "800000");
    expect(t.read("sys/x")).toBe("800000");
  });
});

describe("FakeKernel", () => {
  function setup(build: (t: FakeTree) => void = acpiCpufreqUserspace, opts = {}) {
    const t = tree();
    build(t);
    const k = new FakeKernel(fsSysIO(), opts);
    const p = (policy: number, file: string) => t.path(`${POL}/policy${policy}/${file}`);
    const read = (policy: number, file: string) => t.read(`${POL}/policy${policy}/${file}`);
    return { t, k, p, read };
  }

  it("an attribute it rewrites is never seen empty by a concurrent reader (a sampler holds its fd open)", async () => {
    const { k, p } = setup();
    await k.write(p(0, "scaling_governor"), "userspace");
    const file = p(0, "scaling_cur_freq");
    // a reader in another thread preads through one open fd, as the native sampler does
    const { Worker } = await import("node:worker_threads");
    const code = `
      const { openSync, readSync } = require("node:fs");
      const { parentPort, workerData } = require("node:worker_threads");
      const fd = openSync(workerData.file, "r");
      const buf = Buffer.alloc(64);
      let empty = 0, reads = 0, stop = false;
      parentPort.on("message", () => { stop = true; });
      (function loop() {
        for (let i = 0; i < 2000; i++) { reads++; if (readSync(fd, buf, 0, 64, 0) === 0 || buf.toString("utf8", 0, 1).trim() === "") empty++; }
        if (stop) parentPort.postMessage({ empty, reads }); else setImmediate(loop);
      })();`;
    const w = new Worker(code, { eval: true, workerData: { file } });
    for (let i = 0; i < 1000; i++) await k.write(p(0, "scaling_setspeed"), i % 2 === 0 ? "800000" : "2200000");
    const done = new Promise<{ empty: number; reads: number }>((resolve) => w.once("message", resolve));
    w.postMessage("stop");
    const r = await done;
    await w.terminate();
    expect(r.reads).toBeGreaterThan(1000);
    expect(r.empty).toBe(0);
  });

  it("rejects an unknown governor with EINVAL, accepts one case-insensitively", async () => {
    const { k, p, read } = setup();
    const e = await rejection(k.write(p(0, "scaling_governor"), "turbo\n"));
    expect(e).toMatchObject({ code: "EINVAL", errno: 22, syscall: "write", path: p(0, "scaling_governor") });
    expect(read(0, "scaling_governor")).toBe("schedutil");
    await k.write(p(0, "scaling_governor"), "OnDemand");
    expect(read(0, "scaling_governor")).toBe("ondemand");
  });

  it("userspace governor: setspeed shows cur; leaving it makes it <unsupported>", async () => {
    const { k, p, read } = setup();
    expect(read(0, "scaling_cur_freq")).toBe("1400000");
    await k.write(p(0, "scaling_governor"), "userspace");
    expect(read(0, "scaling_setspeed")).toBe("1400000");
    await k.write(p(0, "scaling_governor"), "schedutil");
    expect(read(0, "scaling_setspeed")).toBe("<unsupported>");
  });

  it("performance pins cur to max, powersave to min, others clamp", async () => {
    const { k, p, read } = setup();
    await k.write(p(1, "scaling_governor"), "performance");
    expect(read(1, "scaling_cur_freq")).toBe("2200000");
    expect(read(1, "cpuinfo_cur_freq")).toBe("2200000");
    await k.write(p(1, "scaling_governor"), "powersave");
    expect(read(1, "scaling_cur_freq")).toBe("800000");
    await k.write(p(1, "scaling_min_freq"), "1200000");
    expect(read(1, "scaling_cur_freq")).toBe("1200000");
    await k.write(p(1, "scaling_governor"), "ondemand");
    await k.write(p(1, "scaling_max_freq"), "1200000"); // min == max allowed
    expect(read(1, "scaling_cur_freq")).toBe("1200000");
  });

  it("scaling_setspeed: EINVAL unless userspace; RELATION_L within [min,max]; reads back cur", async () => {
    const { k, p, read } = setup();
    const e = await rejection(k.write(p(0, "scaling_setspeed"), "1600000"));
    expect(e).toMatchObject({ code: "EINVAL", syscall: "write" });
    await k.write(p(0, "scaling_governor"), "userspace");
    await k.write(p(0, "scaling_setspeed"), "1500000");
    expect(read(0, "scaling_cur_freq")).toBe("1600000"); // lowest offered >= requested
    expect(read(0, "scaling_setspeed")).toBe("1600000"); // show_speed() prints policy->cur
    await k.write(p(0, "scaling_setspeed"), "9000000");
    expect(read(0, "scaling_cur_freq")).toBe("2200000");
    await k.write(p(0, "scaling_setspeed"), "100");
    expect(read(0, "scaling_cur_freq")).toBe("800000");
    await k.write(p(0, "scaling_max_freq"), "1800000");
    await k.write(p(0, "scaling_setspeed"), "2000000");
    expect(read(0, "scaling_cur_freq")).toBe("1800000");
    expect((await rejection(k.write(p(0, "scaling_setspeed"), "fast"))).code).toBe("EINVAL");
  });

  it("userspace re-targets its stored setspeed when limits change", async () => {
    const { k, p, read } = setup();
    await k.write(p(2, "scaling_governor"), "userspace");
    await k.write(p(2, "scaling_setspeed"), "2000000");
    await k.write(p(2, "scaling_max_freq"), "1200000");
    expect(read(2, "scaling_cur_freq")).toBe("1200000");
    await k.write(p(2, "scaling_max_freq"), "2200000");
    expect(read(2, "scaling_cur_freq")).toBe("2000000");
  });

  it("scaling_min/max: EINVAL on junk, clamp to cpuinfo, resolve to the table, strict min <= max", async () => {
    const { k, p, read } = setup();
    expect((await rejection(k.write(p(0, "scaling_max_freq"), "max"))).code).toBe("EINVAL");
    expect((await rejection(k.write(p(0, "scaling_max_freq"), "-1"))).code).toBe("EINVAL");
    await k.write(p(0, "scaling_max_freq"), "99999999");
    expect(read(0, "scaling_max_freq")).toBe("2200000");
    await k.write(p(0, "scaling_min_freq"), "1");
    expect(read(0, "scaling_min_freq")).toBe("800000");
    await k.write(p(0, "scaling_max_freq"), "1500000");
    expect(read(0, "scaling_max_freq")).toBe("1400000"); // RELATION_H
    await k.write(p(0, "scaling_min_freq"), "1100000");
    expect(read(0, "scaling_min_freq")).toBe("1200000"); // RELATION_L
    const e = await rejection(k.write(p(0, "scaling_min_freq"), "1600000"));
    expect(e).toMatchObject({ code: "EINVAL", syscall: "write" });
    expect(read(0, "scaling_min_freq")).toBe("1200000");
    expect((await rejection(k.write(p(0, "scaling_max_freq"), "1000000"))).code).toBe("EINVAL");
    // the order that keeps min <= max works: raise max first, then min
    await k.write(p(0, "scaling_max_freq"), "2000000");
    await k.write(p(0, "scaling_min_freq"), "2000000");
    expect([read(0, "scaling_min_freq"), read(0, "scaling_max_freq"), read(0, "scaling_cur_freq")]).toEqual([
      "2000000",
      "2000000",
      "2000000",
    ]);
  });

  it("drivers without a table: clamp cur, no resolution; setpolicy governors only", async () => {
    const { k, p, read } = setup(intelPstateActive);
    expect(read(0, "scaling_cur_freq")).toBe("1900000");
    await k.write(p(0, "scaling_max_freq"), "1234567");
    expect(read(0, "scaling_max_freq")).toBe("1234567");
    expect(read(0, "scaling_cur_freq")).toBe("1234567");
    expect((await rejection(k.write(p(0, "scaling_governor"), "userspace"))).code).toBe("EINVAL");
    expect((await rejection(k.write(p(0, "scaling_setspeed"), "1000000"))).code).toBe("EINVAL");
    await k.write(p(0, "scaling_governor"), "performance");
    expect(read(0, "scaling_cur_freq")).toBe("1234567");
    expect(read(0, "energy_performance_preference")).toBe("performance");
    expect((await rejection(k.write(p(0, "energy_performance_preference"), "power"))).code).toBe("EBUSY");
    await k.write(p(0, "scaling_governor"), "powersave");
    expect(read(0, "energy_performance_preference")).toBe("balance_performance");
    expect((await rejection(k.write(p(0, "energy_performance_preference"), "eco"))).code).toBe("EINVAL");
    await k.write(p(0, "energy_performance_preference"), "power");
    expect(read(0, "energy_performance_preference")).toBe("power");
  });

  it("writes through cpuN/cpufreq symlinks apply to the policy (offline CPU of a Jetson cluster too)", async () => {
    const { t, k, read } = setup(jetsonOrin);
    await k.write(t.path(`${CPU}/cpu11/cpufreq/scaling_governor`), "userspace");
    await k.write(t.path(`${CPU}/cpu9/cpufreq/scaling_setspeed`), "1000000");
    expect(read(8, "scaling_cur_freq")).toBe("1036800");
    expect(t.read(`${CPU}/cpu10/cpufreq/scaling_setspeed`)).toBe("1036800");
  });

  it("failWrites injects kernel errnos; the write log keeps order and outcome", async () => {
    const { t, k, p, read } = setup(acpiCpufreqUserspace, {
      failWrites: { "policy0/scaling_setspeed": "EBUSY", "policy1/scaling_governor": "EROFS" },
    });
    await k.write(p(0, "scaling_governor"), "userspace");
    const e = await rejection(k.write(p(0, "scaling_setspeed"), "1200000"));
    expect(e).toMatchObject({ code: "EBUSY", errno: 16, syscall: "write", path: p(0, "scaling_setspeed") });
    expect(e).toBeInstanceOf(Error);
    expect(read(0, "scaling_cur_freq")).toBe("1400000");
    // suffix matched on the real path too (written through the cpu1 symlink)
    expect(() => k.writeSync(t.path(`${CPU}/cpu1/cpufreq/scaling_governor`), "performance")).toThrow(
      expect.objectContaining({ code: "EROFS", syscall: "open" }),
    );
    delete k.failWrites["policy0/scaling_setspeed"];
    k.writeSync(p(0, "scaling_setspeed"), "1200000");
    expect(read(0, "scaling_cur_freq")).toBe("1200000");
    expect(k.writes.map((w) => [w.path, w.text, w.error])).toEqual([
      [p(0, "scaling_governor"), "userspace", undefined],
      [p(0, "scaling_setspeed"), "1200000", "EBUSY"],
      [t.path(`${CPU}/cpu1/cpufreq/scaling_governor`), "performance", "EROFS"],
      [p(0, "scaling_setspeed"), "1200000", undefined],
    ]);
    expect(k.writeLog(t.root)[1]).toBe(`${POL}/policy0/scaling_setspeed=1200000 !EBUSY`);
  });

  it("failReads injects read errors", async () => {
    const { t, k } = setup(raplTwoSockets, { failReads: { "intel-rapl:0/energy_uj": "EIO" } });
    const a = t.path("sys/class/powercap/intel-rapl:0/energy_uj");
    const b = t.path("sys/class/powercap/intel-rapl:1/energy_uj");
    const [ra, rb] = await k.readMany([a, b]);
    expect(ra).toEqual({ ok: false, errno: 5, code: "EIO", syscall: "read" });
    expect(rb).toEqual({ ok: true, text: "171234567890\n" });
    expect(() => k.readSync(a)).toThrow(expect.objectContaining({ code: "EIO", errno: 5 }));
  });

  it("side effects are applied before write() returns", () => {
    const { k, p, read } = setup();
    const pending = k.write(p(3, "scaling_governor"), "performance");
    expect(read(3, "scaling_cur_freq")).toBe("2200000");
    return pending;
  });

  it("read-only attributes, missing files, directories; other files are replaced", async () => {
    const { t, k, p } = setup(acpiCpufreqUserspace);
    expect(await rejection(k.write(p(0, "cpuinfo_max_freq"), "1"))).toMatchObject({ code: "EACCES", errno: 13, syscall: "open" });
    expect(await rejection(k.write(p(0, "no_such_attr"), "1"))).toMatchObject({ code: "ENOENT", syscall: "open" });
    expect(await rejection(k.write(t.path(`${POL}/policy0/stats`), "1"))).toMatchObject({ code: "EISDIR" });
    raplTwoSockets(t);
    const lim = t.path("sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw");
    await k.write(lim, "95000000");
    expect(t.read("sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw")).toBe("95000000");
    await k.write(lim, "9");
    expect(readFileSync(lim, "utf8")).toBe("9\n");
  });

  it("devfreq: governor from available_governors only; userspace adds userspace/set_freq ('undefined' until asked) and removes it when left", async () => {
    const t = tree();
    devfreqMali(t);
    const k = new FakeKernel(fsSysIO());
    const d = "sys/class/devfreq/fb000000.gpu";
    expect(await rejection(k.write(t.path(`${d}/governor`), "nvhost_podgov"))).toMatchObject({ code: "EINVAL" });
    expect(await rejection(k.write(t.path(`${d}/userspace/set_freq`), "500000000"))).toMatchObject({ code: "ENOENT" });
    await k.write(t.path(`${d}/governor`), "userspace");
    expect(t.read(`${d}/userspace/set_freq`)).toBe("undefined");
    expect(t.read(`${d}/cur_freq`)).toBe("300000000");
    await k.write(t.path(`${d}/userspace/set_freq`), "450000000");
    expect(t.read(`${d}/userspace/set_freq`)).toBe("450000000"); // shows the request ...
    expect(t.read(`${d}/cur_freq`)).toBe("500000000"); // ... the OPP is the lowest >= it
    expect(await rejection(k.write(t.path(`${d}/userspace/set_freq`), "fast"))).toMatchObject({ code: "EINVAL" });
    await k.write(t.path(`${d}/max_freq`), "400000000");
    expect(t.read(`${d}/cur_freq`)).toBe("400000000"); // re-targeted into the new limits
    await k.write(t.path(`${d}/governor`), "performance");
    expect(t.exists(`${d}/userspace`)).toBe(false);
    expect(t.read(`${d}/cur_freq`)).toBe("400000000");
    await k.write(t.path(`${d}/max_freq`), "0"); // 0 = no limit
    expect([t.read(`${d}/max_freq`), t.read(`${d}/cur_freq`)]).toEqual(["1000000000", "1000000000"]);
  });

  it("devfreq: min_freq/max_freq clamp to the table's range and refuse min > max (stricter than PM-QoS kernels)", async () => {
    const t = tree();
    devfreqJetsonGpu(t);
    const k = new FakeKernel(fsSysIO());
    const d = "sys/class/devfreq/17000000.ga10b";
    await k.write(t.path(`${d}/min_freq`), "1");
    expect(t.read(`${d}/min_freq`)).toBe("306000000");
    await k.write(t.path(`${d}/max_freq`), "612000000");
    expect(await rejection(k.write(t.path(`${d}/min_freq`), "714000000"))).toMatchObject({ code: "EINVAL" });
    expect(t.read(`${d}/min_freq`)).toBe("306000000");
    expect(await rejection(k.write(t.path(`${d}/max_freq`), "junk"))).toMatchObject({ code: "EINVAL" });
  });

  it("i915: 50/3 MHz rounding, EINVAL outside RPn..RP0 and across the other limit, cur clamped", async () => {
    const t = tree();
    i915Gpu(t);
    const k = new FakeKernel(fsSysIO());
    const c = "sys/class/drm/card0";
    await k.write(t.path(`${c}/gt_max_freq_mhz`), "340");
    expect(t.read(`${c}/gt_max_freq_mhz`)).toBe("333");
    expect(t.read(`${c}/gt_cur_freq_mhz`)).toBe("300");
    await k.write(t.path(`${c}/gt_min_freq_mhz`), "333");
    expect(t.read(`${c}/gt_cur_freq_mhz`)).toBe("333");
    for (const [f, v] of [["gt_max_freq_mhz", "800"], ["gt_min_freq_mhz", "50"], ["gt_min_freq_mhz", "500"], ["gt_max_freq_mhz", "200"], ["gt_boost_freq_mhz", "900"], ["gt_max_freq_mhz", "7x"]]) {
      expect(await rejection(k.write(t.path(`${c}/${f}`), v as string))).toMatchObject({ code: "EINVAL" });
    }
    expect(await rejection(k.write(t.path(`${c}/gt_RP0_freq_mhz`), "900"))).toMatchObject({ code: "EACCES" });
  });

  it("nativeError builds the addon's error shape", () => {
    const e = nativeError("EACCES", "open", "/x");
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ errno: 13, code: "EACCES", syscall: "open", path: "/x" });
  });
});
