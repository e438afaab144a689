/**
 * Replay over DynaSplit's published VGG16 pool (../shared/data/dynasplit beside the repository).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { importDynasplitCsv } from "../../src/contracts/dynasplitCsv.js";
import { canonicalConfigKey } from "../../src/contracts/measurement.js";
import { MAX_LAYER_SPAN, poolEvaluator } from "../../src/search/poolEvaluator.js";
import { UsageError } from "../../src/errors.js";
import { anchorGenomes } from "../../src/search/anchors.js";
import { dominates } from "../../src/search/dominance.js";
import { hypervolume, normalizePoints } from "../../src/search/hypervolume.js";
import { optimize } from "../../src/search/optimize.js";

const dataFile = (name: string) => fileURLToPath(new URL(`../../../shared/data/dynasplit/${name}`, import.meta.url));
const load = (name: string) => {
  const text = readFileSync(dataFile(name), "utf8");
  const pool = importDynasplitCsv(text, { model: { name, sha256: createHash("sha256").update(text).digest("hex") }, host: { name: "replay" }, measuredAt: "2024-10-31T00:00:00.000Z" });
  return { pool, replay: poolEvaluator(pool) };
};
const vgg = load("simulation_pool_vgg16.csv");

describe("pool replay", () => {
  it("fills each configuration's pareto entry from the pool's per-part columns: breakdown from avg latency edge|cloud|transfer, bytes from tensor size", async () => {
    // read the CSV independently of the importer: the columns by name, straight from the file
    const [header, ...rows] = readFileSync(dataFile("simulation_pool_vgg16.csv"), "utf8").trim().split("\n").map((l) => l.split(","));
    const col = (name: string) => header!.indexOf(name);
    const want = rows.filter((r) => Number(r[col("layer")]) === 10 && Number(r[col("cpu-freq")]) === 1400 && r[col("edge-accelerator")] === "max" && r[col("server-accelerator")] === "True");
    expect(want.length).toBeGreaterThan(0);
    const avg = (name: string) => want.reduce((s, r) => s + Number(r[col(name)]), 0) / want.length;
    const r = (await vgg.replay.evaluate({ layer: 10, "cpu-freq": 1400, "edge-accelerator": "max", "server-accelerator": true }, {}))!;
    const e = r.entry!;
    expect(e.breakdownMs.head).toBeCloseTo(avg("avg latency edge (ms)"), 9);
    expect(e.breakdownMs.server).toBeCloseTo(avg("avg latency cloud (ms)"), 9);
    expect(e.breakdownMs.transfer).toBeCloseTo(avg("avg latency transfer (ms)"), 9);
    expect(e.bytes).toBe(Math.round(avg("tensor size (KB)") * 1024));
    expect(e.energyJ.device).toBeCloseTo(avg("avg energy edge (J)"), 9);
    expect(e.energyJ.server).toBeCloseTo(avg("avg energy cloud (J)"), 9);
    expect(e.energyJ.total).toBeCloseTo(avg("energy"), 9);
    expect(e.latency.n).toBe(want.length);
    expect(e.conditions.link).toBe("replay");
  });

  it("builds DynaSplit's VGG16 space from the pool's columns: 917 valid configurations, 747 of them measured", () => {
    const { space, answers } = vgg.replay;
    expect(space.dimensions.map((d) => [d.name, d.ordered, d.values.length])).toEqual([
      ["layer", true, 23],
      ["cpu-freq", true, 7],
      ["edge-accelerator", false, 3],
      ["server-accelerator", false, 2],
    ]);
    expect(space.dimensions[1]!.values).toEqual([600, 800, 1000, 1200, 1400, 1600, 1800]);
    expect(space.countValid()).toBe(917);
    expect(answers.size).toBe(747);
    expect(vgg.replay.runs).toBe(1082);
    expect(vgg.replay.hasAccuracy).toBe(true);
    expect(space.isValid(space.genome({ layer: 0, "cpu-freq": 600, "edge-accelerator": "max", "server-accelerator": true })!)).toBe(false);
    expect(space.isValid(space.genome({ layer: 22, "cpu-freq": 600, "edge-accelerator": "max", "server-accelerator": true })!)).toBe(false);
    expect(space.isValid(space.genome({ layer: 22, "cpu-freq": 600, "edge-accelerator": "max", "server-accelerator": false })!)).toBe(true);
  });

  it("answers a configuration with the means over its runs and the distribution of the run means; an absent one with null", async () => {
    const cfg = { layer: 22, "cpu-freq": 1200, "edge-accelerator": "max", "server-accelerator": false };
    const runs = vgg.pool.filter((m) => canonicalConfigKey(m.config) === canonicalConfigKey(cfg));
    expect(runs.length).toBeGreaterThan(2);
    const r = (await vgg.replay.evaluate(cfg, {}))!;
    const lat = runs.map((m) => m.latencyMs.mean).sort((a, b) => a - b);
    expect(r.latencyMs).toBeCloseTo(lat.reduce((s, x) => s + x, 0) / lat.length, 9);
    expect(r.energyJ).toBeCloseTo(runs.reduce((s, m) => s + m.energyJ.total!, 0) / runs.length, 12);
    expect(r.accuracy).toBeCloseTo(runs.reduce((s, m) => s + m.accuracy!.value, 0) / runs.length, 12);
    expect(r.latency.n).toBe(runs.length);
    expect(r.latency.max).toBe(lat.at(-1));
    expect(r.latency.p50!).toBeGreaterThanOrEqual(lat[0]!);
    expect(r.latency.p95!).toBeGreaterThanOrEqual(r.latency.p50!);
    const absent = [...vgg.replay.space.enumerate()].map((g) => vgg.replay.space.config(g)).find((c) => !vgg.replay.answers.has(canonicalConfigKey(c)))!;
    expect(await vgg.replay.evaluate(absent, {})).toBeNull();
  });

  it("anchors: 21 all-on-edge (7 frequencies x 3 accelerator modes) and 2 all-in-cloud (GPU off and on, at 1800 MHz)", () => {
    const a = anchorGenomes(vgg.replay.space, vgg.replay.anchors!).map((g) => vgg.replay.space.config(g));
    expect(a).toHaveLength(23);
    expect(a.slice(0, 21).every((c) => c.layer === 22 && c["server-accelerator"] === false)).toBe(true);
    expect(a.slice(21)).toEqual([
      { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": false },
      { layer: 0, "cpu-freq": 1800, "edge-accelerator": "off", "server-accelerator": true },
    ]);
  });

  it("the ViT pool: no accuracy, one edge-accelerator mode, layer 0..19 with the unmeasured layer 2 in the space (273 valid)", () => {
    const vit = load("simulation_pool_vit.csv");
    expect(vit.replay.hasAccuracy).toBe(false);
    expect(vit.replay.space.dimensions.find((d) => d.name === "edge-accelerator")!.values).toEqual(["off"]);
    expect(vit.replay.space.countValid()).toBe(273);
  });

  it("budget 184 on latency + energy (default search): median over seeds 1-10 reaches >= 0.98 of the exhaustive front's hypervolume and >= 80% of its configurations", async () => {
    const { space, evaluate, anchors, answers } = vgg.replay;
    const all = [...answers].map(([key, r]) => ({ key, v: [r.latencyMs, r.energyJ] }));
    const exFront = all.filter((x) => !all.some((y) => dominates(y.v, x.v)));
    const ideal = [0, 1].map((k) => Math.min(...exFront.map((x) => x.v[k]!)));
    const nadir = [0, 1].map((k) => Math.max(...exFront.map((x) => x.v[k]!)));
    const hv = (pts: number[][]) => hypervolume(normalizePoints(pts, ideal, nadir), [1.1, 1.1]);
    const exHv = hv(exFront.map((x) => x.v));
    const ratios: number[] = [];
    const found: number[] = [];
    for (let seed = 1; seed <= 10; seed++) {
      const r = await optimize({ space, evaluate, anchors, objectives: ["latency", "energy"], budget: 184, seed, algorithm: "nsga3" });
      expect(r.evaluations).toBe(184);
      expect(r.memetic).toBe(true);
      ratios.push(hv(r.front.map((f) => f.objectives)) / exHv);
      const keys = new Set(r.evaluated.map((e) => e.key));
      found.push(exFront.filter((x) => keys.has(x.key)).length / exFront.length);
    }
    const median = (xs: number[]) => {
      const s = [...xs].sort((a, b) => a - b);
      return (s[4]! + s[5]!) / 2;
    };
    expect(median(ratios)).toBeGreaterThanOrEqual(0.98);
    expect(median(found)).toBeGreaterThanOrEqual(0.8);
  });
});

describe("pool checks (issue 11)", () => {
  const withLayers = (layers: number[]) => vgg.pool.slice(0, layers.length).map((m, i) => ({ ...m, config: { ...m.config, layer: layers[i] as number } }));

  it("a layer span of MAX_LAYER_SPAN indices is filled; one more is refused saying why", () => {
    const ok = poolEvaluator(withLayers([0, MAX_LAYER_SPAN - 1]));
    expect(ok.space.dimensions[0]?.values).toHaveLength(MAX_LAYER_SPAN);
    expect(() => poolEvaluator(withLayers([0, MAX_LAYER_SPAN]))).toThrow(UsageError);
    expect(() => poolEvaluator(withLayers([5, 3_000_000]))).toThrow(/spans 5 to 3000000: 2999996 split indices, more than the 10000 a replay accepts/);
  });

  it("a negative number in any column is refused while the CSV is read, naming the line", () => {
    const [header, first, second] = readFileSync(dataFile("simulation_pool_vgg16.csv"), "utf8").split("\n");
    const cols = (header as string).split(",");
    for (const c of ["latency", "energy", "avg latency transfer (ms)", "layer", "cpu-freq"]) {
      const f = (second as string).split(",");
      f[cols.indexOf(c)] = "-1.5";
      const text = [header, first, f.join(",")].join("\n");
      expect(() => importDynasplitCsv(text, { model: { name: "p", sha256: "0".repeat(64) }, host: { name: "replay" }, fileName: "p.csv" })).toThrow(
        new RegExp(`^p\\.csv line 3: column "${c.replace(/[()]/g, "\\$&")}" is "-1\\.5", expected a number >= 0$`),
      );
    }
  });
});
