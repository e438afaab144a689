/**
 * The model zoo: the standard split-computing networks (VGG16, ResNet-18/50, MobileNetV2, and
 * two tiny nets for tests) written as ONNX (opset 17, IR 8, NCHW float32) with torchvision's
 * layer shapes and deterministic seeded random weights. Input `input` [N,3,S,S], output
 * `logits` [N,classes]; every intermediate tensor has a value_info with its shape.
 */
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { open, rename, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { env } from "../../env.js";
import { IoError } from "../../errors.js";
import { outputDir } from "../../outputDir.js";
import { checkInputSize, lazyZooModel, ZOO_MODELS, zooModel } from "./registry.js";

export interface ZooEntry {
  name: string;
  description: string;
  defaultInputSize: number;
  params(inputSize?: number): number;
}

export function zooList(): ZooEntry[] {
  return ZOO_MODELS.map((m) => ({
    name: m.name,
    description: m.description,
    defaultInputSize: m.defaultInputSize,
    params: (inputSize?: number) => m.build(checkInputSize(m, inputSize)).paramCount(),
  }));
}

/** Build `name` (deterministic) and return the ONNX bytes. Throws UsageError (from src/errors.ts) for an unknown name or bad input size, listing the valid ones. */
export function zooBuild(name: string, opts: { inputSize?: number; seed?: number } = {}): Uint8Array {
  const lazy = lazyZooModel(name, opts);
  const out = new Uint8Array(lazy.byteLength);
  let pos = 0;
  for (const chunk of lazy.chunks()) {
    out.set(chunk, pos);
    pos += chunk.length;
  }
  if (pos !== out.length) throw new Error(`internal: ${name} serialised to ${pos} bytes, expected ${out.length}`);
  return out;
}

/** models/cache under the package root (src/model/zoo or dist/model/zoo -> ../../..). */
function defaultCacheDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "models", "cache");
}

/** True when `path` is a complete model this builder would write: same size, same non-weight bytes. */
function isCurrent(path: string, byteLength: number, prefix: Uint8Array): boolean {
  let fd: number | undefined;
  try {
    if (statSync(path).size !== byteLength) return false;
    fd = openSync(path, "r");
    const head = Buffer.alloc(prefix.length);
    return readSync(fd, head, 0, head.length, 0) === head.length && head.equals(prefix);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Build into the cache dir if missing (atomic write: tmp + rename) and return the path:
 * `${cacheDir}/${name}-${inputSize}.onnx`. Default cacheDir: `models/cache` under the package
 * root, overridable by opts.cacheDir or SPLITWATT_MODEL_CACHE. A cached file whose size or
 * graph (metadata, nodes, value_info: everything before the weights) differs from what this
 * builder produces, e.g. one from an older builder, is rebuilt. The weights are generated while
 * writing, 4 MB at a time, so memory stays small even for VGG16.
 */
export async function zooPath(name: string, opts: { inputSize?: number; cacheDir?: string; onProgress?: (msg: string) => void } = {}): Promise<string> {
  const m = zooModel(name);
  const inputSize = checkInputSize(m, opts.inputSize);
  const dir = resolve(opts.cacheDir ?? env().modelCache ?? defaultCacheDir());
  const path = join(dir, `${m.name}-${inputSize}.onnx`);
  const lazy = lazyZooModel(m.name, { inputSize });
  if (isCurrent(path, lazy.byteLength, lazy.prefix)) return path;

  const progress = opts.onProgress;
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  progress?.(`building ${m.name} (input ${inputSize}, ${mb(lazy.params)} M params, ${mb(lazy.byteLength)} MB) into ${path}`);
  const t0 = performance.now();
  outputDir(dir, "the model cache (set SPLITWATT_MODEL_CACHE to another directory)");
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const fh = await open(tmp, "w");
    try {
      let written = 0;
      let nextReport = 0.25;
      for (const chunk of lazy.chunks()) {
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        written += chunk.length;
        if (lazy.byteLength > 50e6 && written / lazy.byteLength >= nextReport && nextReport < 1) {
          progress?.(`  ${m.name}: ${Math.round(nextReport * 100)}%`);
          nextReport += 0.25;
        }
      }
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new IoError(`cannot write ${path} (${(err as Error).message}): check free space and permissions, or set SPLITWATT_MODEL_CACHE`, { path, cause: err });
  }
  progress?.(`built ${path} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return path;
}
