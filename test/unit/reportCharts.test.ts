import { describe, expect, it } from "vitest";
import { compile } from "vega-lite";
import { compareChart, decisionMixRows, energyChart, hitRateChart, latencyCdfChart, paretoFileChart, reportCharts, timelineChart, chosenRows } from "../../src/report/chartSpecs.js";
import { esc, renderBenchReport, renderCompareReport, renderFrontReport } from "../../src/report/htmlReport.js";
import { renderSvg } from "../../src/report/renderSvg.js";
import { summaryMarkdown } from "../../src/report/summaryTable.js";
import { tinyResults, TINY_STRATEGIES } from "../fixtures/benchFixtures.js";
import { fiveConfigs } from "../fixtures/paretoFixtures.js";

type Layer = { data: { values: Record<string, unknown>[] } };

describe("report chart specs (vega-lite, data inline)", () => {
  it("one chart per figure the issue names, each compiling with vega-lite; the timeline only for runs with a trace", async () => {
    const r = await tinyResults();
    expect(reportCharts(r).map((c) => c.id)).toEqual(["energy", "hit-rate", "latency-cdf", "mix-split", "mix-cpuFreqMHz", "front"]);
    const t = await tinyResults({ trace: true });
    expect(reportCharts(t).map((c) => c.id)).toEqual(["energy", "hit-rate", "latency-cdf", "mix-split", "mix-cpuFreqMHz", "front", "timeline"]);
    expect(timelineChart(r)).toBeNull();
    for (const c of reportCharts(t)) {
      const vg = compile(c.spec).spec;
      expect(vg.marks?.length ?? 0).toBeGreaterThan(0);
      // nothing to load: every dataset is inline
      expect(JSON.stringify(vg)).not.toMatch(/"url"\s*:/);
    }
  });

  it("energy: the stacked parts add up to each strategy's mean; the label says % vs cloud-only", async () => {
    const r = await tinyResults();
    const [bars, labels] = (energyChart(r) as unknown as { layer: Layer[] }).layer as [Layer, Layer];
    for (const s of r.strategies) {
      const sum = bars.data.values.filter((v) => v.strategy === s.name).reduce((a, v) => a + (v.energyJ as number), 0);
      expect(sum).toBeCloseTo(s.meanEnergyJ!, 9);
      const label = labels.data.values.find((v) => v.strategy === s.name)!.label as string;
      expect(label).toBe(`${s.meanEnergyJ!.toFixed(2)} J (${s.energyVsCloudPct! >= 0 ? "+" : ""}${s.energyVsCloudPct!.toFixed(1)}% vs cloud-only)`);
    }
    expect(bars.data.values.map((v) => v.part)).toContain("network");
  });

  it("hit rate, CDF, decision mix and front carry the results' exact figures", async () => {
    const r = await tinyResults();
    const hit = (hitRateChart(r) as unknown as { data: { values: { strategy: string; metPct: number }[] } }).data.values;
    expect(hit.map((v) => [v.strategy, v.metPct])).toEqual(r.strategies.map((s) => [s.name, 100 * (1 - s.missedRate)]));
    const cdf = (latencyCdfChart(r) as unknown as { data: { values: { series: string }[] } }).data.values;
    expect(cdf.filter((v) => v.series === "deadlines")).toHaveLength(201);
    expect(cdf.filter((v) => v.series === "dynasplit")).toHaveLength(201);
    for (const dim of ["split", "cpuFreqMHz"]) {
      const rows = decisionMixRows(r, dim);
      for (const s of r.strategies) {
        const mine = rows.filter((x) => x.strategy === s.name);
        expect(mine.reduce((a, x) => a + x.count, 0)).toBe(s.requests);
        expect(mine.reduce((a, x) => a + x.share, 0)).toBeCloseTo(1, 12);
      }
    }
    // edge-only runs all on the device: split 2 only
    expect(decisionMixRows(r, "split").filter((x) => x.strategy === "edge-only")).toEqual([{ strategy: "edge-only", value: "2", rank: 2, count: 200, share: 1 }]);
    const chosen = chosenRows(r);
    for (const s of r.strategies) expect(chosen.filter((c) => c.strategy === s.name).map((c) => c.key).sort()).toEqual(Object.keys(s.decisions).sort());
    const { doc } = fiveConfigs();
    const layers = (paretoFileChart(doc) as unknown as { layer: Layer[] }).layer;
    expect(layers[0]!.data.values.length + layers[1]!.data.values.length).toBe(5);
    expect(layers[1]!.data.values).toHaveLength(3);
  });

  it("renders to SVG in Node (vega's SVG renderer, no canvas): bars, lines and the strategies' names", async () => {
    const r = await tinyResults({ trace: true });
    const svg = await renderSvg(energyChart(r));
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toMatch(/role-mark/);
    expect((svg.match(/<path/g) ?? []).length).toBeGreaterThan(TINY_STRATEGIES.length);
    for (const n of TINY_STRATEGIES) expect(svg).toContain(`>${n}<`);
    const cdf = await renderSvg(latencyCdfChart(r));
    expect(cdf).toMatch(/mark-line/);
    const tl = await renderSvg(timelineChart(r)!);
    expect(tl).toContain("bandwidth (Mbit/s)");
    const cmp = await renderSvg(compareChart(r, r, ["a", "b"]));
    expect(cmp).toMatch(/mark-rect/);
  });
});

describe("summary.md and report.html", () => {
  it("summary: strategies side by side, a line per source label", async () => {
    const r = await tinyResults();
    const md = summaryMarkdown(r);
    const header = md.split("\n").find((l) => l.startsWith("|  |"))!;
    expect(header).toBe(`|  | ${TINY_STRATEGIES.join(" | ")} |`);
    expect(md).toMatch(/\| mean energy per inference \(J\) \|/);
    expect(md).toMatch(/\| deadlines missed \| \d+ \(\d+\.\d\d%\)/);
    expect(md).toContain("- replay: all strategies: every figure is drawn from measured runs of the pool /fixture/pool.csv (sources: estimate, meter, node); nothing was measured in this run");
    const mixed = { ...r, strategies: r.strategies.map((s, i) => ({ ...s, sourceLabel: i === 0 ? ("estimate" as const) : ("measured" as const) })) };
    const lines = summaryMarkdown(mixed).split("\n").filter((l) => /^- (estimate|measured|replay):/.test(l));
    expect(lines.map((l) => l.split(":")[0])).toEqual(["- estimate", "- measured"]);
  });

  it("report.html: self-contained (no script, no external reference), one SVG per chart, a table under each", async () => {
    const r = await tinyResults({ trace: true });
    const html = await renderBenchReport(r);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link/i);
    const charts = reportCharts(r);
    expect((html.match(/<svg/g) ?? []).length).toBe(charts.length);
    for (const c of charts) expect(html).toContain(`data-chart="${c.id}"`);
    expect((html.match(/<table>/g) ?? []).length).toBe(charts.length + 1);
    expect(esc(`<a href="x">&`)).toBe("&lt;a href=&quot;x&quot;&gt;&amp;");
    const cmp = await renderCompareReport(r, r, ["A", "B"]);
    expect((cmp.match(/<svg/g) ?? []).length).toBe(1);
    const front = await renderFrontReport(fiveConfigs().doc, "f.pareto.json");
    expect(front).toContain("fixture: Pareto front");
    expect((front.match(/<tr>/g) ?? []).length).toBe(1 + 3);
  });
});
