import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { env } from "../env.js";
import { UsageError } from "../errors.js";

/**
 * How full-load power depends on the CPU frequency (see src/hw/powerModel.ts for the formula):
 * - `linear-util-freq`: g(f) = (f / fmax)^alpha;
 * - `util-freq-table`: full-load watts per frequency (published or measured), interpolated.
 */
const PowerModelSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("linear-util-freq"),
    alpha: z.number().positive().max(4),
    measured: z.boolean(),
    source: z.string().min(1),
  }),
  z.object({
    kind: z.literal("util-freq-table"),
    fullLoadW: z.array(z.object({ freqMHz: z.number().positive(), watts: z.number().positive() })).min(2),
    measured: z.boolean(),
    source: z.string().min(1),
  }),
]);

/**
 * The GPU-active term (see gpuActivePowerW in src/hw/powerModel.ts): extra whole-board power while
 * the GPU is busy, on top of the CPU model.
 */
const GpuPowerSchema = z.object({
  /** the GPU, e.g. "VideoCore VII (V3D 7.1)" */
  name: z.string().min(1),
  /** extra whole-board power with the GPU fully busy at maxMHz, W */
  activeW: z.number().nonnegative(),
  /** the GPU clock at which activeW holds (the top of its range); without it the term is frequency-blind */
  maxMHz: z.number().positive().optional(),
  /** exponent of the clock scaling (f / maxMHz)^alpha, as power.model's; default 1 */
  alpha: z.number().positive().max(4).optional(),
  measured: z.boolean(),
  source: z.string().min(1),
});

const BoardProfileSchema = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  /** the CPU the power model refers to (optional: profiles without it are frequency-blind) */
  cpu: z
    .object({
      cores: z.number().int().positive(),
      /** the CPU architectures (Node's process.arch names, e.g. arm64, arm, x64) the board runs */
      arch: z.array(z.string().min(1)).min(1).optional(),
      /** the DVFS steps the board offers, MHz, ascending */
      frequenciesMHz: z.array(z.number().positive()).min(1),
      /** the frequency at which power.maxW was measured (the largest step) */
      maxMHz: z.number().positive(),
      source: z.string().min(1).optional(),
    })
    .optional(),
  power: z.object({
    /** whole-board power at idle, W */
    idleW: z.number().nonnegative(),
    /** whole-board power with every core busy at cpu.maxMHz, W */
    maxW: z.number().positive(),
    measured: z.boolean(),
    source: z.string().min(1),
    /** every publication a figure of this profile comes from (title and URL) */
    sources: z.array(z.string().min(1)).optional(),
    model: PowerModelSchema.optional(),
  }),
  /** the GPU-active term (optional: profiles without it count no GPU power) */
  gpu: GpuPowerSchema.optional(),
});

export type BoardProfile = z.infer<typeof BoardProfileSchema>;
export type BoardPowerModel = z.infer<typeof PowerModelSchema>;
export type BoardGpuPower = z.infer<typeof GpuPowerSchema>;

/** configs/boards of the installed package (src/hw and dist/hw are two levels below the root). */
export function boardsDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "configs", "boards");
}

/** Names of the shipped board profiles (configs/boards/*.json), sorted. */
export function listBoardProfiles(): string[] {
  try {
    return readdirSync(boardsDir())
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
  } catch {
    return [];
  }
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
    throw new UsageError(`board profile "${wanted}" not found at ${path}: name one of ${listBoardProfiles().join(", ") || "(none shipped)"} (${boardsDir()}) or give a path to a JSON file`, { path });
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
  const problem = profileProblem(parsed.data);
  if (problem !== null) throw new UsageError(`board profile ${path}: ${problem}`, { path });
  return parsed.data;
}

/** What is inconsistent in a schema-valid profile, or null. */
function profileProblem(p: BoardProfile): string | null {
  if (p.power.maxW < p.power.idleW) return "power.maxW is below power.idleW: fix the figures";
  const cpu = p.cpu;
  if (cpu !== undefined) {
    const f = cpu.frequenciesMHz;
    if (f.some((x, i) => i > 0 && x <= (f[i - 1] as number))) return "cpu.frequenciesMHz must be strictly ascending";
    if (f[f.length - 1] !== cpu.maxMHz) return `cpu.maxMHz (${cpu.maxMHz}) must be the largest of cpu.frequenciesMHz (${f[f.length - 1]})`;
  }
  const m = p.power.model;
  if (m?.kind === "util-freq-table") {
    if (cpu === undefined) return "power.model util-freq-table needs a cpu block with maxMHz";
    const t = m.fullLoadW;
    if (t.some((x, i) => i > 0 && x.freqMHz <= (t[i - 1] as { freqMHz: number }).freqMHz)) return "power.model.fullLoadW must be ordered by ascending freqMHz";
    if (t.some((x, i) => i > 0 && x.watts < (t[i - 1] as { watts: number }).watts)) return "power.model.fullLoadW watts must not fall as the frequency rises";
    const last = t[t.length - 1] as { freqMHz: number; watts: number };
    if (last.freqMHz !== cpu.maxMHz || last.watts !== p.power.maxW) return `the last power.model.fullLoadW entry must be cpu.maxMHz (${cpu.maxMHz}) at power.maxW (${p.power.maxW})`;
    if (t.some((x) => x.watts < p.power.idleW)) return "power.model.fullLoadW has an entry below power.idleW";
  }
  return null;
}
