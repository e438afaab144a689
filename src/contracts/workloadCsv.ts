/**
 * Deadline workloads (`splitwatt bench --workload`, written by `splitwatt workload`): CSV with
 * DynaSplit's columns, so their traces replay unchanged:
 *
 *   Index,Network,Latency            e.g.  0,vgg16,94.79067097766479
 *
 * | column    | meaning                                                        | required |
 * | --------- | -------------------------------------------------------------- | -------- |
 * | Latency   | the request's deadline, ms (> 0)                                | yes      |
 * | Network   | the model the request is for (`--network` keeps one)           | no       |
 * | Index     | the request's number within its network (whole, >= 0)           | no (row number) |
 * | ArrivalMs | when the request arrives, ms from the start (non-decreasing)   | no (row x --interval-ms) |
 *
 * Other columns are ignored. Rows are read one line at a time (a workload may hold millions):
 * `workloadColumns` reads the header, `workloadRow` one data line. Fields may be quoted
 * (RFC 4180) but not span lines.
 */
import { MalformedError } from "../errors.js";
import { parseCsv, pyFloat, writeCsv } from "./dynasplitCsv.js";

export const WORKLOAD_COLUMNS = ["Index", "Network", "Latency"] as const;

/** Where each known column is in a workload's header (-1: absent). */
export interface WorkloadColumns {
  index: number;
  network: number;
  latency: number;
  arrival: number;
  width: number;
}

export interface WorkloadRequest {
  /** the Index column, else the data row's number (0-based) */
  index: number;
  network: string | null;
  deadlineMs: number;
  /** the ArrivalMs column, else null (the caller spaces requests evenly) */
  arrivalMs: number | null;
}

const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** The fields of one CSV line (fast path without quotes). */
export function csvFields(line: string, what: string, lineNo: number): string[] {
  const text = line.endsWith("\r") ? line.slice(0, -1) : line;
  if (!text.includes('"')) return text.split(",");
  const rows = parseCsv(text, `${what} line ${lineNo}`);
  return rows[0]?.fields ?? [""];
}

/** Read a workload's header line. */
export function workloadColumns(fields: readonly string[], what: string): WorkloadColumns {
  const at = (name: string): number => {
    const i = fields.indexOf(name);
    if (i >= 0 && fields.indexOf(name, i + 1) >= 0) throw new MalformedError(`${what} line 1: column "${name}" appears twice`);
    return i;
  };
  const cols = { index: at("Index"), network: at("Network"), latency: at("Latency"), arrival: at("ArrivalMs"), width: fields.length };
  if (cols.latency < 0) {
    throw new MalformedError(`${what} line 1: no "Latency" column (the deadline in ms); a workload's header is Index,Network,Latency as DynaSplit's traces (splitwatt workload writes one)`);
  }
  return cols;
}

/** Read one data line of a workload (`row` is its 0-based data row number, `lineNo` its line in the file). */
export function workloadRow(fields: readonly string[], cols: WorkloadColumns, row: number, what: string, lineNo: number): WorkloadRequest {
  if (fields.length !== cols.width) throw new MalformedError(`${what} line ${lineNo}: expected ${cols.width} fields, got ${fields.length}`);
  const cell = (i: number): string => fields[i] as string;
  const bad = (c: string, v: string, want: string) => new MalformedError(`${what} line ${lineNo}: column "${c}" is "${v}", expected ${want}`);
  const lat = cell(cols.latency);
  const deadlineMs = Number(lat);
  if (!NUM_RE.test(lat) || !(deadlineMs > 0) || !Number.isFinite(deadlineMs)) throw bad("Latency", lat, "a deadline in ms greater than 0");
  let index = row;
  if (cols.index >= 0) {
    const v = cell(cols.index);
    index = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(index)) throw bad("Index", v, "a whole number >= 0");
  }
  let network: string | null = null;
  if (cols.network >= 0) {
    network = cell(cols.network);
    if (network === "") throw bad("Network", network, "a model name, e.g. vgg16");
  }
  let arrivalMs: number | null = null;
  if (cols.arrival >= 0) {
    const v = cell(cols.arrival);
    arrivalMs = Number(v);
    if (!NUM_RE.test(v) || !(arrivalMs >= 0) || !Number.isFinite(arrivalMs)) throw bad("ArrivalMs", v, "a time in ms >= 0");
  }
  return { index, network, deadlineMs, arrivalMs };
}

/** A workload as CSV (Index,Network,Latency; numbers printed as Python does, like DynaSplit's files). */
export function writeWorkloadCsv(requests: readonly { index: number; network: string; deadlineMs: number }[]): string {
  return writeCsv([[...WORKLOAD_COLUMNS], ...requests.map((r) => [String(r.index), r.network, pyFloat(r.deadlineMs)])]);
}
