import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import type { Config } from "../../src/contracts/measurement.js";
import { mulberry32 } from "../../src/mulberry32.js";
import { anchorGenomes } from "../../src/search/anchors.js";
import { crowdingDistance } from "../../src/search/crowdingDistance.js";
import { constraintDominates, dominates } from "../../src/search/dominance.js";
import { hypervolume } from "../../src/search/hypervolume.js";
import { nonDominatedSort } from "../../src/search/nonDominatedSort.js";
import { normalizeForNiching } from "../../src/search/nsga3.js";
import { divisionsFor, referenceDirections } from "../../src/search/referenceDirections.js";
import { Space } from "../../src/search/space.js";
import { mutate, variation } from "../../src/search/variation.js";

/** Hypervolume by inclusion-exclusion over every non-empty subset: exact, O(2^N), for checking. */
function hvInclusionExclusion(points: number[][], ref: number[]): number {
  let total = 0;
  const n = points.length;
  for (let mask = 1; mask < 1 << n; mask++) {
    let vol = 1;
    let size = 0;
    for (let k = 0; k < ref.length; k++) {
      let worst = -Infinity;
      for (let i = 0; i < n; i++) if (mask & (1 << i)) worst = Math.max(worst, points[i]![k]!);
      vol *= Math.max(0, ref[k]! - worst);
    }
    for (let i = 0; i < n; i++) if (mask & (1 << i)) size++;
    total += size % 2 === 1 ? vol : -vol;
  }
  return total;
}

/** Naive non-dominated sort: peel the set of points no remaining point beats, O(M N^3). */
function naiveSort(objs: number[][], viol?: number[]): number[][] {
  const beats = (i: number, j: number) =>
    viol ? constraintDominates({ objectives: objs[i]!, violation: viol[i]! }, { objectives: objs[j]!, violation: viol[j]! }) : dominates(objs[i]!, objs[j]!);
  let left = objs.map((_, i) => i);
  const fronts: number[][] = [];
  while (left.length > 0) {
    const front = left.filter((i) => !left.some((j) => beats(j, i)));
    fronts.push(front);
    left = left.filter((i) => !front.includes(i));
  }
  return fronts;
}

describe("hypervolume", () => {
  it("{(1,4,4),(2,2,3),(4,1,2)} at reference (5,5,5) is 25", () => {
    expect(hypervolume([[1, 4, 4], [2, 2, 3], [4, 1, 2]], [5, 5, 5])).toBe(25);
    expect(hvInclusionExclusion([[1, 4, 4], [2, 2, 3], [4, 1, 2]], [5, 5, 5])).toBe(25);
  });

  it("2-D staircase, dominated and out-of-reference points add nothing", () => {
    expect(hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4])).toBe(6);
    expect(hypervolume([[1, 3], [2, 2], [3, 1], [3, 3], [5, 0], [0, 4]], [4, 4])).toBe(6);
    expect(hypervolume([], [1, 1])).toBe(0);
    expect(hypervolume([[0.5]], [1])).toBe(0.5);
  });

  it("2-D and 3-D agree with inclusion-exclusion on random small sets", () => {
    const pts = (m: number) => fc.array(fc.array(fc.integer({ min: 0, max: 12 }), { minLength: m, maxLength: m }), { minLength: 0, maxLength: 8 });
    fc.assert(fc.property(pts(2), (p) => Math.abs(hypervolume(p, [10, 10]) - hvInclusionExclusion(p, [10, 10])) < 1e-9), { numRuns: 300 });
    fc.assert(fc.property(pts(3), (p) => Math.abs(hypervolume(p, [10, 10, 10]) - hvInclusionExclusion(p, [10, 10, 10])) < 1e-9), { numRuns: 300 });
  });

  it("refuses more than three objectives and vectors of the wrong length", () => {
    expect(() => hypervolume([[1, 1, 1, 1]], [2, 2, 2, 2])).toThrow(UsageError);
    expect(() => hypervolume([[1, 1]], [2, 2, 2])).toThrow(/2 objectives but the reference has 3/);
  });
});

describe("dominance and non-dominated sorting", () => {
  it("constraint-domination: feasible beats infeasible, smaller violation wins, feasible ones by Pareto", () => {
    const s = (objectives: number[], violation: number) => ({ objectives, violation });
    expect(constraintDominates(s([9, 9], 0), s([1, 1], 0.1))).toBe(true);
    expect(constraintDominates(s([1, 1], 0.1), s([9, 9], 0))).toBe(false);
    expect(constraintDominates(s([9, 9], 0.1), s([1, 1], 0.2))).toBe(true);
    expect(constraintDominates(s([1, 1], 0.2), s([1, 1], 0.2))).toBe(false);
    expect(constraintDominates(s([1, 2], 0), s([2, 2], 0))).toBe(true);
    expect(constraintDominates(s([1, 3], 0), s([2, 2], 0))).toBe(false);
    expect(dominates([1, 1], [1, 1])).toBe(false);
  });

  it("fast non-dominated sort equals a naive sort (with and without constraints)", () => {
    const arb = fc
      .integer({ min: 2, max: 3 })
      .chain((m) =>
        fc.array(fc.tuple(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: m, maxLength: m }), fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 }))), {
          minLength: 0,
          maxLength: 30,
        }),
      );
    fc.assert(
      fc.property(arb, (items) => {
        const objs = items.map((x) => x[0]);
        const viol = items.map((x) => x[1]);
        expect(nonDominatedSort(objs)).toEqual(naiveSort(objs));
        expect(nonDominatedSort(objs, viol)).toEqual(naiveSort(objs, viol));
      }),
      { numRuns: 300 },
    );
  });

  it("crowding distance: boundaries infinite, inner points by the normalised gap of their neighbours", () => {
    const d = crowdingDistance([[0, 4], [1, 2], [4, 0], [2, 1]]);
    expect(d[0]).toBe(Infinity);
    expect(d[2]).toBe(Infinity);
    expect(d[1]).toBeCloseTo(2 / 4 + 3 / 4);
    expect(d[3]).toBeCloseTo(3 / 4 + 2 / 4);
    expect(crowdingDistance([])).toEqual([]);
  });
});

describe("reference directions and NSGA-III normalisation", () => {
  it("Das-Dennis: C(p+M-1, M-1) points on the unit simplex", () => {
    for (const [m, p, count] of [[2, 4, 5], [3, 4, 15], [3, 12, 91], [4, 3, 20]] as const) {
      const dirs = referenceDirections(m, p);
      expect(dirs).toHaveLength(count);
      for (const w of dirs) {
        expect(w).toHaveLength(m);
        expect(w.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 12);
        for (const x of w) expect(Math.round(x * p)).toBeCloseTo(x * p, 9);
      }
      expect(new Set(dirs.map((w) => w.join(","))).size).toBe(count);
    }
    expect(divisionsFor(3, 91)).toBe(12);
    expect(divisionsFor(2, 40)).toBe(39);
  });

  it("normalisation maps the ideal to 0 and the extreme points' hyperplane intercepts to 1", () => {
    const n = normalizeForNiching([[10, 100], [12, 60], [20, 20]]);
    expect(n[0]![0]).toBeCloseTo(0);
    expect(n[2]![1]).toBeCloseTo(0);
    expect(n[0]![1]).toBeCloseTo(1);
    expect(n[2]![0]).toBeCloseTo(1);
  });
});

describe("Space", () => {
  const space = new Space(
    [
      { name: "layer", values: [0, 1, 2, 3], ordered: true },
      { name: "acc", values: ["off", "std", "max"], ordered: false },
      { name: "gpu", values: [false, true], ordered: false },
    ],
    (c) => !(c.layer === 0 && c.acc !== "off") && !(c.layer === 3 && c.gpu === true),
  );

  it("enumerates and counts valid configurations; genome and config round-trip", () => {
    const all = [...space.enumerate()];
    expect(space.cartesianSize).toBe(24);
    expect(all).toHaveLength(24 - 4 - 3);
    expect(space.countValid()).toBe(17);
    expect(space.countValid(5)).toBe(6);
    for (const g of all) expect(space.genome(space.config(g))).toEqual(g);
    expect(space.genome({ layer: 1, acc: "std" })).toBeNull();
    expect(space.genome({ layer: 9, acc: "std", gpu: true })).toBeNull();
    expect(space.genome({ layer: "1", acc: "std", gpu: true })).toBeNull();
    expect(space.key([1, 1, 1])).toBe("acc=std;gpu=true;layer=1");
  });

  it("neighbours: a step on ordered dimensions, every other value on categorical ones; steps walk past skipped genomes", () => {
    const ids = (gs: number[][]) => gs.map((g) => g.join(",")).sort();
    expect(ids(space.neighbours([1, 0, 0]))).toEqual(ids([[0, 0, 0], [2, 0, 0], [1, 1, 0], [1, 2, 0], [1, 0, 1]]));
    expect(ids(space.neighbours([0, 0, 0]))).toEqual(ids([[1, 0, 0], [0, 1, 0], [0, 2, 0], [0, 0, 1]]));
    const skip = (g: readonly number[]) => g[0] === 2;
    expect(ids(space.neighbours([1, 0, 0], skip))).toEqual(ids([[0, 0, 0], [3, 0, 0], [1, 1, 0], [1, 2, 0], [1, 0, 1]]));
  });

  it("rejects bad dimensions with one-line usage errors", () => {
    expect(() => new Space([])).toThrow(UsageError);
    expect(() => new Space([{ name: "a", values: [1], ordered: true }, { name: "a", values: [2], ordered: true }])).toThrow(/twice/);
    expect(() => new Space([{ name: "a", values: [], ordered: true }])).toThrow(/no values/);
    expect(() => new Space([{ name: "a", values: [1, 1], ordered: true }])).toThrow(/twice/);
  });

  it("variation: every gene comes from a parent, a step away on ordered genes, or is any value on categorical ones", () => {
    const rng = mulberry32(7);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 23 }), (ia, ib) => {
        const all = [...space.enumerate()];
        const a = all[ia % all.length]!;
        const b = all[ib % all.length]!;
        const child = variation(space, a, b, rng, 0.5);
        expect(Math.min(Math.abs(child[0]! - a[0]!), Math.abs(child[0]! - b[0]!))).toBeLessThanOrEqual(1);
        child.forEach((x, i) => {
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThan(space.dimensions[i]!.values.length);
        });
      }),
    );
    // rate 1: every ordered gene steps by exactly one, every categorical gene changes
    for (let t = 0; t < 50; t++) {
      const m = mutate(space, [1, 1, 0], rng, 1);
      expect(Math.abs(m[0]! - 1)).toBe(1);
      expect(m[1]).not.toBe(1);
      expect(m[2]).toBe(1);
    }
  });
});

describe("anchors", () => {
  it("DynaSplit columns: all on the edge at every frequency and accelerator, all in the cloud with and without the GPU", () => {
    const space = new Space(
      [
        { name: "layer", values: [0, 1, 2, 3], ordered: true },
        { name: "cpu-freq", values: [600, 1200, 1800], ordered: true },
        { name: "edge-accelerator", values: ["max", "off", "std"], ordered: false },
        { name: "server-accelerator", values: [false, true], ordered: false },
      ],
      (c) => !(c.layer === 0 && c["edge-accelerator"] !== "off") && !(c.layer === 3 && c["server-accelerator"] !== false),
    );
    const anchors = anchorGenomes(space, {
      split: { dimension: "layer", device: 3, server: 0 },
      deviceDimensions: ["cpu-freq", "edge-accelerator"],
      serverDimensions: ["server-accelerator"],
      fill: { "cpu-freq": 1800 },
    }).map((g) => space.config(g));
    expect(anchors).toHaveLength(3 * 3 + 2);
    const device = anchors.slice(0, 9);
    for (const c of device) expect(c).toMatchObject({ layer: 3, "server-accelerator": false });
    expect(new Set(device.map((c) => `${c["cpu-freq"]}/${c["edge-accelerator"]}`)).size).toBe(9);
    expect(anchors.slice(9)).toEqual([
      { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": false },
      { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": true },
    ]);
  });

  it("live dimensions: split, cpuFreqMHz, deviceTarget, serverTarget, codec", () => {
    const space = new Space(
      [
        { name: "split", values: [0, 1, 2, 3, 4, 5], ordered: true },
        { name: "cpuFreqMHz", values: [800, 1500], ordered: true },
        { name: "deviceTarget", values: ["cpu:4", "webgpu"], ordered: false },
        { name: "serverTarget", values: ["cpu", "cuda"], ordered: false },
        { name: "codec", values: ["raw", "fp16", "int8"], ordered: false },
      ],
      (c: Config) => !(c.split === 5 && (c.codec !== "raw" || c.serverTarget !== "cpu")) && !(c.split === 0 && c.deviceTarget !== "cpu:4"),
    );
    const anchors = anchorGenomes(space, {
      split: { dimension: "split", device: 5, server: 0 },
      deviceDimensions: ["cpuFreqMHz", "deviceTarget"],
      serverDimensions: ["serverTarget"],
      fill: { cpuFreqMHz: 1500 },
    }).map((g) => space.config(g));
    expect(anchors).toHaveLength(4 + 2);
    expect(anchors.slice(0, 4).every((c) => c.split === 5 && c.codec === "raw" && c.serverTarget === "cpu")).toBe(true);
    expect(anchors.slice(4)).toEqual([
      { split: 0, cpuFreqMHz: 1500, deviceTarget: "cpu:4", serverTarget: "cpu", codec: "raw" },
      { split: 0, cpuFreqMHz: 1500, deviceTarget: "cpu:4", serverTarget: "cuda", codec: "raw" },
    ]);
    expect(() => anchorGenomes(space, { split: { dimension: "layer", device: 5, server: 0 }, deviceDimensions: [], serverDimensions: [] })).toThrow(/not in the search space/);
    expect(() => anchorGenomes(space, { split: { dimension: "split", device: 9, server: 0 }, deviceDimensions: [], serverDimensions: [] })).toThrow(/not a value/);
  });
});
