/**
 * `csv:FILE`: a recorded power trace, one `epoch_ms,W` row per reading (a header line is
 * skipped), matched to the request windows when they are settled. The file is read again as it
 * grows, so a logger may record it during the run. Rows must be in time order; a row stamped at
 * or before the previous one, or one that does not parse, is a failure (a gap between its
 * neighbours). A file that shrinks is read again from the start.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { UsageError } from "../../errors.js";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import { MeterBase, type MeterOpenOptions } from "./meter.js";
import { MeterTrace } from "./meterTrace.js";

type CsvSpec = Extract<MeterSpec, { kind: "csv" }>;

/** One row: `epoch_ms,W` (blanks around fields allowed); null for a blank line. */
export function parseCsvRow(line: string): { tMs: number; watts: number } | null {
  const t = line.trim();
  if (t === "") return null;
  const f = t.split(",").map((x) => x.trim());
  const num = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
  if (f.length !== 2 || !num.test(f[0] as string) || !num.test(f[1] as string)) throw new Error(`unparsable row ${JSON.stringify(t.slice(0, 60))} (expected epoch_ms,W)`);
  const tMs = Number(f[0]);
  if (tMs < 1e11) throw new Error(`row ${JSON.stringify(t.slice(0, 60))}: ${f[0]} is not epoch milliseconds`);
  return { tMs, watts: Number(f[1]) };
}

export class CsvMeter extends MeterBase {
  private readonly path: string;
  private offset = 0;
  private carry = "";
  private firstLine = true;

  constructor(spec: CsvSpec, label: string, opts: MeterOpenOptions) {
    super(spec, label, new MeterTrace(label, opts.onWarning ?? (() => undefined)), opts);
    this.path = resolve(spec.file);
    if (!existsSync(this.path) || !statSync(this.path).isFile()) {
      throw new UsageError(`meter ${label}: ${this.path} is not a file: give a trace of epoch_ms,W rows (it may still be growing)`, { path: this.path });
    }
    this.refresh();
  }

  protected override refresh(): void {
    if (this.closed) return;
    let fd: number;
    try {
      fd = openSync(this.path, "r");
    } catch (err) {
      this.trace.failure(`cannot read ${this.path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < this.offset) {
        this.trace.failure(`${this.path} shrank: read again from its start`);
        this.offset = 0;
        this.carry = "";
        this.firstLine = true;
      }
      if (size === this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      const n = readSync(fd, buf, 0, buf.length, this.offset);
      this.offset += n;
      const text = this.carry + buf.subarray(0, n).toString("utf8");
      const lines = text.split("\n");
      this.carry = lines.pop() ?? ""; // an unfinished last row waits for its newline
      for (const line of lines) this.row(line);
    } finally {
      closeSync(fd);
    }
  }

  private row(line: string): void {
    let r;
    try {
      r = parseCsvRow(line);
    } catch (err) {
      if (this.firstLine && /[a-z]/i.test(line)) {
        this.firstLine = false; // a header
        return;
      }
      this.trace.failure((err as Error).message);
      return;
    }
    if (r === null) return;
    this.firstLine = false;
    this.trace.reading(r.tMs, r.watts);
  }

  protected patienceMs(): number {
    return 3 * Math.max(this.nominalPeriodMs, this.periodMs()) + 500;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
