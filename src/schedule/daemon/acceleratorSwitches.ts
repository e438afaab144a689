/**
 * The head's accelerator switches as the daemon makes them, measured. Every head stays loaded
 * (ExecutorSet opens and warms each at start: session creation and shader compilation are paid
 * there, once), so a switch is a head run on another device target than the previous head run,
 * and what it costs is how much longer that first run took than the same head's steady run at
 * the same clocks:
 *
 *   steady(head, clocks)  exponentially weighted mean (weight 0.2) of the head's run times, over
 *                         runs that followed a run on the same target with no clock change
 *                         (seeded with the warm-up's steady time)
 *   excess                max(0, run ms - steady) for the first run after a target change;
 *                         not measured (null) while that head has no steady time at those clocks
 *   per target            the excess's weighted mean (0.2), last, max, switches counted
 *
 * Pure: the caller passes each head run's target, head key, clocks and time.
 */

export interface HeadRun {
  /** the head's device target (canonical: cpu, cpu:2, webgpu) */
  target: string;
  /** the head (its executor) and the clocks it ran at, e.g. `5|webgpu@1500/600` */
  key: string;
  /** the head session's run, ms */
  headMs: number;
  /** a CPU frequency or GPU clock change came just before this run (its time is not the accelerator's) */
  clocksChanged: boolean;
}

export interface TargetSwitches {
  /** switches to this target */
  switches: number;
  /** of which measured (a steady time was known) */
  measured: number;
  lastMs: number | null;
  meanMs: number | null;
  maxMs: number | null;
}

const WEIGHT = 0.2;
const ewma = (mean: number | null, x: number): number => (mean === null ? x : (1 - WEIGHT) * mean + WEIGHT * x);

export class AcceleratorSwitches {
  private last: string | null = null;
  private readonly steady = new Map<string, number>();
  private readonly targets = new Map<string, TargetSwitches>();
  private total = 0;

  /** A head's steady run time at given clocks (the warm-up's), before any request. */
  seed(key: string, steadyMs: number): void {
    if (Number.isFinite(steadyMs) && steadyMs >= 0) this.steady.set(key, steadyMs);
  }

  /** One head run: whether it switched the accelerator and the switch's measured excess, ms (null: not measured). */
  observe(run: HeadRun): { switched: boolean; ms: number | null } {
    const previous = this.last;
    this.last = run.target;
    const steady = this.steady.get(run.key);
    if (previous === null || previous === run.target) {
      if (!run.clocksChanged) this.steady.set(run.key, steady === undefined ? run.headMs : ewma(steady, run.headMs));
      return { switched: false, ms: null };
    }
    this.total++;
    const t = this.targets.get(run.target) ?? { switches: 0, measured: 0, lastMs: null, meanMs: null, maxMs: null };
    this.targets.set(run.target, t);
    t.switches++;
    if (steady === undefined || run.clocksChanged) return { switched: true, ms: null };
    const ms = Math.max(0, run.headMs - steady);
    t.measured++;
    t.lastMs = ms;
    t.meanMs = ewma(t.meanMs, ms);
    t.maxMs = Math.max(t.maxMs ?? 0, ms);
    return { switched: true, ms };
  }

  /** Switches since start, all targets. */
  get switches(): number {
    return this.total;
  }

  /** The target the last head ran on (null before the first). */
  get current(): string | null {
    return this.last;
  }

  /** Per target, what its switches measured. */
  byTarget(): Record<string, TargetSwitches> {
    return Object.fromEntries([...this.targets].map(([k, v]) => [k, { ...v }]));
  }
}
