/**
 * The optimizer driver on a synthetic DynaSplit-like space with a seeded random landscape and
 * holes (configurations that cannot be evaluated).
 */
import { describe, expect, it } from "vitest";
import { MalformedError, UsageError } from "../../src/errors.js";
import { canonicalConfigKey, type Config } from "../../src/contracts/measurement.js";
import { mulberry32 } from "../../src/mulberry32.js";
import { anchorGenomes, type AnchorSpec } from "../../src/search/anchors.js";
import { dominates } from "../../src/search/dominance.js";
import type { EvaluationResult, Evaluator } from "../../src/search/evaluator.js";
import { normalizedHypervolume, optimize, type OptimizeOptions } from "../../src/search/optimize.js";
import { Space } from "../../src/search/space.js";

const space = new Space(
  [
    { name: "split", values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], ordered: true },
    { name: "freq", values: [600, 800, 1000, 1200, 1400, 1600, 1800], ordered: true },
    { name: "acc", values: ["max", "off", "std"], ordered: false },
    { name: "gpu", values: [false, true], ordered: false },
  ],
  (c) => !(c.split === 0 && c.acc !== "off") && !(c.split === 9 && c.gpu !== false),
);
const anchors: AnchorSpec = { split: { dimension: "split", device: 9, server: 0 }, deviceDimensions: ["freq", "acc"], serverDimensions: ["gpu"], fill: { freq: 1800 } };

/** a seeded landscape: latency falls and energy rises with the split, plus noise; ~15% holes */
function landscape(seed = 11): Map<string, EvaluationResult | null> {
  const rng = mulberry32(seed);
  const table = new Map<string, EvaluationResult | null>();
  for (const g of space.enumerate()) {
    const c = space.config(g);
    const s = c.split as number;
    const hole = rng() < 0.15 && !(s === 9 && c.freq === 1800) && !(s === 0 && c.gpu === true);
    const lat = 100 + 40 * (9 - s) * (c.acc === "off" ? 2 : 1) + (c.gpu ? 0 : 60) + 2000 / (c.freq as number) + 30 * rng();
    const en = 2 + 7 * s * (c.gpu ? 1.3 : 1) + (c.acc === "max" ? 3 : 0) + (c.freq as number) / 400 + 5 * rng();
    const p95 = lat * (1.05 + 0.1 * rng());
    table.set(canonicalConfigKey(c), hole ? null : { latencyMs: lat, latency: { p50: lat, p95, p99: p95 * 1.01, max: p95 * 1.02, n: 3 }, energyJ: en, accuracy: c.acc === "off" ? 0.7 : 0.68 + 0.01 * rng() });
  }
  return table;
}
const table = landscape();

/** an evaluator over `table` that records every call */
function recording(t = table): { evaluate: Evaluator; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    evaluate: async (config) => {
      const key = canonicalConfigKey(config);
      calls.push(key);
      return t.get(key) ?? null;
    },
  };
}

const base = (evaluate: Evaluator, extra: Partial<OptimizeOptions> = {}): OptimizeOptions => ({
  space,
  evaluate,
  objectives: ["latency", "energy"],
  budget: 60,
  seed: 1,
  algorithm: "nsga3",
  anchors,
  ...extra,
});

/** the true front of the evaluable configurations */
function trueFront(objective: (r: EvaluationResult) => number[]): Set<string> {
  const all = [...table].flatMap(([k, r]) => (r === null ? [] : [{ k, v: objective(r) }]));
  return new Set(all.filter((x) => !all.some((y) => dominates(y.v, x.v))).map((x) => x.k));
}

describe("optimize driver", () => {
  it("same seed, same answers: the same sequence of evaluated configurations; another seed: another sequence", async () => {
    for (const algorithm of ["nsga2", "nsga3", "random"] as const) {
      const a = recording();
      const b = recording();
      const c = recording();
      await optimize(base(a.evaluate, { algorithm }));
      await optimize(base(b.evaluate, { algorithm }));
      await optimize(base(c.evaluate, { algorithm, seed: 2 }));
      expect(a.calls).toEqual(b.calls);
      expect(a.calls).not.toEqual(c.calls);
    }
  });

  it("never asks twice for a configuration (evaluated or unevaluable); absent configurations use no budget", async () => {
    for (const algorithm of ["nsga2", "nsga3", "random", "exhaustive"] as const) {
      for (const memetic of [true, false]) {
        const rec = recording();
        const r = await optimize(base(rec.evaluate, { algorithm, memetic, budget: 120 }));
        expect(new Set(rec.calls).size).toBe(rec.calls.length);
        const nulls = rec.calls.filter((k) => table.get(k) === null).length;
        expect(nulls).toBeGreaterThan(0);
        expect(r.evaluations).toBe(120);
        expect(r.evaluated).toHaveLength(120);
        expect(r.unevaluable).toBe(nulls);
        expect(rec.calls).toHaveLength(120 + nulls);
        for (const k of rec.calls) expect(space.isValid(space.genome(configOf(k))!)).toBe(true);
      }
    }
  });

  it("the first population starts with the anchors: all on the device at every frequency and accelerator, all on the server with and without the GPU", async () => {
    const expected = anchorGenomes(space, anchors).map((g) => space.key(g));
    expect(expected).toHaveLength(7 * 3 + 2);
    for (const algorithm of ["nsga2", "nsga3"] as const) {
      const rec = recording();
      await optimize(base(rec.evaluate, { algorithm }));
      expect(rec.calls.slice(0, expected.length)).toEqual(expected);
    }
  });

  it("searches exhaustively when the valid space is no larger than the budget", async () => {
    const valid = space.countValid();
    const rec = recording();
    const r = await optimize(base(rec.evaluate, { budget: valid, algorithm: "nsga2" }));
    expect(r.algorithm).toBe("exhaustive");
    expect(r.exhausted).toBe(true);
    expect(rec.calls).toHaveLength(valid);
    expect(new Set(r.front.map((f) => f.key))).toEqual(trueFront((x) => [x.latencyMs, x.energyJ]));
    const bigger = await optimize(base(recording().evaluate, { budget: valid - 1 }));
    expect(bigger.algorithm).toBe("nsga3");
  });

  it("resumes after a kill: a cache-backed evaluator replays the first k answers and only budget - k are measured", async () => {
    const budget = 90;
    const k = 37;
    const store = new Map<string, EvaluationResult>();
    let measured = 0;
    const cachedEvaluator: Evaluator = async (config) => {
      const key = canonicalConfigKey(config);
      const hit = store.get(key);
      if (hit) return { ...hit, cached: true };
      const r = table.get(key) ?? null;
      if (r !== null) {
        measured++;
        store.set(key, r);
      }
      return r;
    };
    const uninterrupted = await optimize(base(recording().evaluate, { budget }));

    const controller = new AbortController();
    const first = await optimize(base(cachedEvaluator, { budget, signal: controller.signal, onProgress: (p) => p.evaluations === k && p.result !== null && controller.abort() }));
    expect(first.aborted).toBe(true);
    expect(first.evaluations).toBe(k);
    expect(measured).toBe(k);

    const second = await optimize(base(cachedEvaluator, { budget }));
    expect(second.aborted).toBe(false);
    expect(measured).toBe(budget);
    expect(second.cachedEvaluations).toBe(k);
    expect(second.evaluated.map((e) => e.key)).toEqual(uninterrupted.evaluated.map((e) => e.key));
    expect(second.front.map((f) => f.key)).toEqual(uninterrupted.front.map((f) => f.key));
    expect(second.hypervolume).toBe(uninterrupted.hypervolume);
  });

  it("a signal part-way through an evaluation (Ctrl-C while measuring): the run ends aborted with what was evaluated before it, not an error", async () => {
    const controller = new AbortController();
    let calls = 0;
    const evaluate: Evaluator = async (config, ctx) => {
      calls++;
      if (calls === 5) {
        controller.abort(new Error("interrupted by SIGINT"));
        // the measurement in flight notices the abort and throws its reason
        ctx.signal?.throwIfAborted();
      }
      return table.get(canonicalConfigKey(config)) ?? null;
    };
    const r = await optimize(base(evaluate, { budget: 30, signal: controller.signal }));
    expect(r.aborted).toBe(true);
    expect(calls).toBe(5);
    expect(r.evaluations).toBe(4 - r.unevaluable);
    expect(r.front.length).toBeGreaterThan(0);
    // an evaluation that fails for another reason still fails the run
    await expect(optimize(base(async () => Promise.reject(new MalformedError("broken pool row")), { budget: 5 }))).rejects.toThrow("broken pool row");
  });

  it("constraints: the front holds only feasible configurations; none feasible gives an empty front", async () => {
    const r = await optimize(base(recording().evaluate, { constraints: { maxLatencyMs: 300, minAccuracy: 0.69 }, budget: 80 }));
    expect(r.front.length).toBeGreaterThan(0);
    for (const f of r.front) {
      expect(f.result.latencyMs).toBeLessThanOrEqual(300);
      expect(f.result.accuracy!).toBeGreaterThanOrEqual(0.69);
      expect(f.violation).toBe(0);
    }
    const infeasible = r.evaluated.filter((e) => e.violation > 0);
    expect(infeasible.length).toBeGreaterThan(0);
    for (const e of infeasible) {
      const lat = Math.max(0, (e.result.latencyMs - 300) / 300);
      const acc = Math.max(0, 0.69 - e.result.accuracy!);
      expect(e.violation).toBeCloseTo(lat + acc, 12);
    }
    const none = await optimize(base(recording().evaluate, { constraints: { maxLatencyMs: 1 }, budget: 40 }));
    expect(none.front).toEqual([]);
    expect(none.hypervolume).toBe(0);
    expect(none.hypervolumeReference.ideal).toBeNull();
  });

  it("objectives: p95 latency and accuracy (as 1 - accuracy) are used when asked; missing figures are usage errors", async () => {
    const r = await optimize(base(recording().evaluate, { objectives: ["latency", "energy", "accuracy"], latencyStat: "p95", budget: 50 }));
    expect(r.evaluated).toHaveLength(50);
    for (const e of r.evaluated) expect(e.objectives).toEqual([e.result.latency.p95, e.result.energyJ, 1 - e.result.accuracy!]);
    const noAcc: Evaluator = async (c) => ({ ...(table.get(canonicalConfigKey(c)) ?? (table.values().next().value as EvaluationResult)), accuracy: null });
    await expect(optimize(base(noAcc, { objectives: ["energy", "accuracy"] }))).rejects.toThrow(UsageError);
    await expect(optimize(base(noAcc, { constraints: { minAccuracy: 0.5 } }))).rejects.toThrow(/no accuracy/);
    const noP95: Evaluator = async (c) => {
      const x = table.get(canonicalConfigKey(c));
      return x ? { ...x, latency: { ...x.latency, p95: null } } : null;
    };
    await expect(optimize(base(noP95, { latencyStat: "p95" }))).rejects.toThrow(/--latency-stat mean/);
    await expect(optimize(base(recording().evaluate, { objectives: ["latency", "latency"] }))).rejects.toThrow(/twice/);
    const nan: Evaluator = async () => ({ latencyMs: Number.NaN, latency: { p50: null, p95: null, p99: null, max: null, n: 1 }, energyJ: 1, accuracy: null });
    await expect(optimize(base(nan))).rejects.toThrow(MalformedError);
  });

  it("reports progress after every evaluation, and a hypervolume normalised by the feasible evaluated ideal and nadir", async () => {
    const seen: number[] = [];
    const r = await optimize(base(recording().evaluate, { onProgress: (p) => seen.push(p.evaluations) }));
    expect(seen.at(-1)).toBe(60);
    for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBeGreaterThanOrEqual(0);
    const pts = r.evaluated.map((e) => e.objectives);
    const ideal = [0, 1].map((k) => Math.min(...pts.map((p) => p[k]!)));
    const nadir = [0, 1].map((k) => Math.max(...pts.map((p) => p[k]!)));
    expect(r.hypervolumeReference).toEqual({ normalisation: "feasible-evaluated-ideal-nadir", ideal, nadir, reference: [1.1, 1.1] });
    expect(r.hypervolume).toBeCloseTo(normalizedHypervolume(r.front.map((f) => f.objectives), ideal, nadir), 12);
    expect(r.hypervolume).toBeGreaterThan(0);
    for (const f of r.front) expect(r.evaluated.some((e) => dominates(e.objectives, f.objectives))).toBe(false);
  });

  it("the memetic step finds more of the true front than plain NSGA at the same budget (median of 5 seeds)", async () => {
    const front = trueFront((x) => [x.latencyMs, x.energyJ]);
    const found = async (memetic: boolean) => {
      const shares: number[] = [];
      for (let seed = 1; seed <= 5; seed++) {
        const r = await optimize(base(recording().evaluate, { memetic, budget: 70, seed }));
        shares.push(r.evaluated.filter((e) => front.has(e.key)).length / front.size);
      }
      return shares.sort((a, b) => a - b)[2]!;
    };
    expect(await found(true)).toBeGreaterThan(await found(false));
  });

  it("throughput is maximised (minimised as ms per item; a result without one ran one at a time: 1000 / latency), and minThroughputPerS constrains it", async () => {
    // throughput = batch x 1000 / latency with a made-up batch per configuration, so it is not latency again
    const batchOf = (c: Config): number => 1 + (((c.freq as number) / 200) % 4);
    const withThroughput: Evaluator = async (config) => {
      const r = table.get(canonicalConfigKey(config)) ?? null;
      return r === null ? null : { ...r, throughputPerS: (batchOf(config) * 1000) / r.latencyMs };
    };
    const r = await optimize(base(withThroughput, { objectives: ["throughput", "energy"], algorithm: "exhaustive", budget: 1000 }));
    for (const e of r.evaluated) expect(e.objectives[0]).toBeCloseTo(1000 / (e.result.throughputPerS as number), 9);
    // the front is the non-dominated set of (ms per item, energy) over everything evaluated
    const pts = r.evaluated.map((e) => e.objectives);
    const nd = r.evaluated.filter((e) => !pts.some((p) => dominates(p, e.objectives))).map((e) => e.key);
    expect(r.front.map((f) => f.key).sort()).toEqual(nd.sort());
    // the highest throughput is on the front
    const best = Math.max(...r.evaluated.map((e) => e.result.throughputPerS as number));
    expect(r.front.some((f) => f.result.throughputPerS === best)).toBe(true);
    // a constraint: every front member reaches the rate, and the violation is relative
    const min = 20;
    const c = await optimize(base(withThroughput, { objectives: ["throughput", "energy"], algorithm: "exhaustive", budget: 1000, constraints: { minThroughputPerS: min } }));
    expect(c.front.length).toBeGreaterThan(0);
    for (const f of c.front) expect(f.result.throughputPerS as number).toBeGreaterThanOrEqual(min);
    const slow = c.evaluated.find((e) => (e.result.throughputPerS as number) < min) as (typeof c.evaluated)[number];
    expect(slow.violation).toBeCloseTo((min - (slow.result.throughputPerS as number)) / min, 9);
    // without a measured throughput: one at a time, 1000 / latency items/s, i.e. latency ms per item
    const plain = await optimize(base(recording().evaluate, { objectives: ["throughput"], budget: 20 }));
    for (const e of plain.evaluated) expect(e.objectives[0]).toBeCloseTo(e.result.latencyMs, 9);
  });
});

function configOf(key: string): Config {
  const c: Config = {};
  for (const part of key.split(";")) {
    const [k, v] = part.split("=") as [string, string];
    c[k] = v === "true" ? true : v === "false" ? false : Number.isNaN(Number(v)) ? v : Number(v);
  }
  return c;
}
