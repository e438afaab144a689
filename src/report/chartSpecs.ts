/**
 * The report's charts as vega-lite specifications (pure: results in, specs out; rendered to
 * SVG by renderSvg.ts). Every spec carries its data inline, so a rendered chart needs nothing
 * from the network. One chart per figure the issue names:
 *
 *   energyChart        energy per inference per strategy, stacked by part, labelled with % vs cloud-only
 *   hitRateChart       share of deadlines met per strategy
 *   latencyCdfChart    each strategy's latency CDF against the deadlines' distribution (log latency axis)
 *   decisionMixChart   per dimension (split point, frequency, accelerator, codec...): the share of
 *                      requests per value, per strategy
 *   frontChart         latency vs energy of every evaluated configuration, the front as a line,
 *                      the configurations each strategy chose marked (size: share of its requests)
 *   timelineChart      runs with a conditions trace or live: bandwidth / server wait over time and
 *                      each strategy's chosen split and mean energy per time bin
 *   compareChart       two runs side by side (energy and deadline hit rate per strategy)
 */
import type { TopLevelSpec } from "vega-lite";
import type { BenchResults } from "../contracts/benchResults.js";
import type { ParetoFile } from "../contracts/paretoFile.js";

export type ChartSpec = TopLevelSpec;

const WIDTH = 640;
const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/** The strategies in a fixed colour order (the same strategy has the same colour in every chart). */
export function strategyColors(names: readonly string[]): { domain: string[]; range: string[] } {
  const palette = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#eeca3b", "#9d755d", "#ff9da6", "#bab0ac"];
  return { domain: [...names], range: names.map((_, i) => palette[i % palette.length] as string) };
}

const base = (title: string, height = 260) => ({ $schema: SCHEMA, title, width: WIDTH, height, background: "white", config: { font: "sans-serif", view: { stroke: "#ddd" } } });

const pct = (x: number): string => `${x >= 0 ? "+" : ""}${x.toFixed(1)}%`;

export function energyChart(r: BenchResults): ChartSpec {
  const names = r.strategies.map((s) => s.name);
  const rows: { strategy: string; part: string; energyJ: number }[] = [];
  const labels: { strategy: string; energyJ: number; label: string }[] = [];
  for (const s of r.strategies) {
    if (s.meanEnergyJ === null) continue;
    const parts = s.energyByPartJ;
    let known = 0;
    for (const [part, v] of [["device", parts.device], ["network", parts.network], ["server", parts.server]] as const) {
      if (v !== null && v > 0) {
        rows.push({ strategy: s.name, part, energyJ: v });
        known += v;
      }
    }
    const rest = s.meanEnergyJ - known;
    if (rest > 1e-9 * Math.max(1, s.meanEnergyJ)) rows.push({ strategy: s.name, part: known > 0 ? "unattributed" : "total", energyJ: rest });
    labels.push({ strategy: s.name, energyJ: s.meanEnergyJ, label: `${s.meanEnergyJ.toFixed(2)} J${s.energyVsCloudPct === null ? "" : ` (${pct(s.energyVsCloudPct)} vs cloud-only)`}` });
  }
  const partOrder = ["device", "network", "server", "unattributed", "total"];
  const partColors: Record<string, string> = { device: "#4c78a8", network: "#72b7b2", server: "#f58518", unattributed: "#bab0ac", total: "#9d755d" };
  const present = partOrder.filter((p) => rows.some((r) => r.part === p));
  // room on the right for the labels
  const maxJ = Math.max(1e-9, ...labels.map((l) => l.energyJ));
  return {
    ...base("Energy per inference (J), by part", Math.max(120, 28 * names.length)),
    config: { font: "sans-serif", view: { stroke: "#ddd" }, legend: { orient: "bottom" } },
    layer: [
      {
        data: { values: rows },
        mark: { type: "bar" },
        encoding: {
          y: { field: "strategy", type: "nominal", sort: names, title: null },
          x: { field: "energyJ", type: "quantitative", aggregate: "sum", stack: "zero", title: "mean energy per inference (J)", scale: { domain: [0, maxJ * 1.45], nice: false } },
          color: { field: "part", type: "nominal", scale: { domain: present, range: present.map((p) => partColors[p] as string) }, title: "part" },
          order: { field: "part" },
          tooltip: [{ field: "strategy" }, { field: "part" }, { field: "energyJ", format: ".3f" }],
        },
      },
      {
        data: { values: labels },
        mark: { type: "text", align: "left", dx: 4, fontSize: 11 },
        encoding: { y: { field: "strategy", type: "nominal", sort: names }, x: { field: "energyJ", type: "quantitative" }, text: { field: "label" } },
      },
    ],
  } as ChartSpec;
}

export function hitRateChart(r: BenchResults): ChartSpec {
  const names = r.strategies.map((s) => s.name);
  const rows = r.strategies.map((s) => ({ strategy: s.name, metPct: s.requests > 0 ? 100 * (1 - s.missedRate) : 0, label: `${s.requests - s.missed}/${s.requests} (${(100 * (1 - s.missedRate)).toFixed(2)}%)` }));
  const colors = strategyColors(names);
  return {
    ...base("Deadlines met (%)", Math.max(120, 28 * names.length)),
    data: { values: rows },
    layer: [
      {
        mark: { type: "bar" },
        encoding: {
          y: { field: "strategy", type: "nominal", sort: names, title: null },
          x: { field: "metPct", type: "quantitative", scale: { domain: [0, 100] }, title: "deadlines met (%)" },
          color: { field: "strategy", type: "nominal", scale: colors, legend: null },
        },
      },
      { mark: { type: "text", align: "right", dx: -4, color: "white", fontSize: 11 }, encoding: { y: { field: "strategy", type: "nominal", sort: names }, x: { field: "metPct", type: "quantitative" }, text: { field: "label" } } },
    ],
  } as ChartSpec;
}

export function latencyCdfChart(r: BenchResults): ChartSpec {
  const names = r.strategies.map((s) => s.name);
  const rows: { series: string; latencyMs: number; p: number }[] = [];
  for (const s of r.strategies) s.latencyCdf.p.forEach((p, i) => rows.push({ series: s.name, latencyMs: Math.max(1e-3, s.latencyCdf.latencyMs[i] as number), p }));
  r.workload.deadlineCdf.p.forEach((p, i) => rows.push({ series: "deadlines", latencyMs: Math.max(1e-3, r.workload.deadlineCdf.deadlineMs[i] as number), p }));
  const colors = strategyColors(names);
  return {
    ...base("Latency CDF per strategy against the deadlines' distribution (dashed)", 300),
    data: { values: rows },
    mark: { type: "line", interpolate: "step-after" },
    encoding: {
      x: { field: "latencyMs", type: "quantitative", scale: { type: "log" }, title: "latency / deadline (ms, log scale)" },
      y: { field: "p", type: "quantitative", title: "share of requests", scale: { domain: [0, 1] } },
      color: { field: "series", type: "nominal", scale: { domain: [...colors.domain, "deadlines"], range: [...colors.range, "#000000"] }, title: null },
      strokeDash: { condition: { test: "datum.series === 'deadlines'", value: [6, 4] }, value: [1, 0] },
      detail: { field: "series" },
    },
  } as ChartSpec;
}

/** Decisions per value of `dimension`: rows { strategy, value, count, share }. */
export function decisionMixRows(r: BenchResults, dimension: string): { strategy: string; value: string; rank: number; count: number; share: number }[] {
  const configOf = new Map(r.configurations.map((c) => [c.key, c.config]));
  const order = (r.dimensions.find((d) => d.name === dimension)?.values ?? []).map(String);
  const rows: { strategy: string; value: string; rank: number; count: number; share: number }[] = [];
  for (const s of r.strategies) {
    const by = new Map<string, number>();
    for (const [key, n] of Object.entries(s.decisions)) {
      const v = configOf.get(key)?.[dimension];
      const k = v === undefined ? "?" : String(v);
      by.set(k, (by.get(k) ?? 0) + n);
    }
    for (const [value, count] of by) rows.push({ strategy: s.name, value, rank: order.indexOf(value), count, share: s.requests > 0 ? count / s.requests : 0 });
  }
  return rows;
}

export function decisionMixChart(r: BenchResults, dimension: string): ChartSpec {
  const names = r.strategies.map((s) => s.name);
  const dim = r.dimensions.find((d) => d.name === dimension);
  const order = dim === undefined ? undefined : dim.values.map(String);
  return {
    ...base(`Decision mix: ${dimension}`, Math.max(100, 24 * names.length)),
    data: { values: decisionMixRows(r, dimension) },
    mark: { type: "bar" },
    encoding: {
      y: { field: "strategy", type: "nominal", sort: names, title: null },
      x: { field: "share", type: "quantitative", stack: "normalize", title: "share of requests", axis: { format: "%" } },
      color: { field: "value", type: "ordinal", sort: order, title: dimension, scale: { scheme: "viridis" } },
      order: { field: "rank", type: "quantitative" },
      tooltip: [{ field: "strategy" }, { field: "value", title: dimension }, { field: "count" }, { field: "share", format: ".2%" }],
    },
  } as ChartSpec;
}

/** The chosen configurations per strategy: rows { strategy, key, latencyMs, energyJ, share }. */
export function chosenRows(r: BenchResults): { strategy: string; key: string; latencyMs: number; energyJ: number; share: number }[] {
  const byKey = new Map(r.configurations.map((c) => [c.key, c]));
  const rows: { strategy: string; key: string; latencyMs: number; energyJ: number; share: number }[] = [];
  for (const s of r.strategies) {
    for (const [key, n] of Object.entries(s.decisions)) {
      const c = byKey.get(key);
      if (c !== undefined) rows.push({ strategy: s.name, key, latencyMs: c.latencyMs, energyJ: c.energyJ, share: s.requests > 0 ? n / s.requests : 0 });
    }
  }
  return rows;
}

function frontLayers(points: { key: string; latencyMs: number; energyJ: number; onFront: boolean }[]) {
  return [
    {
      data: { values: points.filter((p) => !p.onFront) },
      mark: { type: "point", color: "#bbbbbb", size: 18 },
      encoding: { x: { field: "latencyMs", type: "quantitative", scale: { type: "log" }, title: "mean latency (ms, log scale)" }, y: { field: "energyJ", type: "quantitative", title: "energy per inference (J)" }, tooltip: [{ field: "key" }, { field: "latencyMs", format: ".1f" }, { field: "energyJ", format: ".3f" }] },
    },
    {
      data: { values: points.filter((p) => p.onFront).sort((a, b) => a.latencyMs - b.latencyMs) },
      mark: { type: "line", color: "#000000", point: { color: "#000000", size: 30 }, interpolate: "step-after" },
      encoding: { x: { field: "latencyMs", type: "quantitative" }, y: { field: "energyJ", type: "quantitative" }, tooltip: [{ field: "key" }, { field: "latencyMs", format: ".1f" }, { field: "energyJ", format: ".3f" }] },
    },
  ];
}

export function frontChart(r: BenchResults): ChartSpec {
  const names = r.strategies.map((s) => s.name);
  return {
    ...base("Pareto front (black; grey: the rest of the archive) and the configurations each strategy chose", 320),
    layer: [
      ...frontLayers(r.configurations),
      {
        data: { values: chosenRows(r) },
        mark: { type: "point", filled: false, strokeWidth: 2 },
        encoding: {
          x: { field: "latencyMs", type: "quantitative" },
          y: { field: "energyJ", type: "quantitative" },
          color: { field: "strategy", type: "nominal", scale: strategyColors(names), title: "chosen by" },
          shape: { field: "strategy", type: "nominal", scale: { domain: names }, legend: null },
          size: { field: "share", type: "quantitative", scale: { domain: [0, 1], range: [40, 900] }, title: "share of requests" },
          tooltip: [{ field: "strategy" }, { field: "key" }, { field: "share", format: ".2%" }],
        },
      },
    ],
  } as ChartSpec;
}

/** One front on its own (`splitwatt report --front`). */
export function paretoFileChart(doc: ParetoFile): ChartSpec {
  const front = new Set(doc.front.map((f) => JSON.stringify(f.config)));
  const points = doc.archive.map((e) => ({ key: doc.space.dimensions.map((d) => `${d.name}=${String(e.config[d.name])}`).join(" "), latencyMs: Math.max(1e-3, e.latencyMs), energyJ: e.energyJ.total, onFront: front.has(JSON.stringify(e.config)) }));
  return { ...base(`${doc.model}: Pareto front (black) of ${doc.archive.length} evaluated configurations (grey)`, 340), layer: frontLayers(points) } as ChartSpec;
}

/** The split dimension's name among the results' dimensions (split, else layer), or the first. */
export function splitDimension(r: Pick<BenchResults, "dimensions">): string | null {
  return r.dimensions.find((d) => d.name === "split")?.name ?? r.dimensions.find((d) => d.name === "layer")?.name ?? r.dimensions[0]?.name ?? null;
}

export function timelineChart(r: BenchResults): ChartSpec | null {
  const t = r.timeline;
  if (t === null || t.length === 0) return null;
  const names = r.strategies.map((s) => s.name);
  const split = splitDimension(r);
  const configOf = new Map(r.configurations.map((c) => [c.key, c.config]));
  const cond = new Map<number, { tS: number; bandwidthMbps: number | null; serverWaitMs: number | null }>();
  for (const x of t) if (!cond.has(x.startMs)) cond.set(x.startMs, { tS: x.startMs / 1000, bandwidthMbps: x.bandwidthMbps, serverWaitMs: x.serverWaitMs });
  const condRows = [...cond.values()].flatMap((c) => [
    ...(c.bandwidthMbps === null ? [] : [{ tS: c.tS, figure: "bandwidth (Mbit/s)", value: c.bandwidthMbps }]),
    ...(c.serverWaitMs === null ? [] : [{ tS: c.tS, figure: "server wait (ms)", value: c.serverWaitMs }]),
  ]);
  const rows = t.map((x) => ({ tS: x.startMs / 1000, strategy: x.strategy, split: x.config === null || split === null ? null : Number(configOf.get(x.config)?.[split]), meanEnergyJ: x.meanEnergyJ, missedPct: (100 * x.missed) / x.requests }));
  const colors = strategyColors(names);
  const x = { field: "tS", type: "quantitative", title: "time (s)" } as const;
  const panels: unknown[] = [];
  if (condRows.length > 0) {
    panels.push({ height: 120, width: WIDTH, data: { values: condRows }, mark: { type: "line", interpolate: "step-after" }, encoding: { x, y: { field: "value", type: "quantitative", title: "conditions" }, color: { field: "figure", type: "nominal", title: null } } });
  }
  panels.push({
    height: 140,
    width: WIDTH,
    data: { values: rows },
    mark: { type: "line", interpolate: "step-after", point: { size: 12 } },
    encoding: { x, y: { field: "split", type: "quantitative", title: `chosen ${split ?? "configuration"} (most frequent)` }, color: { field: "strategy", type: "nominal", scale: colors } },
  });
  panels.push({
    height: 140,
    width: WIDTH,
    data: { values: rows },
    mark: { type: "line", interpolate: "step-after" },
    encoding: { x, y: { field: "meanEnergyJ", type: "quantitative", title: "mean energy (J)" }, color: { field: "strategy", type: "nominal", scale: colors } },
  });
  panels.push({
    height: 120,
    width: WIDTH,
    data: { values: rows },
    mark: { type: "line", interpolate: "step-after" },
    encoding: { x, y: { field: "missedPct", type: "quantitative", title: "deadlines missed (%)" }, color: { field: "strategy", type: "nominal", scale: colors } },
  });
  return { $schema: SCHEMA, title: "Timeline: conditions, chosen configuration, energy and misses per time bin", background: "white", config: { font: "sans-serif" }, vconcat: panels } as ChartSpec;
}

/** Two runs: energy and deadline hit rate per strategy, grouped by run. */
export function compareChart(a: BenchResults, b: BenchResults, labels: [string, string]): ChartSpec {
  const rows = [
    ...a.strategies.map((s) => ({ run: labels[0], strategy: s.name, energyJ: s.meanEnergyJ ?? 0, metPct: 100 * (1 - s.missedRate) })),
    ...b.strategies.map((s) => ({ run: labels[1], strategy: s.name, energyJ: s.meanEnergyJ ?? 0, metPct: 100 * (1 - s.missedRate) })),
  ];
  const names = [...new Set(rows.map((r) => r.strategy))];
  const colors = { domain: labels, range: ["#4c78a8", "#f58518"] };
  const panel = (field: string, title: string) => ({
    width: 300,
    height: Math.max(120, 30 * names.length),
    mark: { type: "bar" },
    encoding: {
      y: { field: "strategy", type: "nominal", sort: names, title: null },
      yOffset: { field: "run", type: "nominal", sort: labels },
      x: { field, type: "quantitative", title },
      color: { field: "run", type: "nominal", scale: colors, title: "run" },
    },
  });
  return { $schema: SCHEMA, title: "Two runs side by side", background: "white", config: { font: "sans-serif" }, data: { values: rows }, hconcat: [panel("energyJ", "mean energy per inference (J)"), panel("metPct", "deadlines met (%)")] } as ChartSpec;
}

/** Every chart of one run's report, with an id and a caption (null charts are left out). */
export function reportCharts(r: BenchResults): { id: string; caption: string; spec: ChartSpec }[] {
  const charts: { id: string; caption: string; spec: ChartSpec | null }[] = [
    { id: "energy", caption: "Energy per inference per strategy", spec: energyChart(r) },
    { id: "hit-rate", caption: "Deadline hit rate", spec: hitRateChart(r) },
    { id: "latency-cdf", caption: "Latency CDF against the deadline distribution", spec: latencyCdfChart(r) },
    ...r.dimensions.map((d) => ({ id: `mix-${d.name}`, caption: `Decision mix over ${d.name}`, spec: decisionMixChart(r, d.name) })),
    { id: "front", caption: "Pareto front and the configurations chosen", spec: frontChart(r) },
    { id: "timeline", caption: "Timeline", spec: timelineChart(r) },
  ];
  return charts.filter((c): c is { id: string; caption: string; spec: ChartSpec } => c.spec !== null);
}
