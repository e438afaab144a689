/**
 * Accuracy per (model hash, cut, codec, evaluation set, given input values): it does not depend on frequency or
 * target, so it is measured once and kept in an append-only JSON-lines file (one fsync'd line
 * per entry; a partial last line from a crash is ignored).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";
import { IoError, SplitwattError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import type { SplitAccuracy } from "./splitAccuracy.js";

const EntrySchema = z.object({
  key: z.string().min(1),
  value: z.number().min(0).max(1),
  n: z.number().int().positive(),
  ci95: z.tuple([z.number(), z.number()]),
  evalSet: z.enum(["paddle-cls", "agreement"]),
});

/** `inputs`: the digest of given input values (inputValuesDigest), null when none were given. */
export function accuracyKey(modelSha256: string, cut: number, codec: string, evalSet: string, n: number, inputs: string | null = null): string {
  return `${modelSha256}|cut=${cut}|codec=${codec}|set=${evalSet}|n=${n}${inputs === null ? "" : `|inputs=${inputs.slice(0, 16)}`}`;
}

export class AccuracyCache {
  private readonly entries = new Map<string, SplitAccuracy>();
  /** the file ends inside a line (a crash mid-write): start the next entry on a new line */
  private needsNewline = false;

  private constructor(readonly path: string | null) {}

  /** A cache kept in `file` (created with its directory if missing), or in memory only when `file` is null. */
  static open(file: string | null): AccuracyCache {
    const c = new AccuracyCache(file);
    if (file === null) return c;
    let text = "";
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw new IoError(`cannot read accuracy cache ${file}: ${(e as Error).message}`, { path: file });
    }
    c.needsNewline = text.length > 0 && !text.endsWith("\n");
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const r = EntrySchema.safeParse(JSON.parse(line));
        if (r.success) c.entries.set(r.data.key, { value: r.data.value, n: r.data.n, ci95: r.data.ci95, evalSet: r.data.evalSet });
      } catch {
        // a line cut off by a crash: skipped, the entry is measured again
      }
    }
    return c;
  }

  get(key: string): SplitAccuracy | undefined {
    return this.entries.get(key);
  }

  set(key: string, a: SplitAccuracy): void {
    this.entries.set(key, a);
    if (this.path === null) return;
    try {
      outputDir(path.dirname(this.path), "the accuracy cache (SPLITWATT_STATE_DIR)");
      const fd = fs.openSync(this.path, "a");
      try {
        fs.writeSync(fd, `${this.needsNewline ? "\n" : ""}${JSON.stringify({ key, ...a })}\n`);
        this.needsNewline = false;
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    } catch (e) {
      if (e instanceof SplitwattError) throw e;
      throw new IoError(`cannot write accuracy cache ${this.path}: ${(e as Error).message}; check the directory's permissions`, { path: this.path });
    }
  }
}
