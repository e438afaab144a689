import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RejectedError, UsageError } from "../../src/errors.js";
import { snapFrequency } from "../../src/hw/cpufreq.js";
import { minMaxWritePlan } from "../../src/hw/minMaxWritePlan.js";

describe("minMaxWritePlan", () => {
  it("keeps min <= max after every write, for any current and target limits", () => {
    const limits = fc.tuple(fc.integer({ min: 1, max: 5_000_000 }), fc.integer({ min: 1, max: 5_000_000 })).map(([a, b]) => ({ minKHz: Math.min(a, b), maxKHz: Math.max(a, b) }));
    fc.assert(
      fc.property(limits, limits, (current, target) => {
        const state = { ...current };
        for (const [file, v] of minMaxWritePlan(current, target)) {
          if (file === "scaling_min_freq") state.minKHz = v;
          else state.maxKHz = v;
          if (state.minKHz > state.maxKHz) return false;
        }
        return state.minKHz === target.minKHz && state.maxKHz === target.maxKHz;
      }),
      { numRuns: 2000 },
    );
  });
  it("writes max first when raising above the current max", () => {
    expect(minMaxWritePlan({ minKHz: 600_000, maxKHz: 1_000_000 }, { minKHz: 1_500_000, maxKHz: 1_500_000 }).map(([f]) => f)).toEqual([
      "scaling_max_freq",
      "scaling_min_freq",
    ]);
    expect(minMaxWritePlan({ minKHz: 600_000, maxKHz: 1_500_000 }, { minKHz: 700_000, maxKHz: 700_000 }).map(([f]) => f)).toEqual([
      "scaling_min_freq",
      "scaling_max_freq",
    ]);
  });
});

describe("snapFrequency", () => {
  const jetson = { id: "policy0", availableKHz: [729600, 1190400, 1497600, 1984000, 2201600], minKHz: 729600, maxKHz: 2201600 };
  it("snaps a round MHz request to an offered frequency within 1%", () => {
    expect(snapFrequency(jetson, 1_500_000)).toBe(1_497_600);
    expect(snapFrequency(jetson, 2_200_000)).toBe(2_201_600);
  });
  it("rejects a frequency that is not offered, listing the offered ones", () => {
    const pi4 = { id: "policy0", availableKHz: [600000, 700000, 800000, 1500000], minKHz: 600000, maxKHz: 1500000 };
    expect(() => snapFrequency(pi4, 1_450_000)).toThrow(RejectedError);
    expect(() => snapFrequency(pi4, 1_450_000)).toThrow(/offered MHz: 600, 700, 800, 1500/);
  });
  it("accepts anything in range without a table and rejects outside it", () => {
    const pstate = { id: "policy0", availableKHz: null, minKHz: 400_000, maxKHz: 4_700_000 };
    expect(snapFrequency(pstate, 1_234_000)).toBe(1_234_000);
    expect(() => snapFrequency(pstate, 5_000_000)).toThrow(/outside policy0's range 400-4700 MHz/);
  });
  it("refuses nonsense", () => {
    expect(() => snapFrequency(jetson, -1)).toThrow(UsageError);
    expect(() => snapFrequency(jetson, Number.NaN)).toThrow(UsageError);
  });
});
