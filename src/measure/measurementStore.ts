/**
 * Append-only JSON-lines store of Measurements.
 *
 * Each record is one complete line written with a single write() and an fsync, so a process
 * killed mid-append loses at most the record in flight. On open, lines that do not parse or
 * validate (typically the last line cut off by a crash) are skipped and reported in `warnings`,
 * never thrown. If the file ends without a newline, the next append first writes one so that
 * the new record starts on its own line. Several records may share a key (repeated runs of one
 * configuration): `get` returns the latest, `all` returns every record in file order.
 *
 * `rewrite` (what `splitwatt store clear` and `store import` use) replaces the file atomically:
 * the new content goes to a temporary file in the same directory, fsync'd, renamed over the store
 * only if the store did not change meanwhile (else it starts again from the new content), and the
 * directory fsync'd; a crash at any point leaves the old file or the new one, never a mix. A
 * process that holds the store open notices the rename at its next append (the path names
 * another file) and appends to the new file.
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

/** One line of a store file: its record, or null with the reason it was skipped. */
export interface StoreLine {
  /** 1-based */
  line: number;
  text: string;
  record: Measurement | null;
  /** why the line is skipped, or a note on it; null for a good line */
  warning: string | null;
}

/** The lines of a store file (blank lines left out). */
export function parseStoreText(text: string): StoreLine[] {
  const out: StoreLine[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const partial = i === lines.length - 1; // text after the last "\n": the write never completed
    const at = `line ${i + 1}`;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      out.push({ line: i + 1, text: line, record: null, warning: `${at}: ${partial ? "partial record (no trailing newline)" : "not valid JSON"}, skipped` });
      return;
    }
    const r = checkMeasurement(parsed);
    if (!r.ok) {
      out.push({ line: i + 1, text: line, record: null, warning: `${at}: ${partial ? "partial record (no trailing newline)" : `invalid record (${r.reason})`}, skipped` });
      return;
    }
    // complete JSON but the newline is missing: keep it, the next append adds the newline
    out.push({ line: i + 1, text: line, record: r.value, warning: partial ? `${at}: record has no trailing newline; kept, a newline is added before the next record` : null });
  });
  return out;
}

/** Directory fsync, so a created or renamed file survives a crash; best effort (not supported everywhere). */
function fsyncDir(dir: string): void {
  try {
    const dfd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    // best effort
  }
}

export class MeasurementStore {
  readonly path: string;
  /** one line per skipped line of the file, e.g. `line 12: partial record (no trailing newline), skipped` */
  readonly warnings: string[] = [];
  private readonly records: Measurement[] = [];
  private readonly index = new Map<string, Measurement>();
  private fd: number | null;
  private needsNewline: boolean;

  private constructor(file: string, fd: number | null, text: string) {
    this.path = file;
    this.fd = fd;
    this.needsNewline = text.length > 0 && !text.endsWith("\n");
    for (const l of parseStoreText(text)) {
      if (l.warning !== null) this.warnings.push(l.warning);
      if (l.record !== null) this.add(l.record);
    }
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
    if (!existed) fsyncDir(dir);
    return new MeasurementStore(file, fd, text);
  }

  /** Read the store at `file` without creating or appending (list, export); a UsageError when there is none. */
  static read(file: string): MeasurementStore {
    let text: string;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") throw new UsageError(`no measurement store at ${file}: nothing was measured there yet; give the right --store`, { path: file });
      if (code === "EISDIR") throw new UsageError(`${file} is a directory; give the store's .jsonl file with --store`, { path: file });
      throw ioFail("read", file, e);
    }
    return new MeasurementStore(file, null, text);
  }

  /**
   * Replace the store's content atomically (see the file's comment). `edit` gets the file's lines
   * (each with its record, or null when it does not read as one) and returns the lines of the new
   * file; it may run more than once when another process appends meanwhile. Returns what the last
   * `edit` returned.
   */
  static rewrite<T>(file: string, edit: (lines: StoreLine[]) => { lines: string[]; result: T }): T {
    const dir = outputDir(path.dirname(file), "the measurement store (--store)");
    for (let attempt = 0; ; attempt++) {
      let before: fs.Stats | null = null;
      let text = "";
      try {
        before = fs.statSync(file);
        text = fs.readFileSync(file, "utf8");
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw ioFail("read", file, e);
      }
      const { lines, result } = edit(parseStoreText(text));
      const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
      try {
        const fd = fs.openSync(tmp, "w", before === null ? 0o644 : before.mode & 0o777);
        try {
          const buf = Buffer.from(lines.map((l) => `${l}\n`).join(""), "utf8");
          let off = 0;
          while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        // another process appended while we wrote: start again from what it wrote
        const now = fs.statSync(file, { throwIfNoEntry: false });
        const changed = before === null ? now !== undefined : now === undefined || now.ino !== before.ino || now.size !== before.size || now.mtimeMs !== before.mtimeMs;
        if (changed) {
          fs.rmSync(tmp, { force: true });
          if (attempt < 20) continue;
          throw new IoError(`measurement store ${file} kept changing while it was rewritten (another splitwatt appends to it): nothing was changed; try again when that run is done`, { path: file });
        }
        fs.renameSync(tmp, file);
      } catch (e) {
        fs.rmSync(tmp, { force: true });
        if (e instanceof IoError) throw e;
        throw ioFail("rewrite", file, e);
      }
      fsyncDir(dir);
      return result;
    }
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

  /** the latest record of every key, in the order the keys first appeared */
  latest(): Measurement[] {
    return [...this.index.values()];
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
    this.followRewrite();
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

  /** The path names another file than the one open (a `rewrite` renamed a new one over it): append to that one. */
  private followRewrite(): void {
    if (this.fd === null) return;
    let same: boolean;
    try {
      const open = fs.fstatSync(this.fd);
      const now = fs.statSync(this.path, { throwIfNoEntry: false });
      same = now !== undefined && now.ino === open.ino && now.dev === open.dev;
    } catch (e) {
      throw ioFail("check", this.path, e);
    }
    if (same) return;
    try {
      const fd = fs.openSync(this.path, "a+");
      fs.closeSync(this.fd);
      this.fd = fd;
      const size = fs.fstatSync(fd).size;
      let last = "";
      if (size > 0) {
        const b = Buffer.alloc(1);
        fs.readSync(fd, b, 0, 1, size - 1);
        last = b.toString("latin1");
      }
      this.needsNewline = size > 0 && last !== "\n";
    } catch (e) {
      throw ioFail("reopen", this.path, e);
    }
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
