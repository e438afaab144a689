/**
 * A measured pool as the replay draws from it: every run (one row of a DynaSplit pool: the
 * means over its images) with its latency, energy by part and cost record, grouped by
 * configuration. A replayed request draws one run of the chosen configuration uniformly with
 * the seeded PRNG (DynaSplit's simulator samples one row of the configuration's rows), and
 * under a conditions trace that run is re-predicted by the cost model (its own breakdown,
 * bytes and energy parts, moved to the trace's bandwidth, RTT and server wait).
 */
import { canonicalConfigKey, type Measurement } from "../contracts/measurement.js";
import { entryOfRuns, type ParetoEntry } from "../contracts/paretoFile.js";
import type { TracePoint } from "../contracts/conditionsTrace.js";
import { UsageError } from "../errors.js";
import { measuredBandwidthMbps, predictCore, type LinkState } from "../predict/costModel.js";

export interface RunOutcome {
  latencyMs: number;
  energyJ: number;
  /** parts, NaN where unknown */
  deviceJ: number;
  networkJ: number;
  serverJ: number;
}

export class PoolRuns {
  /** dimension names of the pool's configurations, sorted */
  readonly dimensions: string[];
  readonly runs: number;
  readonly records: ParetoEntry[];
  private readonly byKey = new Map<string, Int32Array>();
  private readonly lat: Float64Array;
  private readonly tot: Float64Array;
  private readonly dev: Float64Array;
  private readonly net: Float64Array;
  private readonly srv: Float64Array;
  /** the energy sources of the runs' parts, as the pool records them */
  readonly energySources: string[];
  // under a trace: the outcome of each run at the trace point it was last predicted for
  private readonly cachedAt: Int32Array;
  private readonly cLat: Float64Array;
  private readonly cTot: Float64Array;
  private readonly cDev: Float64Array;
  private readonly cNet: Float64Array;
  private readonly cSrv: Float64Array;

  constructor(pool: readonly Measurement[]) {
    const first = pool[0];
    if (first === undefined) throw new UsageError("the pool has no measured runs; give a pool with at least one row");
    this.dimensions = Object.keys(first.config).sort();
    this.runs = pool.length;
    const n = pool.length;
    this.lat = new Float64Array(n);
    this.tot = new Float64Array(n);
    this.dev = new Float64Array(n);
    this.net = new Float64Array(n);
    this.srv = new Float64Array(n);
    this.cachedAt = new Int32Array(n).fill(-1);
    this.cLat = new Float64Array(n);
    this.cTot = new Float64Array(n);
    this.cDev = new Float64Array(n);
    this.cNet = new Float64Array(n);
    this.cSrv = new Float64Array(n);
    const groups = new Map<string, number[]>();
    const sources = new Set<string>();
    this.records = pool.map((m, i) => {
      const key = canonicalConfigKey(m.config);
      const g = groups.get(key) ?? [];
      g.push(i);
      groups.set(key, g);
      const e = entryOfRuns([m], { link: "replay", ...m.conditions });
      this.lat[i] = m.latencyMs.mean;
      this.tot[i] = m.energyJ.total ?? NaN;
      this.dev[i] = m.energyJ.device ?? NaN;
      this.net[i] = m.energyJ.network ?? NaN;
      this.srv[i] = m.energyJ.server ?? NaN;
      for (const s of Object.values(m.energySource)) if (s !== null) sources.add(s);
      return e;
    });
    this.energySources = [...sources].sort();
    for (const [k, g] of groups) this.byKey.set(k, Int32Array.from(g));
  }

  /** The run ids of a configuration (by canonical key), or undefined when the pool lacks it. */
  runsOf(key: string): Int32Array | undefined {
    return this.byKey.get(key);
  }

  get configurations(): number {
    return this.byKey.size;
  }

  /** The outcome of run `id` as measured (`point` null) or under trace point `point` (number `pointIndex`), into `out`. */
  outcome(id: number, point: TracePoint | null, pointIndex: number, out: RunOutcome): void {
    if (point === null) {
      out.latencyMs = this.lat[id] as number;
      out.energyJ = this.tot[id] as number;
      out.deviceJ = this.dev[id] as number;
      out.networkJ = this.net[id] as number;
      out.serverJ = this.srv[id] as number;
      return;
    }
    if (this.cachedAt[id] !== pointIndex) {
      const r = this.records[id] as ParetoEntry;
      const link: LinkState = {
        bandwidthMbps: point.bandwidthMbps ?? measuredBandwidthMbps(r) ?? Number.POSITIVE_INFINITY,
        rttMs: point.rttMs ?? r.conditions.rttMs ?? 0,
        serverWaitMs: point.serverWaitMs ?? r.conditions.serverWaitMs ?? 0,
      };
      const p = predictCore(r, link);
      // the run's own latency moved by the predicted change of its parts
      this.cLat[id] = Math.max(0, (this.lat[id] as number) + p.shiftMs);
      this.cTot[id] = p.energyJ.total;
      this.cDev[id] = p.energyJ.device ?? NaN;
      this.cNet[id] = p.energyJ.network ?? NaN;
      this.cSrv[id] = p.energyJ.server ?? NaN;
      this.cachedAt[id] = pointIndex;
    }
    out.latencyMs = this.cLat[id] as number;
    out.energyJ = this.cTot[id] as number;
    out.deviceJ = this.cDev[id] as number;
    out.networkJ = this.cNet[id] as number;
    out.serverJ = this.cSrv[id] as number;
  }
}
