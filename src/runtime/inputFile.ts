/**
 * Real input values from a file, for the paths that otherwise feed synthetic inputs (the shape
 * probe, verification, accuracy by agreement, profiling). Two forms of `--input-file`:
 *
 * - `FILE.json`: one object, input name -> a number, a bool, or (nested) arrays of them, one
 *   item (batch 1) in row-major order, e.g. `{ "sr": [16000], "x": [[0.1, 0.2], [0.3, 0.4]] }`;
 * - `NAME=FILE.npy`: one input from a NumPy .npy file (npy.ts), e.g. `mode=mode.npy`.
 *
 * Values are numbers (int64 exact up to 2^53; JSON bools are 0 and 1); how many an input needs
 * and which are valid for its type is checked against the model (checkInputValues).
 */
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.js";
import { parseNpy } from "./npy.js";

function read(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`${flag}: cannot read ${path} (${code}); give a JSON file of input values or NAME=FILE.npy`, { path });
  }
}

/** Flatten a JSON value of one input to its numbers; `where` names it in errors. */
function numbers(v: unknown, where: string, out: number[]): number[] {
  if (typeof v === "number") out.push(v);
  else if (typeof v === "boolean") out.push(v ? 1 : 0);
  else if (Array.isArray(v)) v.forEach((x, i) => numbers(x, `${where}[${i}]`, out));
  else throw new UsageError(`${where} is ${v === null ? "null" : typeof v}; give numbers (or nested arrays of numbers) per input`);
  return out;
}

/** The values in one `--input-file` argument, by input name. */
export function readInputFile(spec: string, flag = "--input-file"): Record<string, number[]> {
  const npy = /^(.+)=(.+\.npy)$/i.exec(spec);
  if (npy !== null) {
    const [, name, path] = npy as unknown as [string, string, string];
    const a = parseNpy(read(path, `${flag} ${spec}`), path);
    return { [name]: a.data };
  }
  if (/\.npy$/i.test(spec)) throw new UsageError(`${flag} ${spec}: an .npy file holds one input: give NAME=${spec}`);
  const text = read(spec, flag).toString("utf8");
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${flag} ${spec} is not valid JSON (${(err as Error).message}); give { "NAME": [numbers], ... }`, { path: spec });
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw new UsageError(`${flag} ${spec}: expected one JSON object { "NAME": [numbers], ... }`, { path: spec });
  return Object.fromEntries(Object.entries(data).map(([name, v]) => [name, numbers(v, `${flag} ${spec}: ${name}`, [])]));
}
