/** The daemon's recent decisions (a ring for /v1/status) and its running counts: hits, misses, fallbacks. */

export interface DecisionRecord {
  id: number;
  /** ISO time the answer was ready */
  at: string;
  policy: string;
  configKey: string;
  deadlineMs: number;
  latencyMs: number;
  predictedLatencyMs: number;
  probability: number;
  feasible: boolean;
  deadlineMet: boolean;
  fallback: string | null;
  energyJ: number | null;
  deviceEnergySource: string | null;
}

export interface DecisionCounts {
  total: number;
  hits: number;
  misses: number;
  /** hits / total (null before the first) */
  hitRate: number | null;
  fallbacks: number;
  infeasible: number;
}

export class DecisionLog {
  private readonly ring: DecisionRecord[] = [];
  private readonly counts = { total: 0, hits: 0, misses: 0, fallbacks: 0, infeasible: 0 };

  constructor(private readonly keep: number) {}

  add(r: DecisionRecord): void {
    this.ring.push(r);
    if (this.ring.length > this.keep) this.ring.shift();
    this.counts.total++;
    if (r.deadlineMet) this.counts.hits++;
    else this.counts.misses++;
    if (r.fallback !== null) this.counts.fallbacks++;
    if (!r.feasible) this.counts.infeasible++;
  }

  /** A recent record by id (a meter's settled energy arrives after the answer). */
  find(id: number): DecisionRecord | undefined {
    for (let i = this.ring.length - 1; i >= 0; i--) if (this.ring[i]?.id === id) return this.ring[i];
    return undefined;
  }

  recent(): DecisionRecord[] {
    return this.ring.map((r) => ({ ...r }));
  }

  summary(): DecisionCounts {
    const c = this.counts;
    return { ...c, hitRate: c.total === 0 ? null : c.hits / c.total };
  }
}
