import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Cpufreq } from "../../src/hw/cpufreq.js";
import { Gpufreq, gpuFreqSwitchCostMs } from "../../src/hw/gpufreq.js";
import { binding } from "../../src/native/binding.js";
import { boards, devfreqJetsonGpu, devfreqMali, gpufreqBoards, i915Gpu, ORIN_GPU_TABLE, raspberryPi4 } from "../fixtures/boards.js";
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

const ORIN = "sys/devices/17000000.ga10b/devfreq/17000000.ga10b";
const MALI = "sys/devices/platform/fb000000.gpu/devfreq/fb000000.gpu";
const CARD = "sys/devices/pci0000:00/0000:00:02.0/drm/card0";

/** A Gpufreq over `t` whose writes go through the fake kernel on top of the real native I/O. */
function setup(build: (t: FakeTree) => void, failWrites?: Record<string, string>) {
  const t = tree(build);
  const kernel = new FakeKernel(new (binding().Sysfs)(), failWrites === undefined ? {} : { failWrites });
  const stateDir = mkdtempSync(join(tmpdir(), "sw-state-"));
  const gf = new Gpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, io: kernel, stateDir, restoreOnExit: false });
  return { t, kernel, gf, stateDir };
}

describe("GPU frequency domains on every GPU tree", () => {
  it.each(gpufreqBoards)("%s: GPUs only, limits inside the hardware range, tables ascending", async (name) => {
    const { gf } = setup((tt) => boards[name](tt));
    const ds = await gf.devices();
    expect(ds.length).toBe(1);
    for (const d of ds) {
      expect(d.minKHz).toBeLessThanOrEqual(d.limitMinKHz);
      expect(d.limitMinKHz).toBeLessThanOrEqual(d.limitMaxKHz);
      expect(d.limitMaxKHz).toBeLessThanOrEqual(d.maxKHz);
      if (d.availableKHz !== null) expect([...d.availableKHz].sort((a, b) => a - b)).toEqual(d.availableKHz);
      if (d.governor !== null) expect(d.governors).toContain(d.governor);
    }
    expect(gf.warnings).toEqual([]);
  });

  it("Jetson: devfreq 17000000.ga10b in kHz, driver gk20a, nvhost_podgov with userspace offered", async () => {
    const { gf } = setup(devfreqJetsonGpu);
    const [d] = await gf.devices();
    expect(d).toMatchObject({ id: "devfreq:17000000.ga10b", kind: "devfreq", driver: "gk20a", governor: "nvhost_podgov", userspace: true, minKHz: 306_000, maxKHz: 1_300_500, curKHz: 306_000 });
    expect(d?.availableKHz).toEqual(ORIN_GPU_TABLE.map((hz) => hz / 1000));
  });

  it("Mali: the GPU is listed, the memory controller's devfreq device (dmc) is not", async () => {
    const { gf, t } = setup(devfreqMali);
    expect(t.exists("sys/class/devfreq/dmc")).toBe(true);
    expect((await gf.devices()).map((d) => d.id)).toEqual(["devfreq:fb000000.gpu"]);
  });

  it("i915: card0 only (not the connector or the render node), RPn..RP0 as the range, no governor", async () => {
    const { gf } = setup(i915Gpu);
    const ds = await gf.devices();
    expect(ds.map((d) => d.id)).toEqual(["i915:card0"]);
    expect(ds[0]).toMatchObject({ kind: "i915", driver: "i915", governor: null, availableKHz: null, minKHz: 100_000, maxKHz: 750_000, boostKHz: 750_000, curKHz: 300_000 });
  });

  it("a malformed limit skips that GPU with a warning, never a crash", async () => {
    const { gf, t } = setup((tt) => {
      devfreqMali(tt);
      i915Gpu(tt);
    });
    t.file(`${MALI}/max_freq`, "fast");
    expect((await gf.devices()).map((d) => d.id)).toEqual(["i915:card0"]);
    expect(gf.warnings.join("\n")).toMatch(/devfreq:fb000000.gpu: skipped.*max_freq/);
  });
});

describe("setting the GPU frequency, verified through the fake kernel", () => {
  it("devfreq with userspace: governor userspace + userspace/set_freq, cur_freq checked; restore puts the governor and limits back", async () => {
    const { gf, t, kernel } = setup(devfreqJetsonGpu);
    const r = await gf.setFrequency("17000000.ga10b", 612_000);
    expect(r).toEqual({ device: "devfreq:17000000.ga10b", requestedKHz: 612_000, appliedKHz: 612_000, method: "userspace-set_freq", curKHz: 612_000, setMs: expect.any(Number) });
    // the measured set time is the GPU clock's switch cost
    expect(r.setMs).toBeGreaterThan(0);
    expect(gpuFreqSwitchCostMs([r, { setMs: 1.5 }])).toBeCloseTo(r.setMs + 1.5, 12);
    expect(t.read(`${ORIN}/governor`)).toBe("userspace");
    expect(t.read(`${ORIN}/cur_freq`)).toBe("612000000");
    expect(kernel.writeLog(t.root)).toEqual([`${ORIN}/governor=userspace`, `${ORIN}/userspace/set_freq=612000000`]);
    expect(gf.restore()).toEqual(["devfreq:17000000.ga10b"]);
    expect(t.read(`${ORIN}/governor`)).toBe("nvhost_podgov");
    expect(t.exists(`${ORIN}/userspace`)).toBe(false);
    expect([t.read(`${ORIN}/min_freq`), t.read(`${ORIN}/max_freq`)]).toEqual(["306000000", "1300500000"]);
  });

  it("devfreq with userspace: a request outside the limits in force opens them first (the governor clamps into them)", async () => {
    const { gf, t } = setup(devfreqMali);
    t.file(`${MALI}/max_freq`, 600000000);
    const r = await gf.setFrequency("fb000000.gpu", 900_000);
    expect(r.appliedKHz).toBe(900_000);
    expect(t.read(`${MALI}/max_freq`)).toBe("1000000000");
    gf.restore();
    expect(t.read(`${MALI}/max_freq`)).toBe("600000000");
    expect(t.read(`${MALI}/governor`)).toBe("simple_ondemand");
  });

  it("devfreq without userspace: pins min_freq = max_freq in the order that keeps min <= max, both directions", async () => {
    const { gf, t, kernel } = setup((tt) => devfreqMali(tt, { governors: ["powersave", "performance", "simple_ondemand"] }));
    const low = await gf.setFrequency("fb000000.gpu", 400_000);
    expect(low).toMatchObject({ method: "minmax-pin", appliedKHz: 400_000, curKHz: 400_000 });
    kernel.writes.length = 0;
    const high = await gf.setFrequency("fb000000.gpu", 800_000);
    expect(high.appliedKHz).toBe(800_000);
    // from 400 MHz up to 800 MHz: max first (the fake kernel rejects min > max)
    expect(kernel.writeLog(t.root)).toEqual([`${MALI}/max_freq=800000000`, `${MALI}/min_freq=800000000`]);
    expect(kernel.writes.every((w) => w.error === undefined)).toBe(true);
    gf.restore();
    expect([t.read(`${MALI}/min_freq`), t.read(`${MALI}/max_freq`)]).toEqual(["300000000", "1000000000"]);
  });

  it("i915: pins gt_min = gt_max within RPn..RP0; a value off the 50/3 MHz grid reads back rounded and is accepted", async () => {
    const { gf, t } = setup(i915Gpu);
    const r = await gf.setFrequency("card0", 340_000);
    // 340 MHz -> opcode round(340*3/50) = 20 -> 20*50/3 = 333 MHz, as the kernel shows it
    expect(r).toMatchObject({ device: "i915:card0", method: "minmax-pin", appliedKHz: 333_000, curKHz: 333_000 });
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["333", "333"]);
    await gf.setFrequency("i915:card0", 700_000);
    expect(t.read(`${CARD}/gt_cur_freq_mhz`)).toBe("700");
    gf.restore();
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["100", "750"]);
  });

  it("a frequency that is not offered, or outside RPn..RP0, is E_REJECTED and nothing is written", async () => {
    const { gf, kernel } = setup((tt) => {
      devfreqMali(tt);
      i915Gpu(tt);
    });
    await expect(gf.setFrequency("fb000000.gpu", 450_000)).rejects.toThrow(/450 MHz is not offered by devfreq:fb000000.gpu; offered MHz: 300, 400, 500/);
    await expect(gf.setFrequency("card0", 900_000)).rejects.toThrow(/900 MHz is outside i915:card0's range 100-750 MHz/);
    expect(kernel.writes).toEqual([]);
  });

  it("an unknown GPU is a usage error listing the GPUs", async () => {
    const { gf } = setup(devfreqMali);
    await expect(gf.setFrequency("card7", 500_000)).rejects.toMatchObject({ code: "E_USAGE", message: expect.stringMatching(/no GPU "card7"; GPUs: devfreq:fb000000.gpu/) });
  });

  it("a GPU that stays slower than requested (a thermal cap) is E_REJECTED naming cur_freq", async () => {
    const t = tree(devfreqJetsonGpu);
    // the hardware: a cooling device caps the clock at 612 MHz whatever userspace asks for
    class ThermalCap extends FakeKernel {
      override writeSync(path: string, text: string): void {
        super.writeSync(path, text);
        if (path.endsWith("userspace/set_freq")) t.file(`${ORIN}/cur_freq`, Math.min(Number(text), 612000000));
      }
    }
    const stateDir = mkdtempSync(join(tmpdir(), "sw-state-"));
    const gf = new Gpufreq({ sysfsRoot: t.sysfsRoot, io: new ThermalCap(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    const err = await gf.setFrequency("17000000.ga10b", 1_224_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "E_REJECTED" });
    expect((err as Error).message).toMatch(/devfreq:17000000.ga10b runs at 612 MHz after requesting 1224 MHz through userspace\/set_freq/);
    expect(await gf.setFrequency("17000000.ga10b", 510_000)).toMatchObject({ appliedKHz: 510_000 });
    gf.restore();
    expect(t.read(`${ORIN}/governor`)).toBe("nvhost_podgov");
  });

  it.each([
    ["EACCES", "E_NOT_PERMITTED", /permission denied.*fb000000.gpu\/governor.*udev/],
    ["EROFS", "E_READ_ONLY", /read-only/],
    ["EBUSY", "E_REJECTED", /rejected/],
  ])("a kernel %s on write becomes %s naming the file", async (errno, code, message) => {
    const { gf } = setup(devfreqMali, { "fb000000.gpu/governor": errno });
    const err = await gf.setFrequency("fb000000.gpu", 500_000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  });
});

describe("one restore state file for CPU and GPU", () => {
  it("CPU and GPU changes of one process share the state file (version 2 with gpus) and are restored together", async () => {
    const t = tree((tt) => {
      raspberryPi4(tt);
      devfreqMali(tt);
    });
    const stateDir = mkdtempSync(join(tmpdir(), "sw-state-"));
    const io = new FakeKernel(new (binding().Sysfs)());
    const cf = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io, stateDir, restoreOnExit: false });
    const gf = new Gpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io, stateDir, restoreOnExit: false, guard: cf.guard });
    await cf.setFrequency("policy0", 600_000);
    await gf.setFrequency("fb000000.gpu", 500_000);
    const files = readdirSync(stateDir);
    expect(files.length).toBe(1);
    const state = JSON.parse(readFileSync(join(stateDir, files[0] as string), "utf8"));
    expect(state.version).toBe(2);
    expect(state.policies.map((p: { id: string }) => p.id)).toEqual(["policy0"]);
    expect(state.gpus).toEqual([
      { id: "devfreq:fb000000.gpu", kind: "devfreq", path: t.path(MALI), governor: "simple_ondemand", limitMin: 300000000, limitMax: 1000000000, setFreq: null },
    ]);
    expect(cf.restore().sort()).toEqual(["devfreq:fb000000.gpu", "policy0"]);
    expect(t.read(`${MALI}/governor`)).toBe("simple_ondemand");
    expect(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_governor")).toBe("ondemand");
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it("CPU-only state stays version 1 (an older splitwatt can still restore it), and a version 1 file is read", async () => {
    const t = tree((tt) => {
      raspberryPi4(tt);
      devfreqMali(tt);
    });
    const stateDir = mkdtempSync(join(tmpdir(), "sw-state-"));
    const io = new FakeKernel(new (binding().Sysfs)());
    const cf = new Cpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io, stateDir, restoreOnExit: false });
    await cf.setFrequency("policy0", 600_000);
    const [file] = readdirSync(stateDir);
    const path = join(stateDir, file as string);
    const state = JSON.parse(readFileSync(path, "utf8"));
    expect(state.version).toBe(1);
    expect(state.gpus).toBeUndefined();
    // the process "died": a new run (GPU side) restores the CPU policy from the version 1 file first
    writeFileSync(path, JSON.stringify({ ...state, pid: 4194305 }));
    const gf = new Gpufreq({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    await gf.setFrequency("fb000000.gpu", 500_000);
    expect(gf.warnings.join()).toMatch(/restored clock settings a previous run left behind: policy0/);
    expect(t.read("sys/devices/system/cpu/cpufreq/policy0/scaling_governor")).toBe("ondemand");
    gf.restore();
  });

  it("a dead run's GPU changes: listed by leftBehind(), restored by recover() (hw restore), state file removed", async () => {
    const { gf, t, stateDir } = setup((tt) => {
      devfreqJetsonGpu(tt);
      i915Gpu(tt);
    });
    await gf.setFrequency("17000000.ga10b", 1_020_000);
    await gf.setFrequency("card0", 500_000);
    const [file] = readdirSync(stateDir);
    const path = join(stateDir, file as string);
    // pretend the process that wrote it was killed (pid 2^22 + 1 is above pid_max's ceiling)
    writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, "utf8")), pid: 4194305 }));
    const next = new Gpufreq({ sysfsRoot: t.sysfsRoot, io: new FakeKernel(new (binding().Sysfs)()), stateDir, restoreOnExit: false });
    expect(next.leftBehind()).toEqual(["devfreq:17000000.ga10b", "i915:card0"]);
    expect(next.recover()).toEqual(["devfreq:17000000.ga10b", "i915:card0"]);
    expect(t.read(`${ORIN}/governor`)).toBe("nvhost_podgov");
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["100", "750"]);
    expect(existsSync(path)).toBe(false);
  });

  it("an original userspace governor gets its own request back", async () => {
    const { gf, t } = setup((tt) => devfreqMali(tt, { governor: "userspace" }));
    // the user had asked for 700 MHz through the userspace governor before splitwatt ran
    const kernel = new FakeKernel(new (binding().Sysfs)());
    await kernel.write(t.path(`${MALI}/userspace/set_freq`), "700000000");
    await gf.setFrequency("fb000000.gpu", 300_000);
    expect(t.read(`${MALI}/cur_freq`)).toBe("300000000");
    gf.restore();
    expect(t.read(`${MALI}/userspace/set_freq`)).toBe("700000000");
    expect(t.read(`${MALI}/cur_freq`)).toBe("700000000");
  });

  it("a GPU whose restore fails does not stop the others; the state file is kept", async () => {
    const { gf, t, stateDir, kernel } = setup((tt) => {
      devfreqMali(tt);
      i915Gpu(tt);
    });
    await gf.setFrequency("fb000000.gpu", 500_000);
    await gf.setFrequency("card0", 500_000);
    kernel.failWrites["fb000000.gpu/governor"] = "EIO";
    expect(() => gf.restore()).toThrow(/GPU clock restore incomplete: devfreq:fb000000.gpu.*the state is kept in /);
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["100", "750"]);
    expect(readdirSync(stateDir).length).toBe(1);
  });
});
