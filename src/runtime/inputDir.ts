/**
 * Inputs of a stream from a directory (`splitwatt run MODEL --stream DIR`), read one file at a
 * time as the pipeline asks for them, in file-name order:
 *
 *   *.png           an image for PaddleOCR's text-direction classifier (paddle:cls), decoded
 *                   (decodePng.ts) and preprocessed as PaddleOCR does (preprocessCls)
 *   *.npy           a tensor for a model with one input (numpy.save; float64 becomes float32)
 *   *.json          { "shape": [...], "data": [...] } for a model with one input, or
 *                   { "<input>": { "shape": [...], "data": [...] }, ... } for several
 *
 * A tensor's shape is the model's input shape at any batch size: a file with n rows gives n
 * items. JPEG is not decoded (no decoder without a native dependency): convert to PNG. Other
 * files are skipped, and the count of skipped files is reported.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { extname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { UsageError } from "../errors.js";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { preprocessCls } from "../model/evalset/preprocessCls.js";
import { sliceRows } from "./batchRows.js";
import { decodePng } from "./decodePng.js";
import { parseNpy } from "./npy.js";

export interface InputItem {
  /** the file, and the row within it when it held several */
  name: string;
  feeds: Record<string, ort.Tensor>;
}

export interface InputDir {
  files: string[];
  /** files of other kinds, not read */
  skipped: number;
}

const READ = new Set([".png", ".npy", ".json", ".jpg", ".jpeg"]);

/** The files of `dir` that are inputs, sorted by name. */
export function listInputDir(dir: string): InputDir {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new UsageError(`cannot read --stream ${dir} (${(e as NodeJS.ErrnoException).code ?? "error"}): give a directory of .png, .npy or .json inputs`, { path: dir });
  }
  const files = names
    .filter((n) => !n.startsWith(".") && READ.has(extname(n).toLowerCase()))
    .filter((n) => statSync(join(dir, n)).isFile())
    .sort();
  if (files.length === 0) throw new UsageError(`--stream ${dir} has no .png, .npy or .json inputs`, { path: dir });
  return { files, skipped: names.length - files.length };
}

/** What kind of inputs the model takes from a directory: PaddleOCR images, or tensors. */
export type InputKind = "paddle-cls-images" | "tensors";

function toTensor(a: ModelAnalysis, input: string, data: ArrayLike<number> | Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array, shape: number[], file: string): ort.Tensor {
  const s = a.shapes.get(input);
  const want = a.inputShapes[input] ?? s?.shape ?? [];
  const batch = s?.batchDims ?? want.map((_, i) => i === 0);
  if (shape.length !== want.length || shape.some((d, i) => batch[i] !== true && d !== want[i])) {
    throw new UsageError(`${file}: input ${input} has shape [${shape.join(",")}], the model takes [${want.map((d, i) => (batch[i] === true ? "N" : d)).join(",")}]`);
  }
  const n = shape.reduce((x, y) => x * y, 1);
  if (data.length !== n) throw new UsageError(`${file}: input ${input} has ${data.length} values, shape [${shape.join(",")}] needs ${n}`);
  const dtype = s?.dtype ?? "float32";
  if (dtype === "float32") return new ort.Tensor("float32", data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>, Number), shape);
  if (dtype === "int64") return new ort.Tensor("int64", data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data as ArrayLike<number>, (v) => BigInt(Math.trunc(Number(v))))), shape);
  if (dtype === "int32") return new ort.Tensor("int32", data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>, Number), shape);
  throw new UsageError(`${file}: input ${input} is ${dtype}; files give float32, int64 or int32 inputs`);
}

function tensorsOf(a: ModelAnalysis, path: string, name: string): Record<string, ort.Tensor> {
  const ext = extname(name).toLowerCase();
  const inputs = a.graph.inputs;
  const only = (): string => {
    if (inputs.length !== 1) throw new UsageError(`${name}: the model has ${inputs.length} inputs (${inputs.join(", ")}); give a .json file with one entry per input`);
    return inputs[0] as string;
  };
  if (ext === ".jpg" || ext === ".jpeg") throw new UsageError(`${name}: JPEG is not decoded here (no decoder without a native dependency); convert it to PNG`);
  if (ext === ".npy") {
    const arr = parseNpy(readFileSync(path), name);
    return { [only()]: toTensor(a, only(), arr.data, arr.shape, name) };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UsageError(`${name} is not valid JSON (${(e as Error).message.split("\n")[0]}): give { "shape": [...], "data": [...] }`);
  }
  const entry = (v: unknown, input: string): ort.Tensor => {
    const e = v as { shape?: unknown; data?: unknown };
    if (typeof e !== "object" || e === null || !Array.isArray(e.shape) || !Array.isArray(e.data)) throw new UsageError(`${name}: input ${input} needs { "shape": [...], "data": [...] }`);
    return toTensor(a, input, e.data as number[], e.shape as number[], name);
  };
  const d = doc as Record<string, unknown>;
  if (typeof d === "object" && d !== null && "shape" in d && "data" in d) return { [only()]: entry(d, only()) };
  return Object.fromEntries(
    inputs.map((i) => {
      if (!(typeof d === "object" && d !== null && i in d)) throw new UsageError(`${name}: no entry for input ${i} (the model takes ${inputs.join(", ")})`);
      return [i, entry(d[i], i)];
    }),
  );
}

/** The inputs of `dir`'s files for model `a`, one item per row. */
export async function* inputDirItems(dir: string, a: ModelAnalysis, kind: InputKind, files = listInputDir(dir).files): AsyncGenerator<InputItem> {
  for (const name of files) {
    const path = join(dir, name);
    if (extname(name).toLowerCase() === ".png") {
      if (kind !== "paddle-cls-images") throw new UsageError(`${name}: images are read for paddle:cls only; give this model .npy or .json tensors`);
      const img = decodePng(readFileSync(path), name);
      const input = a.graph.inputs[0] as string;
      yield { name, feeds: { [input]: new ort.Tensor("float32", preprocessCls(img.rgba, img.width, img.height), [1, 3, 48, 192]) } };
      continue;
    }
    const feeds = tensorsOf(a, path, name);
    const rows = Object.values(feeds)[0]?.dims[0] ?? 1;
    for (const t of Object.values(feeds)) if (t.dims[0] !== rows) throw new UsageError(`${name}: every input needs the same number of rows`);
    if (rows === 1) yield { name, feeds };
    else for (let r = 0; r < rows; r++) yield { name: `${name}#${r}`, feeds: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, sliceRows(t, r, 1)])) };
  }
}
