/**
 * The `dynasplit` policy on DynaSplit's published VGG16 pool and deadlines
 * (../shared/data/dynasplit beside the repository, read by path, never copied): the pool's
 * exhaustive front, built through the library as `optimize --replay POOL --algorithm
 * exhaustive` does, and each of the 50 VGG16 deadlines of network_latency_50_samples.csv.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { importDynasplitCsv } from "../../src/contracts/dynasplitCsv.js";
import type { ParetoFile } from "../../src/contracts/paretoFile.js";
import { createPolicy } from "../../src/schedule/policies/index.js";
import { optimize } from "../../src/search/optimize.js";
import { paretoDocument } from "../../src/search/paretoDocument.js";
import { poolEvaluator } from "../../src/search/poolEvaluator.js";
import { loaded } from "../fixtures/paretoFixtures.js";

const dataFile = (name: string) => fileURLToPath(new URL(`../../../shared/data/dynasplit/${name}`, import.meta.url));

/** A CSV with a header, split naively (these files have no quoted fields), as rows of name -> text. */
function table(name: string): Record<string, string>[] {
  const [header, ...rows] = readFileSync(dataFile(name), "utf8").trim().split("\n").map((l) => l.trim().split(","));
  return rows.map((r) => Object.fromEntries(header!.map((h, i) => [h, r[i] ?? ""])));
}

/** The configuration of a pool or experiment row, as the key the test compares by. */
const rowKey = (r: Record<string, string>) => `${Number(r.layer)}/${Number(r["cpu-freq"])}/${r["edge-accelerator"]}/${r["server-accelerator"]!.toLowerCase()}`;
const configKey = (c: Record<string, string | number | boolean>) => `${c.layer}/${c["cpu-freq"]}/${c["edge-accelerator"]}/${String(c["server-accelerator"])}`;

interface Point {
  key: string;
  latencyMs: number;
  energyJ: number;
  accuracy: number;
}

/** The exhaustive latency-energy front straight from the CSV: per configuration the mean over its runs, DynaSplit's validity rules, non-dominated. */
function frontFromCsv(): Point[] {
  const rows = table("simulation_pool_vgg16.csv");
  const lastLayer = Math.max(...rows.map((r) => Number(r.layer)));
  const groups = new Map<string, Record<string, string>[]>();
  for (const r of rows) groups.set(rowKey(r), [...(groups.get(rowKey(r)) ?? []), r]);
  const mean = (rs: Record<string, string>[], col: string) => rs.reduce((s, r) => s + Number(r[col]), 0) / rs.length;
  const points: Point[] = [];
  for (const [key, rs] of groups) {
    const r0 = rs[0]!;
    const layer = Number(r0.layer);
    if (layer === 0 && r0["edge-accelerator"] !== "off") continue;
    if (layer === lastLayer && r0["server-accelerator"] !== "False") continue;
    points.push({ key, latencyMs: mean(rs, "latency"), energyJ: mean(rs, "energy"), accuracy: mean(rs, "accuracy") });
  }
  return points.filter((a) => !points.some((b) => b.latencyMs <= a.latencyMs && b.energyJ <= a.energyJ && (b.latencyMs < a.latencyMs || b.energyJ < a.energyJ)));
}

/** DynaSplit's rule, written out plainly: by energy ascending (ties: higher accuracy), the first within the deadline, else the fastest. */
function dynasplitRule(front: readonly Point[], deadlineMs: number): string {
  const sorted = [...front].sort((a, b) => (a.energyJ !== b.energyJ ? a.energyJ - b.energyJ : b.accuracy - a.accuracy));
  const within = sorted.find((p) => p.latencyMs <= deadlineMs);
  if (within) return within.key;
  return sorted.reduce((f, p) => (p.latencyMs < f.latencyMs ? p : f)).key;
}

describe("dynasplit policy on DynaSplit's VGG16 pool (exhaustive front) and 50 testbed deadlines", () => {
  let doc: ParetoFile;
  let csvFront: Point[];
  const deadlines = table("network_latency_50_samples.csv")
    .filter((r) => r.Network === "vgg16")
    .map((r) => ({ index: Number(r.Index), deadlineMs: Number(r.Latency) }));

  beforeAll(async () => {
    const text = readFileSync(dataFile("simulation_pool_vgg16.csv"), "utf8");
    const pool = importDynasplitCsv(text, { model: { name: "vgg16", sha256: createHash("sha256").update(text).digest("hex") }, host: { name: "replay" }, measuredAt: "2024-10-31T00:00:00.000Z" });
    const replay = poolEvaluator(pool);
    const result = await optimize({
      space: replay.space,
      evaluate: replay.evaluate,
      objectives: ["latency", "energy"],
      budget: replay.space.countValid(),
      seed: 1,
      algorithm: "exhaustive",
      anchors: replay.anchors,
    });
    doc = paretoDocument(result, { mode: "replay", source: { pool: "simulation_pool_vgg16.csv" }, model: "vgg16", network: null, space: replay.space, generatedAt: "2024-10-31T00:00:00.000Z" });
    csvFront = frontFromCsv();
  });

  it("the optimizer's exhaustive front is the CSV's own front (747 measured configurations, the same members)", () => {
    expect(doc.algorithm).toBe("exhaustive");
    expect(doc.archive).toHaveLength(747);
    expect(doc.front.map((f) => configKey(f.config)).sort()).toEqual(csvFront.map((p) => p.key).sort());
  });

  it("reproduces the published rule's choice for each of the 50 VGG16 deadlines", () => {
    expect(deadlines).toHaveLength(50);
    const policy = createPolicy("dynasplit", loaded(doc));
    const state = { nowMs: 0, link: {}, serverUp: true, current: null };
    const chosen = deadlines.map(({ deadlineMs }) => configKey(policy.decide({ deadlineMs }, state).entry.config));
    expect(chosen).toEqual(deadlines.map(({ deadlineMs }) => dynasplitRule(csvFront, deadlineMs)));
    // the deadlines exercise more than one branch of the rule: several members are chosen, and some deadline is beyond every member's reach
    expect(new Set(chosen).size).toBeGreaterThanOrEqual(3);
    const fastest = Math.min(...csvFront.map((p) => p.latencyMs));
    expect(deadlines.some((d) => d.deadlineMs < fastest)).toBe(true);
  });

  it("cross-check with DynaSplit's own testbed choices (splinter:latency_exhaustive rows): the same placement for all 50, and never more energy than their choice where it is on our front", () => {
    // Their testbed run chose from their own exhaustive front, built from their measurements; most
    // configurations it chose are not on the pool's front (e.g. layer 17 at 800 MHz where the
    // pool's front has layer 18 at 600 MHz), and near-ties differ (all-on-edge members lie within
    // 0.1 J of each other). What must agree: where each request ran (all in the cloud, split, all
    // on the edge), and, where their choice is on our front and within the deadline by the pool's
    // figures, ours costs no more energy than theirs (the rule takes the least energy within it).
    const theirs = table("experiment_progress_vgg16.csv").filter((r) => r.strategy === "splinter:latency_exhaustive");
    expect(theirs).toHaveLength(50);
    const policy = createPolicy("dynasplit", loaded(doc));
    const state = { nowMs: 0, link: {}, serverUp: true, current: null };
    const where = (layer: number) => (layer === 0 ? "cloud" : layer === 22 ? "edge" : "split");
    const ours = theirs.map((r) => policy.decide({ deadlineMs: Number(r.qos) }, state).entry);
    expect(ours.map((e) => where(e.config.layer as number))).toEqual(theirs.map((r) => where(Number(r.layer))));
    const front = new Map(csvFront.map((p) => [p.key, p]));
    const comparable = theirs.flatMap((r, i) => {
      const their = front.get(rowKey(r));
      return their !== undefined && their.latencyMs <= Number(r.qos) ? [{ their, ours: front.get(configKey(ours[i]!.config))! }] : [];
    });
    expect(comparable.length).toBeGreaterThanOrEqual(1);
    for (const c of comparable) expect(c.ours.energyJ).toBeLessThanOrEqual(c.their.energyJ);
  });
});
