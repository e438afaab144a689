import type { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { cliNumber } from "./cliNumber.js";

/** Options every command that takes a MODEL shares. */
export const ModelOptions = z.object({
  inputShape: z.array(z.string()).default([]),
  inputValues: z.array(z.string()).default([]),
  inputFile: z.array(z.string()).default([]),
  inputSize: cliNumber(z.number().int().positive()).optional(),
  maxTensors: cliNumber(z.number().int().min(1).max(64)).default(4),
});

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** --input-shape, --input-values and --input-file (measure and optimize add them without --max-tensors). */
export function addModelInputOptions(c: Command): Command {
  return c
    .option("--input-shape <name=dims>", "concrete input shape where the model's is symbolic, e.g. x=1,3,48,192; a batch other than 1 is the batch to analyse at (repeatable)", collect)
    .option("--input-values <name=values>", "one item's values for an input instead of synthetic ones, e.g. sr=16000 (repeatable)", collect)
    .option("--input-file <file>", "input values from FILE.json ({ name: numbers or nested arrays }) or NAME=FILE.npy (repeatable)", collect);
}

export function addModelOptions(c: Command): Command {
  return addModelInputOptions(c)
    .option("--input-size <n>", "input size for zoo models (default 224)")
    .option("--max-tensors <n>", "largest number of tensors a listed cut may carry", "4");
}

export function parseInputShapes(specs: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(s);
    if (m === null) throw new UsageError(`--input-shape ${s}: expected NAME=D1,D2,... with positive integers, e.g. x=1,3,48,192`);
    out[m[1] as string] = (m[2] as string).split(",").map(Number);
  }
  return out;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** `--input-values NAME=v1,v2,...` (the name ends at the last "="). */
export function parseInputValues(specs: string[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const i = s.lastIndexOf("=");
    const name = s.slice(0, i);
    const tokens = s.slice(i + 1).split(",").map((t) => t.trim());
    const badToken = tokens.find((t) => !NUMBER.test(t));
    if (i <= 0 || badToken !== undefined) throw new UsageError(`--input-values ${s}: expected NAME=V1,V2,... with numbers${badToken === undefined ? "" : ` ("${badToken}" is not one)`}, e.g. sr=16000`);
    if (out[name] !== undefined) throw new UsageError(`--input-values ${name} is given twice: give each input once`);
    out[name] = tokens.map(Number);
  }
  return out;
}
