/**
 * `splitwatt bench`'s options (one schema), the strategy list and the policy options they
 * share, and the progress line.
 */
import { z } from "zod";
import { env } from "../env.js";
import { UsageError } from "../errors.js";
import { cliNumber } from "./cliNumber.js";
import { POLICY_NAMES } from "../schedule/policies/index.js";

/** The default strategy list: the eight (static needs --static-config, so it is left out). */
export const DEFAULT_STRATEGIES = ["cloud-only", "edge-only", "static-fastest", "static-min-energy", "neurosurgeon", "dynasplit", "splitwatt", "random"] as const;

const num = (flag: string) => cliNumber(z.number({ error: `${flag} takes a number` }));

export const BenchOptions = z.object({
  replay: z.string().min(1).optional(),
  workload: z.string().min(1).optional(),
  front: z.string().min(1).optional(),
  network: z.string().min(1).optional(),
  strategies: z.string().default(DEFAULT_STRATEGIES.join(",")),
  seed: cliNumber(z.number().int("--seed takes a whole number").min(0).max(0xffffffff)).default(1),
  out: z.string().min(1).optional(),
  perRequest: z.boolean().default(false),
  bandwidthTrace: z.string().min(1).optional(),
  loadTrace: z.string().min(1).optional(),
  intervalMs: cliNumber(z.number().nonnegative("--interval-ms must be >= 0")).default(1000),
  target: num("--target").optional(),
  minSamples: cliNumber(z.number().int("--min-samples takes a whole number").positive()).optional(),
  cvFloor: num("--cv-floor").optional(),
  hysteresis: num("--hysteresis").optional(),
  staticConfig: z.string().min(1).optional(),
  minAccuracy: cliNumber(z.number().min(0).max(1, "--min-accuracy is a fraction in [0, 1], e.g. 0.6")).optional(),
  reproduce: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  seeds: z.string().optional(),
  daemon: z.union([z.string().min(1), z.literal(true)]).optional(),
  model: z.string().min(1).optional(),
  daemonConfig: z.string().min(1).optional(),
  link: z.enum(["auto", "kernel", "app", "none"], { error: "give auto, kernel, app or none" }).optional(),
  pace: z.enum(["arrival", "back-to-back"], { error: "give arrival or back-to-back" }).optional(),
  threads: cliNumber(z.number().int("--threads takes a whole number").min(1, "--threads takes 1 or more")).optional(),
  json: z.boolean().default(false),
});
export type BenchCliOptions = z.infer<typeof BenchOptions>;

/** `--strategies a,b,c` checked against the policy names. */
export function parseStrategies(spec: string, o: Pick<BenchCliOptions, "staticConfig">): string[] {
  const list = spec.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (list.length === 0) throw new UsageError(`--strategies is empty; give a comma-separated list of ${POLICY_NAMES.join(", ")}`);
  for (const s of list) {
    if (!(POLICY_NAMES as readonly string[]).includes(s)) throw new UsageError(`--strategies: unknown strategy "${s}"; use a comma-separated list of ${POLICY_NAMES.join(", ")}`);
  }
  if (new Set(list).size !== list.length) throw new UsageError(`--strategies "${spec}" lists a strategy twice; list each once`);
  if (list.includes("static") && o.staticConfig === undefined) throw new UsageError("strategy static needs --static-config dim=value,... (a configuration of the front's archive)");
  return list;
}

/** The policy options the flags give (only those given; the policies' schema supplies the rest). */
export function policyOptions(o: BenchCliOptions): Record<string, unknown> {
  const out: Record<string, unknown> = { seed: o.seed };
  if (o.target !== undefined) out.target = o.target;
  if (o.minSamples !== undefined) out.minSamples = o.minSamples;
  if (o.cvFloor !== undefined) out.cvFloor = o.cvFloor;
  if (o.hysteresis !== undefined) out.hysteresis = o.hysteresis;
  if (o.staticConfig !== undefined) out.config = o.staticConfig;
  return out;
}

/** Progress on stderr: an updating line on a TTY, a plain line every 5 s otherwise. */
export function benchProgress(what: string): { update(requests: number): void; done(requests: number): void } {
  const tty = process.stderr.isTTY === true && !env().ci;
  const t0 = performance.now();
  let last = t0;
  const line = (n: number) => {
    const s = (performance.now() - t0) / 1000;
    return `${what}: ${n} requests, ${s.toFixed(1)} s (${Math.round(n / Math.max(s, 1e-3))}/s)`;
  };
  return {
    update(n) {
      const now = performance.now();
      if (now - last < (tty ? 200 : 5000)) return;
      last = now;
      process.stderr.write(tty ? `\r${line(n)}\x1b[K` : `${line(n)}\n`);
    },
    done(n) {
      if (tty) process.stderr.write(`\r${line(n)}\x1b[K\n`);
    },
  };
}
