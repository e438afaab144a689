import fc from "fast-check";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boardProfile, listBoardProfiles, type BoardProfile } from "../../src/hw/boardProfile.js";
import { gpuEnergyPart } from "../../src/hw/gpuEnergy.js";
import { gpuActivePowerW } from "../../src/hw/powerModel.js";

const board = (gpu: BoardProfile["gpu"]): BoardProfile => ({ name: "b", power: { idleW: 2, maxW: 6, measured: false, source: "made up for a test" }, ...(gpu === undefined ? {} : { gpu }) });

describe("the GPU-active term of the board power model", () => {
  it("every shipped profile has one, naming its GPU, its source, and whether it was measured", () => {
    for (const name of listBoardProfiles()) {
      const g = boardProfile(name).gpu;
      expect(g, name).toBeDefined();
      expect(g?.name.length).toBeGreaterThan(3);
      expect(g?.source.length).toBeGreaterThan(40);
      expect(typeof g?.measured).toBe("boolean");
      // none was measured: each says it is an assumption and how to replace it
      if (g?.measured === false) expect(g.source).toMatch(/^assumption \(not measured\).*Replace it with your own reading/);
    }
    // the stated rule, (maxW - idleW) / 2, holds for each shipped figure
    for (const name of listBoardProfiles()) {
      const p = boardProfile(name);
      expect(p.gpu?.activeW).toBeCloseTo((p.power.maxW - p.power.idleW) / 2, 9);
    }
    expect(boardProfile("jetson-orin-nano").gpu).toMatchObject({ maxMHz: 625, alpha: 2 });
  });

  it("a malformed gpu block is refused with the field named", () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-board-"));
    writeFileSync(join(dir, "neg.json"), JSON.stringify({ ...board(undefined), gpu: { name: "x", activeW: -1, measured: false, source: "made up" } }));
    expect(() => boardProfile(join(dir, "neg.json"))).toThrow(/gpu.activeW/);
    writeFileSync(join(dir, "nosrc.json"), JSON.stringify({ ...board(undefined), gpu: { name: "x", activeW: 1, measured: true } }));
    expect(() => boardProfile(join(dir, "nosrc.json"))).toThrow(/gpu.source/);
  });

  it("is null without a gpu block (unknown, not zero)", () => {
    expect(gpuActivePowerW(board(undefined), 1, null)).toBeNull();
  });

  it("activeW x busy share x (f / maxMHz)^alpha; frequency-blind without maxMHz; clamped above maxMHz", () => {
    const p = board({ name: "g", activeW: 4, maxMHz: 800, alpha: 2, measured: false, source: "made up for a test" });
    expect(gpuActivePowerW(p, 1, 800)).toBe(4);
    expect(gpuActivePowerW(p, 0.5, null)).toBe(2);
    expect(gpuActivePowerW(p, 1, 400)).toBe(1);
    expect(gpuActivePowerW(p, 1, 1600)).toBe(4);
    expect(gpuActivePowerW(p, 2, 800)).toBe(4);
    expect(gpuActivePowerW(board({ name: "g", activeW: 4, measured: false, source: "made up" }), 1, 100)).toBe(4);
    expect(gpuActivePowerW(board({ name: "g", activeW: 4, maxMHz: 800, measured: false, source: "made up" }), 1, 400)).toBe(2); // alpha defaults to 1
    expect(() => gpuActivePowerW(p, Number.NaN, null)).toThrow(/GPU utilisation/);
    expect(() => gpuActivePowerW(p, 1, 0)).toThrow(/GPU frequency must be a positive number/);
  });

  it("property: within [0, activeW], rising with the busy share and with the clock", () => {
    const p = boardProfile("jetson-orin-nano");
    const active = p.gpu?.activeW as number;
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 1, max: 2000, noNaN: true }), fc.double({ min: 1, max: 2000, noNaN: true }), (u1, u2, f1, f2) => {
        const [ua, ub] = u1 <= u2 ? [u1, u2] : [u2, u1];
        const [fa, fb] = f1 <= f2 ? [f1, f2] : [f2, f1];
        const w = gpuActivePowerW(p, ua, fa) as number;
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThanOrEqual(active);
        expect(gpuActivePowerW(p, ub, fa) as number).toBeGreaterThanOrEqual(w);
        expect(gpuActivePowerW(p, ua, fb) as number).toBeGreaterThanOrEqual(w);
      }),
    );
  });
});

describe("GPU energy sources are labelled", () => {
  it.each([
    [{ id: "nvml:0", kind: "nvml", domain: "gpu" }, "NVIDIA GPU (whole board)"],
    [{ id: "ina3221:VDD_GPU_SOC", kind: "ina3221", domain: "VDD_GPU_SOC" }, "GPU + SoC rail"],
    [{ id: "ina3221:VDD_CPU_GPU_CV", kind: "ina3221", domain: "VDD_CPU_GPU_CV" }, "CPU + GPU + CV rail (shared: not the GPU alone)"],
    [{ id: "ina3221:GPU", kind: "ina3221", domain: "GPU" }, "GPU rail"],
    [{ id: "rapl:package-0/uncore", kind: "rapl", domain: "uncore" }, "integrated GPU (RAPL uncore / PP1)"],
    [{ id: "perf:gpu-0", kind: "perf", domain: "gpu" }, "integrated GPU (RAPL PP1)"],
    [{ id: "hwmon:amdgpu/PPT", kind: "hwmon", domain: "PPT" }, "AMD GPU (amdgpu)"],
  ] as const)("%j -> %s", (s, label) => {
    expect(gpuEnergyPart(s)).toBe(label);
  });

  it.each([
    { id: "rapl:package-0", kind: "rapl", domain: "package" },
    { id: "rapl:package-0/core", kind: "rapl", domain: "core" },
    { id: "ina3221:VDD_IN", kind: "ina3221", domain: "VDD_IN" },
    { id: "ina3221:VDD_CPU_CV", kind: "ina3221", domain: "VDD_CPU_CV" },
    { id: "hwmon:ina219/power1", kind: "hwmon", domain: "power1" },
    { id: "estimate", kind: "estimate", domain: "cpu" },
  ] as const)("%j is no GPU source", (s) => {
    expect(gpuEnergyPart(s)).toBeNull();
  });
});
