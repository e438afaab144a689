import type { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { cliNumber } from "./cliNumber.js";

/** Options every command that takes a MODEL shares. */
export const ModelOptions = z.object({
  inputShape: z.array(z.string()).default([]),
  inputSize: cliNumber(z.number().int().positive()).optional(),
  maxTensors: cliNumber(z.number().int().min(1).max(64)).default(4),
});

export function addModelOptions(c: Command): Command {
  return c
    .option("--input-shape <name=dims>", "concrete input shape where the model's is symbolic, e.g. x=1,3,48,192 (repeatable)", (v: string, prev: string[] = []) => [...prev, v])
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
