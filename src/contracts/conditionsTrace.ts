/**
 * Conditions traces: how the link and the server change over time, for `splitwatt bench`
 * (`--bandwidth-trace`, `--load-trace`) and written by `splitwatt workload --bandwidth`. CSV:
 *
 *   TimeMs,BandwidthMbps[,RttMs][,ServerWaitMs]        e.g.  0,100 / 60000,5 / 120000,100
 *
 * | column        | meaning                                             |
 * | ------------- | --------------------------------------------------- |
 * | TimeMs        | from when the row holds, ms from the start (>= 0, ascending) |
 * | BandwidthMbps | uplink bandwidth, Mbit/s (> 0)                       |
 * | RttMs         | round trip added per request, ms (>= 0)              |
 * | ServerWaitMs  | the server's queue wait, ms (>= 0): a server-load trace |
 *
 * A trace is a step function: at time t each figure is the one of the last row with TimeMs <= t
 * (the first row's before it). At least one of the figure columns; an empty cell leaves that
 * figure unknown in that row (each configuration is then predicted under what it was measured with).
 */
import { MalformedError } from "../errors.js";
import { parseCsv, writeCsv } from "./dynasplitCsv.js";

export const TRACE_FIGURES = ["BandwidthMbps", "RttMs", "ServerWaitMs"] as const;
export type TraceFigure = (typeof TRACE_FIGURES)[number];

export interface TracePoint {
  timeMs: number;
  bandwidthMbps: number | null;
  rttMs: number | null;
  serverWaitMs: number | null;
}

export interface ConditionsTrace {
  /** ascending by timeMs, at least one */
  points: TracePoint[];
  /** the figure columns the file has */
  figures: TraceFigure[];
}

const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Parse a conditions trace (see above); `what` names the file in errors. */
export function parseConditionsTrace(text: string, what: string): ConditionsTrace {
  const rows = parseCsv(text, what).filter((r) => !(r.fields.length === 1 && r.fields[0] === ""));
  const header = rows[0];
  if (header === undefined) throw new MalformedError(`${what} is empty; a conditions trace has a header TimeMs,BandwidthMbps (and/or RttMs, ServerWaitMs)`);
  const col = (name: string) => header.fields.indexOf(name);
  const time = col("TimeMs");
  const figures = TRACE_FIGURES.filter((f) => col(f) >= 0);
  if (time < 0 || figures.length === 0) {
    throw new MalformedError(`${what} line 1: a conditions trace needs a TimeMs column and at least one of ${TRACE_FIGURES.join(", ")}; got ${header.fields.join(",")}`);
  }
  const points: TracePoint[] = [];
  for (const r of rows.slice(1)) {
    if (r.fields.length !== header.fields.length) throw new MalformedError(`${what} line ${r.line}: expected ${header.fields.length} fields, got ${r.fields.length}`);
    const num = (name: TraceFigure | "TimeMs", positive: boolean): number | null => {
      const i = col(name);
      if (i < 0) return null;
      const v = r.fields[i] as string;
      if (v === "" && name !== "TimeMs") return null;
      const x = Number(v);
      if (!NUM_RE.test(v) || !Number.isFinite(x) || (positive ? !(x > 0) : !(x >= 0))) {
        throw new MalformedError(`${what} line ${r.line}: column "${name}" is "${v}", expected a number ${positive ? "> 0" : ">= 0"}`);
      }
      return x;
    };
    const p: TracePoint = { timeMs: num("TimeMs", false) as number, bandwidthMbps: num("BandwidthMbps", true), rttMs: num("RttMs", false), serverWaitMs: num("ServerWaitMs", false) };
    const prev = points[points.length - 1];
    if (prev !== undefined && p.timeMs < prev.timeMs) throw new MalformedError(`${what} line ${r.line}: TimeMs ${p.timeMs} is before the previous row's ${prev.timeMs}; sort the rows by time`);
    points.push(p);
  }
  if (points.length === 0) throw new MalformedError(`${what} has a header but no rows; add at least one TimeMs,... row`);
  return { points, figures };
}

/** A trace as CSV with the given figure columns. */
export function writeConditionsTrace(trace: ConditionsTrace): string {
  const key = { BandwidthMbps: "bandwidthMbps", RttMs: "rttMs", ServerWaitMs: "serverWaitMs" } as const;
  const cell = (x: number | null) => (x === null ? "" : String(x));
  return writeCsv([["TimeMs", ...trace.figures], ...trace.points.map((p) => [cell(p.timeMs), ...trace.figures.map((f) => cell(p[key[f]]))])]);
}

/** Two traces as one (e.g. a bandwidth trace and a server-load trace): at every time of either, the figures of both; `b` wins where both give one. */
export function mergeTraces(a: ConditionsTrace, b: ConditionsTrace): ConditionsTrace {
  const times = [...new Set([...a.points, ...b.points].map((p) => p.timeMs))].sort((x, y) => x - y);
  const at = (t: ConditionsTrace, ms: number): TracePoint => traceAt(t.points, ms);
  const points = times.map((timeMs) => {
    const pa = at(a, timeMs);
    const pb = at(b, timeMs);
    return { timeMs, bandwidthMbps: pb.bandwidthMbps ?? pa.bandwidthMbps, rttMs: pb.rttMs ?? pa.rttMs, serverWaitMs: pb.serverWaitMs ?? pa.serverWaitMs };
  });
  return { points, figures: TRACE_FIGURES.filter((f) => a.figures.includes(f) || b.figures.includes(f)) };
}

/** The point in force at `timeMs` (the last with timeMs <= it; the first before the trace starts). */
export function traceAt(points: readonly TracePoint[], timeMs: number): TracePoint {
  return points[traceIndexAt(points, timeMs)] as TracePoint;
}

/** The index of the point in force at `timeMs`. */
export function traceIndexAt(points: readonly TracePoint[], timeMs: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((points[mid] as TracePoint).timeMs <= timeMs) lo = mid + 1;
    else hi = mid;
  }
  return Math.max(0, lo - 1);
}
