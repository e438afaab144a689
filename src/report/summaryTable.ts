/**
 * The summary of a benchmark run as a table: strategies side by side (columns), one row per
 * figure, and one line per energy source label in the run (measured / estimate / replay)
 * saying where the figures come from. Rendered as Markdown (summary.md, for a paper or an
 * issue) and as HTML (the report's first table) from the same rows.
 */
import type { BenchResults, SourceLabel, StrategyResult } from "../contracts/benchResults.js";

export const fmt = (x: number | null, digits: number): string => (x === null ? "-" : x.toFixed(digits));
const energyDigits = (x: number | null): number => (x !== null && Math.abs(x) < 1 ? 4 : 2);
const fmtJ = (x: number | null): string => fmt(x, energyDigits(x));
export const fmtPct = (x: number | null): string => (x === null ? "-" : `${x >= 0 ? "+" : ""}${x.toFixed(1)}%`);

export interface SummaryRows {
  header: string[];
  rows: string[][];
}

/** The table: first column the figure, then one column per strategy. */
export function summaryRows(r: BenchResults): SummaryRows {
  const s = r.strategies;
  const row = (label: string, f: (x: StrategyResult) => string): string[] => [label, ...s.map(f)];
  const parts = (x: StrategyResult): string => [x.energyByPartJ.device, x.energyByPartJ.network, x.energyByPartJ.server].map(fmtJ).join(" / ");
  return {
    header: ["", ...s.map((x) => x.name)],
    rows: [
      row("requests", (x) => String(x.requests)),
      row("mean energy per inference (J)", (x) => fmtJ(x.meanEnergyJ)),
      row("vs cloud-only", (x) => fmtPct(x.energyVsCloudPct)),
      row("median energy (J)", (x) => fmtJ(x.medianEnergyJ)),
      row("device / network / server (J)", parts),
      row("latency mean (ms)", (x) => fmt(x.meanLatencyMs, 1)),
      row("latency p50 / p95 / p99 (ms)", (x) => [x.p50LatencyMs, x.p95LatencyMs, x.p99LatencyMs].map((v) => fmt(v, 1)).join(" / ")),
      row("deadlines missed", (x) => `${x.missed} (${(100 * x.missedRate).toFixed(2)}%)`),
      row("median miss (ms)", (x) => fmt(x.medianMissMs, 1)),
      row("energy source", (x) => x.sourceLabel),
    ],
  };
}

/**
 * One line per source label in the run: what it means and what stands behind it; for live runs
 * also the link (emulated by the kernel's tbf or in the app, not shaped, or the daemon's own) and
 * the daemon's device energy source.
 */
export function sourceLines(r: BenchResults): string[] {
  const labels = [...new Set(r.strategies.map((s) => s.sourceLabel))].sort() as SourceLabel[];
  const live = r.live ?? null;
  const liveLines = live === null ? [] : [`link: ${live.link.label}`, `device energy: ${live.deviceEnergy}`];
  const lines = labels.map((label) => {
    const strategies = r.strategies.filter((s) => s.sourceLabel === label);
    const sources = [...new Set(strategies.flatMap((s) => s.energySources))].sort();
    const who = strategies.length === r.strategies.length ? "all strategies" : strategies.map((s) => s.name).join(", ");
    const behind = sources.length > 0 ? ` (sources: ${sources.join(", ")})` : "";
    switch (label) {
      case "replay":
        return `replay: ${who}: every figure is drawn from measured runs of the pool${r.pool === null ? "" : ` ${r.pool.path}`}${behind}; nothing was measured in this run`;
      case "measured":
        return `measured: ${who}: energy from counters or meters on this run's hardware${behind}`;
      case "estimate":
        return `estimate: ${who}: at least one energy part is ESTIMATED by a power model, not measured${behind}`;
    }
    return `${label}: ${who}${behind}`;
  });
  return [...lines, ...liveLines];
}

/** What was run, in one paragraph. */
export function runLine(r: BenchResults): string {
  const w = r.workload;
  const d = w.deadlineMs;
  const deadlines = d.min === null ? "" : `, deadlines ${fmt(d.min, 1)}-${fmt(d.max, 1)} ms (median ${fmt(d.p50, 1)})`;
  const pool = r.pool === null ? "" : `; pool ${r.pool.path} (${r.pool.runs} runs of ${r.pool.configurations} configurations)`;
  const l = r.live ?? null;
  const how = l === null ? "" : `, ${l.pacing === "arrival" ? "paced at the arrival times" : "back to back"}${l.interrupted ? `, INTERRUPTED after ${l.startedRequests} of ${l.plannedRequests} requests` : ""}`;
  const live = r.daemon === null ? "" : `; daemon ${r.daemon.url}${r.daemon.inProcess ? " (in-process)" : ""}${how}`;
  const traces = [r.conditions.bandwidthTrace === null ? null : `bandwidth trace ${r.conditions.bandwidthTrace}`, r.conditions.loadTrace === null ? null : `server-load trace ${r.conditions.loadTrace}`].filter((x) => x !== null);
  return (
    `${r.mode} run, seed ${r.seed}: workload ${w.path}${w.network === null ? "" : ` (network ${w.network})`}, ${w.requests} requests${deadlines}; ` +
    `front ${r.front.path} (${r.front.model}, ${r.front.algorithm}, ${r.front.evaluations} evaluations, front ${r.front.frontSize}, archive ${r.front.archiveSize})${pool}${live}` +
    `${traces.length > 0 ? `; ${traces.join(", ")}` : ""}.`
  );
}

const mdCell = (s: string): string => s.replace(/\|/g, "\\|");

/** summary.md */
export function summaryMarkdown(r: BenchResults): string {
  const t = summaryRows(r);
  const lines = [`# splitwatt bench: ${r.front.model}`, "", runLine(r), ""];
  lines.push(`| ${t.header.map(mdCell).join(" | ")} |`);
  lines.push(`| --- |${t.header.slice(1).map(() => " ---: |").join("")}`);
  for (const row of t.rows) lines.push(`| ${row.map(mdCell).join(" | ")} |`);
  lines.push("", "Energy sources:", "");
  for (const l of sourceLines(r)) lines.push(`- ${l}`);
  lines.push("", "A deadline is missed when the request's latency exceeds it; median miss = median of latency - deadline over the missed requests.", "");
  return lines.join("\n");
}
