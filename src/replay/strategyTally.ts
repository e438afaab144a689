/**
 * What a benchmark keeps of one strategy's requests, in bounded memory: sums for the means,
 * quantile sketches for the medians and percentiles, the misses, and a count per chosen
 * configuration (by its index in the run's configuration list). Replay and live runs share it.
 * A request whose energy is unknown (NaN: a live meter's figure still pending) counts in every
 * figure but the energy ones, which are over the requests with a figure (`energyUnknown` says
 * how many had none); a configuration index past the list grows it (a live daemon's choice the
 * pareto file lacks).
 */
import type { SourceLabel, StrategyResult } from "../contracts/benchResults.js";
import { QuantileSketch } from "./quantileSketch.js";

/** The probabilities the latency CDF is kept at (0, 0.005, ..., 1: 201 points). */
export const CDF_POINTS = Array.from({ length: 201 }, (_, i) => i / 200);

export class StrategyTally {
  readonly name: string;
  requests = 0;
  missed = 0;
  infeasible = 0;
  fallbacks = 0;
  /** requests without an energy figure (left out of the energy means and medians) */
  energyUnknown = 0;
  private energySum = 0;
  private latencySum = 0;
  private readonly partSum = [0, 0, 0];
  private readonly partKnown = [0, 0, 0];
  private readonly latency = new QuantileSketch();
  private readonly energy = new QuantileSketch();
  private readonly miss = new QuantileSketch();
  /** count per configuration index */
  private decisions: Int32Array;

  constructor(name: string, configurations: number) {
    this.name = name;
    this.decisions = new Int32Array(configurations);
  }

  /** One request: its deadline, the configuration index chosen, what it took (parts NaN where unknown). */
  add(deadlineMs: number, config: number, latencyMs: number, energyJ: number, deviceJ: number, networkJ: number, serverJ: number, feasible: boolean): void {
    this.requests++;
    if (energyJ === energyJ) {
      this.energySum += energyJ;
      this.energy.add(energyJ);
    } else this.energyUnknown++;
    this.latencySum += latencyMs;
    if (deviceJ === deviceJ) {
      this.partSum[0] = (this.partSum[0] as number) + deviceJ;
      this.partKnown[0] = (this.partKnown[0] as number) + 1;
    }
    if (networkJ === networkJ) {
      this.partSum[1] = (this.partSum[1] as number) + networkJ;
      this.partKnown[1] = (this.partKnown[1] as number) + 1;
    }
    if (serverJ === serverJ) {
      this.partSum[2] = (this.partSum[2] as number) + serverJ;
      this.partKnown[2] = (this.partKnown[2] as number) + 1;
    }
    this.latency.add(latencyMs);
    if (latencyMs > deadlineMs) {
      this.missed++;
      this.miss.add(latencyMs - deadlineMs);
    }
    if (!feasible) this.infeasible++;
    if (config >= this.decisions.length) {
      const grown = new Int32Array(Math.max(config + 1, 2 * this.decisions.length));
      grown.set(this.decisions);
      this.decisions = grown;
    }
    this.decisions[config] = (this.decisions[config] as number) + 1;
  }

  /** The strategy's figures; `keys` names the configuration indices; energyVsCloudPct is filled in by the caller. */
  result(keys: readonly string[], sourceLabel: SourceLabel, energySources: readonly string[]): StrategyResult {
    const n = this.requests;
    const part = (i: number): number | null => (n > 0 && this.partKnown[i] === n ? (this.partSum[i] as number) / n : null);
    const withEnergy = n - this.energyUnknown;
    const [p50, p95, p99] = this.latency.quantiles([0.5, 0.95, 0.99]);
    const decisions: Record<string, number> = {};
    this.decisions.forEach((c, i) => {
      if (c > 0) decisions[keys[i] as string] = c;
    });
    const cdf = this.latency.quantiles(CDF_POINTS);
    return {
      name: this.name,
      requests: n,
      meanEnergyJ: withEnergy > 0 ? this.energySum / withEnergy : null,
      medianEnergyJ: this.energy.quantile(0.5),
      energyByPartJ: { device: part(0), network: part(1), server: part(2) },
      sourceLabel,
      energySources: [...energySources],
      meanLatencyMs: n > 0 ? this.latencySum / n : null,
      p50LatencyMs: p50 ?? null,
      p95LatencyMs: p95 ?? null,
      p99LatencyMs: p99 ?? null,
      missed: this.missed,
      missedRate: n > 0 ? this.missed / n : 0,
      medianMissMs: this.miss.quantile(0.5),
      energyVsCloudPct: null,
      infeasible: this.infeasible,
      fallbacks: this.fallbacks,
      decisions,
      latencyCdf: n > 0 ? { p: CDF_POINTS, latencyMs: cdf as number[] } : { p: [], latencyMs: [] },
      exactQuantiles: this.latency.isExact && this.energy.isExact && this.miss.isExact,
    };
  }
}

/** Fill in energyVsCloudPct against the strategy named `cloud-only` (null when there is none). */
export function withCloudComparison(results: StrategyResult[]): StrategyResult[] {
  const cloud = results.find((r) => r.name === "cloud-only")?.meanEnergyJ ?? null;
  return results.map((r) => ({
    ...r,
    energyVsCloudPct: cloud === null || cloud === 0 || r.meanEnergyJ === null ? null : (100 * (r.meanEnergyJ - cloud)) / cloud,
  }));
}
