/**
 * report.html: one self-contained file (inline SVG charts rendered in Node, inline CSS, no
 * script, no external reference), so it opens offline and can be mailed or attached as is.
 * Under every chart a table with the exact figures it draws.
 */
import type { BenchResults } from "../contracts/benchResults.js";
import type { ParetoFile } from "../contracts/paretoFile.js";
import { compareChart, decisionMixRows, paretoFileChart, reportCharts, splitDimension } from "./chartSpecs.js";
import { renderSvg } from "./renderSvg.js";
import { fmt, fmtPct, runLine, sourceLines, summaryRows } from "./summaryTable.js";

export const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const STYLE = `body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}
thead th{background:#f3f3f3}figure{margin:1em 0}figcaption{font-size:.9em;color:#555}
.note{font-size:.85em;color:#555}.chart svg{max-width:100%;height:auto}`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title><style>${STYLE}</style></head><body>\n${body}\n</body></html>\n`;
}

function figure(id: string, caption: string, svg: string, tableHtml: string): string {
  return `<section id="${esc(id)}"><h2>${esc(caption)}</h2><figure class="chart" data-chart="${esc(id)}">${svg}<figcaption>${esc(caption)}</figcaption></figure>${tableHtml}</section>`;
}

/** The table under each chart of a run's report. */
function chartTable(r: BenchResults, id: string): string {
  const s = r.strategies;
  if (id === "energy") {
    return table(
      ["strategy", "mean J", "median J", "device J", "network J", "server J", "vs cloud-only", "source"],
      s.map((x) => [x.name, fmt(x.meanEnergyJ, 4), fmt(x.medianEnergyJ, 4), fmt(x.energyByPartJ.device, 4), fmt(x.energyByPartJ.network, 4), fmt(x.energyByPartJ.server, 4), fmtPct(x.energyVsCloudPct), x.sourceLabel]),
    );
  }
  if (id === "hit-rate") {
    return table(
      ["strategy", "requests", "met", "missed", "missed %", "median miss ms", "no config expected to meet"],
      s.map((x) => [x.name, String(x.requests), String(x.requests - x.missed), String(x.missed), (100 * x.missedRate).toFixed(3), fmt(x.medianMissMs, 1), String(x.infeasible)]),
    );
  }
  if (id === "latency-cdf") {
    const d = r.workload.deadlineMs;
    return table(
      ["series", "mean ms", "p50 ms", "p95 ms", "p99 ms", "min ms", "max ms"],
      [
        ...s.map((x) => [x.name, fmt(x.meanLatencyMs, 1), fmt(x.p50LatencyMs, 1), fmt(x.p95LatencyMs, 1), fmt(x.p99LatencyMs, 1), fmt(x.latencyCdf.latencyMs[0] ?? null, 1), fmt(x.latencyCdf.latencyMs.at(-1) ?? null, 1)]),
        ["deadlines", fmt(d.mean, 1), fmt(d.p50, 1), "-", "-", fmt(d.min, 1), fmt(d.max, 1)],
      ],
    );
  }
  if (id.startsWith("mix-")) {
    const dim = id.slice(4);
    const rows = decisionMixRows(r, dim);
    const values = [...new Set(rows.map((x) => x.value))];
    const order = r.dimensions.find((d) => d.name === dim)?.values.map(String) ?? [];
    values.sort((a, b) => order.indexOf(a) - order.indexOf(b));
    return table(
      ["strategy", ...values.map((v) => `${dim}=${v}`)],
      s.map((x) => [x.name, ...values.map((v) => String(rows.find((q) => q.strategy === x.name && q.value === v)?.count ?? 0))]),
    );
  }
  if (id === "front") {
    const dims = r.dimensions.map((d) => d.name);
    const chosen = r.configurations.filter((c) => c.onFront || s.some((x) => (x.decisions[c.key] ?? 0) > 0)).sort((a, b) => a.latencyMs - b.latencyMs);
    return table(
      [...dims, "latency ms", "energy J", "on front", ...s.map((x) => x.name)],
      chosen.map((c) => [
        ...dims.map((d) => String(c.config[d])),
        fmt(c.latencyMs, 1),
        fmt(c.energyJ, 3),
        c.onFront ? "yes" : "",
        ...s.map((x) => {
          const n = x.decisions[c.key] ?? 0;
          return n === 0 ? "" : `${((100 * n) / Math.max(1, x.requests)).toFixed(1)}%`;
        }),
      ]),
    );
  }
  if (id === "timeline" && r.timeline !== null) {
    const split = splitDimension(r);
    const configOf = new Map(r.configurations.map((c) => [c.key, c.config]));
    return table(
      ["from s", "to s", "bandwidth Mbit/s", "server wait ms", "strategy", "requests", "missed", "mean J", `chosen ${split ?? "config"}`],
      r.timeline.map((t) => [
        (t.startMs / 1000).toFixed(1),
        (t.endMs / 1000).toFixed(1),
        fmt(t.bandwidthMbps, 1),
        fmt(t.serverWaitMs, 1),
        t.strategy,
        String(t.requests),
        String(t.missed),
        fmt(t.meanEnergyJ, 3),
        t.config === null || split === null ? "-" : String(configOf.get(t.config)?.[split] ?? "-"),
      ]),
    );
  }
  return "";
}

/** The whole report of one run. */
export async function renderBenchReport(r: BenchResults): Promise<string> {
  const t = summaryRows(r);
  const parts: string[] = [
    `<h1>splitwatt bench: ${esc(r.front.model)} (${esc(r.mode)})</h1>`,
    `<p>${esc(runLine(r))}</p>`,
    table(t.header, t.rows),
    `<ul class="note">${sourceLines(r).map((l) => `<li>${esc(l)}</li>`).join("")}</ul>`,
  ];
  for (const c of reportCharts(r)) parts.push(figure(c.id, c.caption, await renderSvg(c.spec), chartTable(r, c.id)));
  parts.push(`<p class="note">Generated ${esc(r.generatedAt)} by splitwatt from results.json (version ${r.version}); ${esc(r.run.note ?? "")}</p>`);
  return page(`splitwatt bench: ${r.front.model}`, parts.join("\n"));
}

/** Two runs compared. */
export async function renderCompareReport(a: BenchResults, b: BenchResults, labels: [string, string]): Promise<string> {
  const names = [...new Set([...a.strategies, ...b.strategies].map((s) => s.name))];
  const rows: string[][] = [];
  for (const n of names) {
    const x = a.strategies.find((s) => s.name === n);
    const y = b.strategies.find((s) => s.name === n);
    const delta = (f: (s: NonNullable<typeof x>) => number | null, d: number) => {
      const u = x === undefined ? null : f(x);
      const v = y === undefined ? null : f(y);
      return [fmt(u, d), fmt(v, d), u === null || v === null ? "-" : `${v - u >= 0 ? "+" : ""}${(v - u).toFixed(d)}`];
    };
    rows.push([n, ...delta((s) => s.meanEnergyJ, 3), ...delta((s) => 100 * s.missedRate, 2), ...delta((s) => s.p95LatencyMs, 1)]);
  }
  const [la, lb] = labels;
  const body = [
    `<h1>splitwatt: ${esc(la)} vs ${esc(lb)}</h1>`,
    `<p><b>${esc(la)}</b>: ${esc(runLine(a))}</p><p><b>${esc(lb)}</b>: ${esc(runLine(b))}</p>`,
    figure("compare", "Energy and deadline hit rate, both runs", await renderSvg(compareChart(a, b, labels)), table(
      ["strategy", `J ${la}`, `J ${lb}`, "ΔJ", `missed % ${la}`, `missed % ${lb}`, "Δ missed %", `p95 ms ${la}`, `p95 ms ${lb}`, "Δ p95 ms"],
      rows,
    )),
  ];
  return page(`splitwatt: ${la} vs ${lb}`, body.join("\n"));
}

/** One pareto file's front on its own. */
export async function renderFrontReport(doc: ParetoFile, path: string): Promise<string> {
  const dims = doc.space.dimensions.map((d) => d.name);
  const rows = [...doc.front]
    .sort((a, b) => a.latencyMs - b.latencyMs)
    .map((f) => [...dims.map((d) => String(f.config[d])), fmt(f.latencyMs, 1), fmt(f.latency.p95, 1), fmt(f.energyJ.total, 3), fmt(f.energyJ.device, 3), fmt(f.energyJ.network, 3), fmt(f.energyJ.server, 3), fmt(f.accuracy?.value ?? null, 3)]);
  const body = [
    `<h1>${esc(doc.model)}: Pareto front</h1>`,
    `<p>${esc(path)}: ${esc(doc.mode)}, ${esc(doc.algorithm)}${doc.memetic ? " + memetic" : ""}, seed ${doc.seed}, ${doc.evaluations} evaluations of a budget of ${doc.budget}, objectives ${esc(doc.objectives.join(", "))}; front ${doc.front.length}, hypervolume ${doc.hypervolume.toFixed(4)}.</p>`,
    figure("front", "Pareto front (latency vs energy)", await renderSvg(paretoFileChart(doc)), table([...dims, "latency ms", "p95 ms", "energy J", "device J", "network J", "server J", "accuracy"], rows)),
  ];
  return page(`${doc.model}: Pareto front`, body.join("\n"));
}
