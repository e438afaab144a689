/**
 * Generated bandwidth traces (conditions traces with a BandwidthMbps column, see
 * contracts/conditionsTrace.ts):
 *
 *   step:  the levels in turn, each held `everyMs` (100 -> 5 -> 100 Mbit/s: an outage and back)
 *   walk:  a random walk from `startMbps`, one step every `everyMs` for `durationMs`, each step
 *          uniform in [-stepMbps, +stepMbps] (seeded mulberry32), reflected at `minMbps` and
 *          `maxMbps` so it stays inside them
 */
import type { ConditionsTrace } from "../contracts/conditionsTrace.js";
import { UsageError } from "../errors.js";
import { mulberry32 } from "../mulberry32.js";

export function stepTrace(levelsMbps: readonly number[], everyMs: number): ConditionsTrace {
  if (levelsMbps.length === 0 || levelsMbps.some((x) => !(x > 0) || !Number.isFinite(x))) throw new UsageError(`--levels-mbps takes bandwidths > 0 separated by commas, e.g. 100,5,100`);
  if (!(everyMs > 0)) throw new UsageError(`--every-ms must be > 0 (how long each level holds), got ${everyMs}`);
  return { figures: ["BandwidthMbps"], points: levelsMbps.map((b, i) => ({ timeMs: i * everyMs, bandwidthMbps: b, rttMs: null, serverWaitMs: null })) };
}

export interface WalkOptions {
  startMbps: number;
  minMbps: number;
  maxMbps: number;
  stepMbps: number;
  everyMs: number;
  durationMs: number;
  seed: number;
}

export function walkTrace(o: WalkOptions): ConditionsTrace {
  if (!(o.minMbps > 0) || !(o.maxMbps >= o.minMbps)) throw new UsageError(`--min-mbps and --max-mbps must satisfy 0 < min <= max, got ${o.minMbps} and ${o.maxMbps}`);
  if (!(o.startMbps >= o.minMbps && o.startMbps <= o.maxMbps)) throw new UsageError(`--start-mbps must lie in [--min-mbps, --max-mbps], got ${o.startMbps}`);
  if (!(o.stepMbps >= 0) || !(o.everyMs > 0) || !(o.durationMs >= 0)) throw new UsageError(`--step-mbps must be >= 0, --every-ms > 0 and --duration-ms >= 0`);
  const steps = Math.floor(o.durationMs / o.everyMs);
  if (steps > 10_000_000) throw new UsageError(`--duration-ms / --every-ms gives ${steps} steps; use at most 10,000,000 (a larger --every-ms)`);
  const rng = mulberry32(o.seed);
  const span = o.maxMbps - o.minMbps;
  let b = o.startMbps;
  const points: ConditionsTrace["points"] = [];
  for (let i = 0; i <= steps; i++) {
    points.push({ timeMs: i * o.everyMs, bandwidthMbps: b, rttMs: null, serverWaitMs: null });
    let next = b + (2 * rng() - 1) * o.stepMbps;
    // reflect at the bounds (a step larger than the span folds back and forth)
    if (span === 0) next = o.minMbps;
    else {
      let x = (next - o.minMbps) % (2 * span);
      if (x < 0) x += 2 * span;
      next = o.minMbps + (x > span ? 2 * span - x : x);
    }
    b = Math.min(o.maxMbps, Math.max(o.minMbps, next));
  }
  return { figures: ["BandwidthMbps"], points };
}
