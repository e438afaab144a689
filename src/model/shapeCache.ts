import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { z } from "zod";
import { inputValuesDigest } from "../runtime/syntheticInputs.js";
import type { TensorShape } from "./tensorShapes.js";
import { dtypeBytes, dtypeName } from "./tensorType.js";

/**
 * Bump when what the shape analysis stores changes (which tensors it measures, how it names
 * batch dims): entries written under another format are never read.
 */
const FORMAT = 2;
/** Entries kept in the directory; the least recently written go first. */
const MAX_ENTRIES = 64;
/** Analyses kept in this process. */
const MAX_MEMO = 16;

/** What the shapes of a model's tensors depend on. */
export interface ShapeCacheKey {
  /** sha256 of the model file */
  sha256: string;
  /** the concrete input shapes (batch 1) the shapes were measured at */
  inputShapes: Record<string, number[]>;
  /** the batch the probe ran at (default 1) */
  batch?: number | undefined;
  /** the values the probe fed instead of zeros (default none) */
  inputValues?: Readonly<Record<string, readonly number[]>> | undefined;
}

export interface ShapeCache {
  /** The cached shapes of every `wanted` tensor, or null (a miss, or an entry not to be trusted). */
  get(key: ShapeCacheKey, wanted: readonly string[]): Map<string, TensorShape> | null;
  set(key: ShapeCacheKey, shapes: ReadonlyMap<string, TensorShape>): void;
}

export interface ShapeCacheOptions {
  /** directory of the file cache (one JSON file per key); none: this process's memo only */
  dir?: string | undefined;
  /** told when an entry is ignored or cannot be written (the analysis goes on without it) */
  onWarning?: ((message: string) => void) | undefined;
}

const Shape = z.object({
  name: z.string(),
  dtype: z.string(),
  elemType: z.number().int(),
  shape: z.array(z.number().int().min(0)),
  batchDims: z.array(z.boolean()),
  bytes: z.number().int().min(0),
  from: z.enum(["value_info", "onnxruntime"]),
});
const Entry = z.object({
  format: z.literal(FORMAT),
  key: z.object({
    sha256: z.string(),
    inputShapes: z.record(z.string(), z.array(z.number().int())),
    batch: z.number().int().min(1),
    inputValuesSha256: z.string().nullable(),
    onnxruntime: z.string(),
  }),
  shapes: z.array(Shape),
});
type Entry = z.infer<typeof Entry>;

/** The key as stored: input shapes in name order, the batch, a digest of the given values, and the onnxruntime that measured them. */
function canonicalKey(key: ShapeCacheKey): Entry["key"] {
  const inputShapes = Object.fromEntries(Object.keys(key.inputShapes).sort().map((k) => [k, key.inputShapes[k] as number[]]));
  const inputValuesSha256 = inputValuesDigest(key.inputValues ?? {});
  return { sha256: key.sha256, inputShapes, batch: key.batch ?? 1, inputValuesSha256, onnxruntime: ort.env.versions.common ?? "unknown" };
}

/** Why a stored shape cannot be right, or null: its size must follow from its dims and type. */
function inconsistency(s: TensorShape): string | null {
  if (s.batchDims.length !== s.shape.length) return `${s.name} has ${s.shape.length} dims but ${s.batchDims.length} batch flags`;
  if (dtypeName(s.elemType) !== s.dtype) return `${s.name} is ${s.dtype} but type ${s.elemType}`;
  if (s.bytes !== s.shape.reduce((a, b) => a * b, 1) * dtypeBytes(s.elemType)) return `${s.name} has ${s.bytes} bytes, not what [${s.shape.join(",")}] ${s.dtype} takes`;
  return null;
}

/**
 * The measured shapes of a model's tensors, kept so `split`, `inspect` and the tail server's
 * on-demand split do not run the shape probe again: in memory (the last few, per cache) and, given
 * a directory, in one JSON file per (model sha256, input shapes, batch, given input values,
 * onnxruntime version). Files
 * are written atomically (temporary file + rename) and checked on read (schema, key, every
 * wanted tensor present, bytes consistent with dims); an entry failing a check is reported and
 * ignored, never trusted.
 */
export function shapeCache(opts: ShapeCacheOptions = {}): ShapeCache {
  const warn = opts.onWarning ?? (() => {});
  const memo = new Map<string, Map<string, TensorShape>>();
  const remember = (id: string, shapes: Map<string, TensorShape>) => {
    memo.delete(id);
    memo.set(id, shapes);
    while (memo.size > MAX_MEMO) memo.delete(memo.keys().next().value as string);
  };
  const fileOf = (id: string) => join(opts.dir as string, `${id}.json`);
  const pick = (all: ReadonlyMap<string, TensorShape>, wanted: readonly string[]): Map<string, TensorShape> | null => {
    const out = new Map<string, TensorShape>();
    for (const name of wanted) {
      const s = all.get(name);
      if (s === undefined) return null;
      out.set(name, s);
    }
    return out;
  };

  const readFile = (id: string, key: Entry["key"], wanted: readonly string[]): Map<string, TensorShape> | null => {
    const file = fileOf(id);
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT" && code !== "ENOTDIR") warn(`cannot read the analysis cache entry ${file} (${(err as Error).message}); measuring the shapes again`);
      return null;
    }
    const ignore = (why: string) => {
      warn(`ignoring the analysis cache entry ${file}: ${why}; measuring the shapes again`);
      return null;
    };
    let entry: Entry;
    try {
      const parsed = Entry.safeParse(JSON.parse(text));
      if (!parsed.success) return ignore(`not a valid entry (${parsed.error.issues[0]?.path.join(".") ?? ""}: ${parsed.error.issues[0]?.message ?? "?"})`);
      entry = parsed.data;
    } catch {
      return ignore("not JSON");
    }
    if (JSON.stringify(entry.key) !== JSON.stringify(key)) return ignore("it is for another model, input shape, batch, input values or onnxruntime");
    for (const s of entry.shapes) {
      const why = inconsistency(s);
      if (why !== null) return ignore(why);
    }
    const got = pick(new Map(entry.shapes.map((s) => [s.name, s])), wanted);
    return got ?? ignore(`it lacks tensors this model has (${wanted.filter((w) => !entry.shapes.some((s) => s.name === w)).slice(0, 3).join(", ")})`);
  };

  /** Keep the newest MAX_ENTRIES; another process pruning at the same time is fine (errors ignored). */
  const prune = () => {
    const dir = opts.dir as string;
    const files: Array<{ f: string; t: number }> = [];
    for (const f of readdirSync(dir)) {
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        files.push({ f, t: statSync(join(dir, f)).mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
    files.sort((a, b) => a.t - b.t);
    for (const { f } of files.slice(0, Math.max(0, files.length - MAX_ENTRIES))) rmSync(join(dir, f), { force: true });
  };

  return {
    get(k, wanted) {
      const key = canonicalKey(k);
      const id = createHash("sha256").update(JSON.stringify(key)).digest("hex");
      const remembered = memo.get(id);
      if (remembered !== undefined) {
        const got = pick(remembered, wanted);
        if (got !== null) return got;
      }
      if (opts.dir === undefined) return null;
      const got = readFile(id, key, wanted);
      if (got !== null) remember(id, got);
      return got;
    },
    set(k, shapes) {
      const key = canonicalKey(k);
      const id = createHash("sha256").update(JSON.stringify(key)).digest("hex");
      remember(id, new Map(shapes));
      if (opts.dir === undefined) return;
      const file = fileOf(id);
      const tmp = `${file}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
      try {
        mkdirSync(opts.dir, { recursive: true });
        const entry: Entry = { format: FORMAT, key, shapes: [...shapes.values()] };
        writeFileSync(tmp, `${JSON.stringify(entry)}\n`);
        renameSync(tmp, file);
      } catch (err) {
        try {
          rmSync(tmp, { force: true });
        } catch {
          // nothing was written
        }
        warn(`cannot write the analysis cache entry ${file} (${(err as Error).message}); the next run measures the shapes again`);
        return;
      }
      try {
        prune();
      } catch {
        // a directory we cannot list keeps its entries
      }
    },
  };
}
