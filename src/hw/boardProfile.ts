import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { env } from "../env.js";
import { UsageError } from "../errors.js";

const BoardProfileSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  power: z.object({
    idleW: z.number().nonnegative(),
    maxW: z.number().positive(),
    measured: z.boolean(),
    source: z.string().min(1),
  }),
});

export type BoardProfile = z.infer<typeof BoardProfileSchema>;

/** configs/boards of the installed package (src/hw and dist/hw are two levels below the root). */
export function boardsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "configs", "boards");
}

/**
 * Load a board profile by name (configs/boards/NAME.json) or path. Default: SPLITWATT_BOARD,
 * else generic-x86 on x64 and raspberry-pi-4 on arm64.
 */
export function boardProfile(nameOrPath?: string): BoardProfile {
  const wanted = nameOrPath ?? env().board ?? (process.arch === "arm64" || process.arch === "arm" ? "raspberry-pi-4" : "generic-x86");
  const path = wanted.includes("/") || wanted.endsWith(".json") ? resolve(wanted) : join(boardsDir(), `${wanted}.json`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`board profile "${wanted}" not found at ${path}: name one in ${boardsDir()} or give a path to a JSON file`, { path });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`board profile ${path} is not valid JSON: ${(err as Error).message}`, { path });
  }
  const parsed = BoardProfileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`board profile ${path}: ${issue?.path.join(".") ?? ""} ${issue?.message ?? "invalid"}`, { path });
  }
  if (parsed.data.power.maxW < parsed.data.power.idleW) throw new UsageError(`board profile ${path}: power.maxW is below power.idleW`, { path });
  return parsed.data;
}
