/**
 * A run binned by time, in bounded memory: per bin and strategy the requests, misses, energy
 * and latency sums and the configuration chosen most often; per bin the conditions in force at
 * its start (an energy figure of NaN, unknown, is left out of the bin's mean). Bins start `widthMs` wide; when there are more than `maxBins`, neighbours merge
 * and the width doubles, so any run length fits.
 */
import type { BenchResults } from "../contracts/benchResults.js";

interface Cell {
  requests: number;
  missed: number;
  /** requests with an energy figure (a live run's may lack one: NaN) */
  energyN: number;
  energy: number;
  latency: number;
  configs: Map<number, number>;
}

export class Timeline {
  private widthMs: number;
  private readonly maxBins: number;
  private readonly strategies: readonly string[];
  /** bins[b][s] */
  private bins: Cell[][] = [];
  private conds: ({ bandwidthMbps: number | null; serverWaitMs: number | null } | undefined)[] = [];

  constructor(strategies: readonly string[], opts: { widthMs?: number; maxBins?: number } = {}) {
    this.strategies = strategies;
    this.widthMs = opts.widthMs ?? 1000;
    this.maxBins = opts.maxBins ?? 200;
  }

  private cell(b: number, s: number): Cell {
    while (this.bins.length <= b) this.bins.push(this.strategies.map(() => ({ requests: 0, missed: 0, energyN: 0, energy: 0, latency: 0, configs: new Map() })));
    return (this.bins[b] as Cell[])[s] as Cell;
  }

  private shrink(): void {
    const merged: Cell[][] = [];
    const conds: typeof this.conds = [];
    for (let b = 0; b < this.bins.length; b += 2) {
      const x = this.bins[b] as Cell[];
      const y = this.bins[b + 1];
      conds.push(this.conds[b] ?? this.conds[b + 1]);
      if (y === undefined) {
        merged.push(x);
        continue;
      }
      merged.push(
        x.map((c, s) => {
          const d = y[s] as Cell;
          const configs = new Map(c.configs);
          for (const [k, v] of d.configs) configs.set(k, (configs.get(k) ?? 0) + v);
          return { requests: c.requests + d.requests, missed: c.missed + d.missed, energyN: c.energyN + d.energyN, energy: c.energy + d.energy, latency: c.latency + d.latency, configs };
        }),
      );
    }
    this.bins = merged;
    this.conds = conds;
    this.widthMs *= 2;
  }

  add(tMs: number, strategy: number, config: number, latencyMs: number, energyJ: number, missed: boolean, cond: { bandwidthMbps: number | null; serverWaitMs: number | null } | null): void {
    let b = Math.floor(Math.max(0, tMs) / this.widthMs);
    while (b >= this.maxBins) {
      this.shrink();
      b = Math.floor(Math.max(0, tMs) / this.widthMs);
    }
    const c = this.cell(b, strategy);
    c.requests++;
    if (missed) c.missed++;
    if (energyJ === energyJ) {
      c.energyN++;
      c.energy += energyJ;
    }
    c.latency += latencyMs;
    c.configs.set(config, (c.configs.get(config) ?? 0) + 1);
    if (cond !== null && this.conds[b] === undefined) this.conds[b] = cond;
  }

  rows(keys: readonly string[]): NonNullable<BenchResults["timeline"]> {
    const out: NonNullable<BenchResults["timeline"]> = [];
    this.bins.forEach((cells, b) => {
      const cond = this.conds[b];
      cells.forEach((c, s) => {
        if (c.requests === 0) return;
        let best = -1;
        let bestN = 0;
        for (const [k, v] of c.configs) if (v > bestN || (v === bestN && k < best)) [best, bestN] = [k, v];
        out.push({
          startMs: b * this.widthMs,
          endMs: (b + 1) * this.widthMs,
          strategy: this.strategies[s] as string,
          requests: c.requests,
          missed: c.missed,
          meanEnergyJ: c.energyN > 0 ? c.energy / c.energyN : null,
          meanLatencyMs: c.latency / c.requests,
          config: best < 0 ? null : (keys[best] ?? null),
          bandwidthMbps: cond?.bandwidthMbps ?? null,
          serverWaitMs: cond?.serverWaitMs ?? null,
        });
      });
    });
    return out;
  }
}
