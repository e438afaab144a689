/**
 * Append-only JSON-lines store of Measurements.
 *
 * Each record is one complete line written with a single write() and an fsync, so a process
 * killed mid-append loses at most the record in flight. On open, lines that do not parse or
 * validate (typically the last line cut off by a crash) are skipped and reported in `warnings`,
 * never thrown. If the file ends without a newline, the next append first writes one so that
 * the new record starts on its own line. Several records may share a key (repeated runs of one
 * configuration): `get` returns the latest, `all` returns every record in file order.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { IoError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { checkMeasurement, type Measurement } from "../contracts/measurement.js";

function ioFail(op: string, file: string, e: unknown): IoError {
  const code = (e as NodeJS.ErrnoException).code ?? "error";
  return new IoError(`cannot ${op} measurement store ${file} (${code}); check the path and its permissions`, { path: file, cause: e });
}

export class MeasurementStore {
  readonly path: string;
  /** one line per skipped line of the file, e.g. `line 12: partial record (no trailing newline), skipped` */
  readonly warnings: string[] = [];
  private readonly records: Measurement[] = [];
  private readonly index = new Map<string, Measurement>();
  private fd: number | null;
  private needsNewline: boolean;

  private constructor(file: string, fd: number, text: string) {
    this.path = file;
    this.fd = fd;
    this.needsNewline = text.length > 0 && !text.endsWith("\n");
    const lines = text.split("\n");
    lines.forEach((line, i) => {
      const isLast = i === lines.length - 1;
      if (line.trim() === "") return;
      const partial = isLast; // text after the last "\n": the write never completed
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        this.warnings.push(`line ${i + 1}: ${partial ? "partial record (no trailing newline)" : "not valid JSON"}, skipped`);
        return;
      }
      const r = checkMeasurement(parsed);
      if (!r.ok) {
        this.warnings.push(`line ${i + 1}: ${partial ? "partial record (no trailing newline)" : `invalid record (${r.reason})`}, skipped`);
        return;
      }
      if (partial) {
        // complete JSON but the newline is missing: keep it, the next append adds the newline
        this.warnings.push(`line ${i + 1}: record has no trailing newline; kept, a newline is added before the next record`);
      }
      this.add(r.value);
    });
  }

  /** Open (creating it and its parent directory if needed) the store at `file`. */
  static open(file: string): MeasurementStore {
    if (file.length === 0) throw new UsageError("measurement store path is empty; give a .jsonl file path");
    const dir = outputDir(path.dirname(file), "the measurement store (--store)");
    const existed = fs.existsSync(file);
    let fd: number;
    let text: string;
    try {
      fd = fs.openSync(file, "a+");
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      throw ioFail("open", file, e);
    }
    if (!existed) {
      try {
        const dfd = fs.openSync(dir, "r");
        try {
          fs.fsyncSync(dfd);
        } finally {
          fs.closeSync(dfd);
        }
      } catch {
        // directory fsync is best effort (not supported everywhere)
      }
    }
    return new MeasurementStore(file, fd, text);
  }

  private add(m: Measurement): void {
    this.records.push(m);
    this.index.set(m.key, m);
  }

  /** the latest record with this key */
  get(key: string): Measurement | undefined {
    return this.index.get(key);
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  /** every record in file order (repeated runs of one key included) */
  all(): readonly Measurement[] {
    return this.records;
  }

  /** number of distinct keys */
  get size(): number {
    return this.index.size;
  }

  /** Validate and durably append one record. Throws UsageError on an invalid record, IoError on a failed write. */
  append(record: Measurement): void {
    if (this.fd === null) throw new UsageError(`measurement store ${this.path} is closed; open it again to append`);
    const r = checkMeasurement(record);
    if (!r.ok) throw new UsageError(`refusing to append an invalid measurement: ${r.reason}`, { path: this.path });
    const line = (this.needsNewline ? "\n" : "") + JSON.stringify(r.value) + "\n";
    const buf = Buffer.from(line, "utf8");
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(this.fd, buf, off, buf.length - off);
      fs.fsyncSync(this.fd);
    } catch (e) {
      throw ioFail("append to", this.path, e);
    }
    this.needsNewline = false;
    this.add(r.value);
  }

  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fs.closeSync(fd);
    } catch (e) {
      throw ioFail("close", this.path, e);
    }
  }
}
