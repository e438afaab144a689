import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { boardProfile, listBoardProfiles, type BoardProfile } from "../../src/hw/boardProfile.js";
import { estimatePowerW, frequencyFactor } from "../../src/hw/powerModel.js";

const pi4 = (): BoardProfile => boardProfile("raspberry-pi-4");

const table: BoardProfile = {
  name: "table-board",
  cpu: { cores: 4, frequenciesMHz: [600, 1000, 1500], maxMHz: 1500 },
  power: {
    idleW: 2,
    maxW: 6,
    measured: false,
    source: "made up for a test",
    model: {
      kind: "util-freq-table",
      fullLoadW: [
        { freqMHz: 600, watts: 3 },
        { freqMHz: 1000, watts: 4 },
        { freqMHz: 1500, watts: 6 },
      ],
      measured: false,
      source: "made up for a test",
    },
  },
};

describe("estimatePowerW", () => {
  it("is idleW at util 0 and maxW at util 1 and the maximum frequency, for every shipped profile", () => {
    expect(listBoardProfiles().length).toBeGreaterThanOrEqual(2);
    for (const name of listBoardProfiles()) {
      const p = boardProfile(name);
      const fmax = p.cpu?.maxMHz ?? null;
      expect(estimatePowerW(p, 0, fmax)).toBeCloseTo(p.power.idleW, 12);
      expect(estimatePowerW(p, 1, fmax)).toBeCloseTo(p.power.maxW, 12);
      for (const f of p.cpu?.frequenciesMHz ?? []) expect(estimatePowerW(p, 0, f), `${name} at ${f} MHz, idle`).toBeCloseTo(p.power.idleW, 12);
    }
  });

  it("null frequency keeps the frequency-blind linear model (the old estimate)", () => {
    const p = pi4();
    for (const u of [0, 0.25, 0.5, 1]) expect(estimatePowerW(p, u, null)).toBeCloseTo(p.power.idleW + (p.power.maxW - p.power.idleW) * u, 12);
  });

  it("is monotone in utilisation and in frequency (power law and table)", () => {
    for (const p of [pi4(), boardProfile("raspberry-pi-5"), boardProfile("jetson-orin-nano"), table]) {
      const fmin = p.cpu?.frequenciesMHz[0] ?? 100;
      const fmax = p.cpu?.maxMHz ?? 1000;
      fc.assert(
        fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: fmin / 2, max: fmax * 1.2, noNaN: true }), fc.double({ min: fmin / 2, max: fmax * 1.2, noNaN: true }), (u1, u2, f1, f2) => {
          const [ul, uh] = u1 <= u2 ? [u1, u2] : [u2, u1];
          const [fl, fh] = f1 <= f2 ? [f1, f2] : [f2, f1];
          const eps = 1e-12;
          return (
            estimatePowerW(p, ul, fh) <= estimatePowerW(p, uh, fh) + eps &&
            estimatePowerW(p, uh, fl) <= estimatePowerW(p, uh, fh) + eps &&
            estimatePowerW(p, uh, fh) <= p.power.maxW + eps &&
            estimatePowerW(p, ul, fl) >= p.power.idleW - eps
          );
        }),
        { numRuns: 300 },
      );
    }
  });

  it("power law: g(f) = (f/fmax)^alpha, clamped at fmax", () => {
    const p = pi4();
    if (p.power.model?.kind !== "linear-util-freq") throw new Error("raspberry-pi-4 should use the power-law model");
    const alpha = p.power.model.alpha;
    expect(frequencyFactor(p, 750)).toBeCloseTo((750 / 1500) ** alpha, 12);
    expect(estimatePowerW(p, 1, 750)).toBeCloseTo(p.power.idleW + (p.power.maxW - p.power.idleW) * 0.5 ** alpha, 12);
    expect(frequencyFactor(p, 1800)).toBe(1);
  });

  it("table: interpolates full-load watts and holds them outside the table", () => {
    expect(estimatePowerW(table, 1, 600)).toBeCloseTo(3, 12);
    expect(estimatePowerW(table, 1, 800)).toBeCloseTo(3.5, 12);
    expect(estimatePowerW(table, 1, 1250)).toBeCloseTo(5, 12);
    expect(estimatePowerW(table, 1, 300)).toBeCloseTo(3, 12);
    expect(estimatePowerW(table, 0.5, 1000)).toBeCloseTo(2 + 0.5 * (4 - 2), 12);
  });

  it("profiles without a cpu block use opts.maxMHz, else stay frequency-blind", () => {
    const g = boardProfile("generic-x86");
    expect(g.cpu).toBeUndefined();
    expect(estimatePowerW(g, 1, 1000)).toBe(g.power.maxW);
    expect(estimatePowerW(g, 1, 2000, { maxMHz: 4000 })).toBeLessThan(g.power.maxW);
    expect(estimatePowerW(g, 1, 4000, { maxMHz: 4000 })).toBeCloseTo(g.power.maxW, 12);
  });

  it("clamps utilisation to 0..1 and rejects non-numbers with one-line usage errors", () => {
    const p = pi4();
    expect(estimatePowerW(p, 1.5, null)).toBe(p.power.maxW);
    expect(estimatePowerW(p, -1, null)).toBe(p.power.idleW);
    expect(() => estimatePowerW(p, Number.NaN, null)).toThrow(/utilisation must be a number/);
    expect(() => estimatePowerW(p, 0.5, 0)).toThrow(/positive number of MHz/);
    expect(() => estimatePowerW(p, 0.5, Number.NaN)).toThrow(/^[^\n]+$/);
  });
});
