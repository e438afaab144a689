import { chmodSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { energySources } from "../../src/hw/energySources.js";
import {
  bareMachine,
  hwmonEnergyCounter,
  hwmonIna219,
  hwmonIna3221,
  jetsonOrin,
  msrAmd,
  msrIntel,
  perfPowerPmu,
  raplTwoSockets,
  raspberryPi4,
} from "../fixtures/boards.js";
import { buildFakeNvml } from "../fixtures/fakeNvml.js";
import { FakeTree } from "../fixtures/fakeTree.js";
import { repoPath, runUnprivileged, UNPRIVILEGED_UID } from "../fixtures/unprivileged.js";

const trees: FakeTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});
function discover(build: (t: FakeTree) => void, nvmlLib = "/nonexistent/libnvidia-ml.so.1") {
  const t = FakeTree.create();
  trees.push(t);
  build(t);
  return { t, found: energySources({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, nvmlLib }) };
}

describe("energy source discovery on fake trees", () => {
  it("RAPL with two sockets: packages and dram summed, psys kept apart, MMIO duplicate dropped", async () => {
    const { found } = discover((t) => {
      bareMachine(t);
      raplTwoSockets(t);
    });
    const d = await found;
    const ids = d.sources.map((s) => s.id);
    expect(ids).toEqual(expect.arrayContaining(["rapl:package-0", "rapl:package-0/core", "rapl:package-0/dram", "rapl:package-1", "rapl:package-1/dram", "rapl:psys"]));
    expect(ids.some((id) => id.startsWith("rapl-mmio"))).toBe(false);
    expect(d.device.map((s) => s.id).sort()).toEqual(["rapl:package-0", "rapl:package-0/dram", "rapl:package-1", "rapl:package-1/dram"]);
    expect(d.sources.find((s) => s.id === "rapl:package-1/dram")?.socket).toBe(1);
    expect(d.estimated).toBe(false);
    const spec = d.sources.find((s) => s.id === "rapl:package-0")?.spec;
    expect(spec).toMatchObject({ kind: "counter-file", scaleToNJ: 1000, maxRange: 262143328850n });
    expect(d.probes.find((p) => p.kind === "rapl")).toMatchObject({ available: true, reason: expect.stringMatching(/1 intel-rapl-mmio duplicate\(s\) dropped/) });
  });

  it("a malformed energy_uj is a warning and that zone is left out", async () => {
    const { found } = discover((t) => {
      bareMachine(t);
      raplTwoSockets(t);
      t.file("sys/devices/virtual/powercap/intel-rapl/intel-rapl:1/energy_uj", "n/a");
    });
    const d = await found;
    expect(d.sources.map((s) => s.id)).not.toContain("rapl:package-1");
    expect(d.warnings.join("\n")).toMatch(/intel-rapl:1 ignored/);
  });

  // RAPL through perf with the PMU description pointing at the software PMU (type 1; event 0x02 is
  // then PERF_COUNT_SW_PAGE_FAULTS): root opens it for real, anyone else is refused by the kernel at
  // perf_event_paranoid 2. The root branch runs in this process (skipped, saying so, when it is not
  // root); the refused branch in an unprivileged child on the same fake tree.
  const perfTree = (t: FakeTree): void => {
    bareMachine(t, { paranoid: 2 });
    perfPowerPmu(t, { type: 1, events: ["energy-pkg"] });
  };
  const isRoot = process.getuid?.() === 0;

  it.skipIf(!isRoot)(`RAPL through perf as root: a software PMU opens for real and becomes the device source${isRoot ? "" : " [SKIPPED: this process is not root; the unprivileged branch is the next test]"}`, async () => {
    const ok = await discover(perfTree).found;
    expect(ok.probes.find((p) => p.kind === "perf")).toMatchObject({ available: true });
    expect(ok.device.map((s) => s.id)).toEqual(["perf:package-0"]);
    expect(ok.sources[0]?.spec).toMatchObject({ kind: "counter-perf", type: 1, config: 2, cpu: 0 });
  });

  it(`RAPL through perf without root: not permitted, naming perf_event_paranoid = 2 (child process, uid ${UNPRIVILEGED_UID})`, () => {
    const t = FakeTree.create();
    trees.push(t);
    perfTree(t);
    chmodSync(t.root, 0o755); // mkdtemp makes it 0700: let the child in
    const found = runUnprivileged<{ perf: { available: boolean; reason?: string } | undefined; device: string[] }>(`
      const { energySources } = await import(${JSON.stringify(repoPath("dist/hw/energySources.js"))});
      const d = await energySources({ sysfsRoot: ${JSON.stringify(t.sysfsRoot)}, procRoot: ${JSON.stringify(t.procRoot)}, devRoot: ${JSON.stringify(t.devRoot)}, nvmlLib: "/nonexistent/libnvidia-ml.so.1" });
      console.log(JSON.stringify({ perf: d.probes.find((p) => p.kind === "perf"), device: d.device.map((s) => s.id) }));
    `);
    expect(found.perf).toMatchObject({ available: false, reason: expect.stringMatching(/not permitted.*perf_event_paranoid = 2/) });
    expect(found.device).not.toContain("perf:package-0");
  });

  it("RAPL through perf: an unknown PMU type is reported unusable", async () => {
    const bad = await discover((t) => {
      bareMachine(t);
      perfPowerPmu(t, { type: 9999 });
    }).found;
    expect(bad.probes.find((p) => p.kind === "perf")).toMatchObject({ available: false, reason: expect.stringMatching(/perf_event_open\(type 9999/) });
  });

  it("Intel MSRs: package (and core) per socket, unit from 0x606", async () => {
    const d = await discover((t) => {
      bareMachine(t);
      msrIntel(t);
    }).found;
    const pkg = d.sources.find((s) => s.id === "msr:package-0");
    // ESU 0x0E -> 2^-14 J = 61035.15625 nJ per count
    expect(pkg?.spec).toMatchObject({ kind: "counter-msr", register: 0x611, scaleToNJ: 61035.15625, maxRange: 1n << 32n });
    expect(d.device.map((s) => s.id)).toEqual(["msr:package-0"]);
  });

  it("AMD MSRs: 0xC001029B with the 0xC0010299 unit", async () => {
    const d = await discover((t) => {
      bareMachine(t);
      msrAmd(t);
    }).found;
    expect(d.sources.find((s) => s.id === "msr:package-0")?.spec).toMatchObject({ register: 0xc001029b, scaleToNJ: 1e9 / 2 ** 16 });
  });

  it("powercap wins over perf and MSR for the device total (no counter counted twice)", async () => {
    const d = await discover((t) => {
      bareMachine(t);
      raplTwoSockets(t);
      msrIntel(t);
    }).found;
    expect(d.device.every((s) => s.kind === "rapl")).toBe(true);
    expect(d.sources.some((s) => s.kind === "msr")).toBe(true);
  });

  it("Jetson JetPack 5 INA3221: rails as V x I power sources", async () => {
    const d = await discover((t) => jetsonOrin(t, { jetpack: 5 })).found;
    const rails = d.sources.filter((s) => s.kind === "ina3221").map((s) => s.domain);
    expect(rails).toEqual(["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]);
    expect(d.sources[0]?.spec).toMatchObject({ kind: "power-vi", scaleToUW: 1 });
    // no VDD_IN rail on AGX Orin: the rails add up to the module's power
    expect(d.device.length).toBe(4);
  });

  it("Jetson JetPack 4 IIO: in_powerN_input in mW", async () => {
    const d = await discover((t) => {
      bareMachine(t);
      hwmonIna3221(t, { jetpack: 4 });
    }).found;
    const gpu = d.sources.find((s) => s.id === "ina3221:GPU");
    expect(gpu?.spec).toMatchObject({ kind: "power-file", scaleToUW: 1000 });
    expect(d.sources.filter((s) => s.kind === "ina3221").length).toBe(6);
  });

  it("INA219 hwmon power and amd_energy counters (socket counter preferred over cores)", async () => {
    const pi = await discover((t) => {
      raspberryPi4(t);
      hwmonIna219(t);
    }).found;
    expect(pi.device.map((s) => s.id)).toEqual(["hwmon:ina219/power1"]);
    const amd = await discover((t) => {
      bareMachine(t);
      hwmonEnergyCounter(t);
    }).found;
    expect(amd.device.map((s) => s.id)).toEqual(["hwmon:amd_energy/Esocket0"]);
  });

  it("no counters at all (this machine's layout): the estimate source, labelled", async () => {
    const d = await discover(bareMachine).found;
    expect(d.estimated).toBe(true);
    expect(d.device.map((s) => s.id)).toEqual(["estimate"]);
    expect(d.probes.find((p) => p.kind === "estimate")?.reason).toMatch(/estimate, not a measurement/);
    for (const kind of ["rapl", "perf", "msr", "hwmon", "ina3221", "nvml"]) {
      expect(d.probes.find((p) => p.kind === kind)?.available).toBe(false);
    }
    expect(d.probes.find((p) => p.kind === "nvml")).toMatchObject({ reason: expect.stringMatching(/not found/), fix: expect.stringMatching(/NVIDIA driver/) });
  });

  it("NVIDIA GPUs through a (fake, compiled at test time) libnvidia-ml: energy counter where supported, else power", async () => {
    const t = FakeTree.create();
    trees.push(t);
    bareMachine(t);
    raplTwoSockets(t);
    const lib = buildFakeNvml(t.root);
    const d = await energySources({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot, devRoot: t.devRoot, nvmlLib: lib });
    const gpus = d.sources.filter((s) => s.kind === "nvml");
    expect(gpus.map((g) => [g.id, g.measures])).toEqual([
      ["nvml:0", "energy"],
      ["nvml:1", "power"],
    ]);
    expect(gpus[0]?.spec).toMatchObject({ kind: "counter-nvml", scaleToNJ: 1e6 });
    expect(gpus[1]?.spec).toMatchObject({ kind: "power-nvml", scaleToUW: 1000 });
    // GPUs add to the RAPL packages, never replace them
    expect(d.device.map((s) => s.id)).toEqual(expect.arrayContaining(["rapl:package-0", "nvml:0", "nvml:1"]));
    expect(d.probes.find((p) => p.kind === "nvml")).toMatchObject({ available: true, reason: "2 GPU(s)" });
  });
});
