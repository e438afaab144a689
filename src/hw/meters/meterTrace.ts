/**
 * What an external meter has said so far: its readings (time, W) in time order and its gaps.
 * Pure: times come from the caller (the meter kind stamps them with its clock or takes the
 * meter's own timestamps).
 *
 * A failure (timeout, unparsable reading, negative power, a timestamp going backwards, a dead
 * command) opens a gap at the last good reading; the next good reading closes it. So a gap is
 * exactly the time nobody knows the power, and src/hw/meters/meterEnergy.ts gives no figure for
 * a window that overlaps one. One warning per streak of failures, one when readings resume.
 */

export interface MeterSample {
  /** meter clock, epoch ms (sub-ms resolution) */
  tMs: number;
  watts: number;
}

/** Unknown power from `fromMs` (the last good reading, -Infinity before any) to `toMs` (the next good one, null while still failing). */
export interface MeterGap {
  fromMs: number;
  toMs: number | null;
}

export interface MeterTraceView {
  readonly samples: readonly MeterSample[];
  readonly gaps: readonly MeterGap[];
}

/** At most this many readings are kept (with the time limit, whichever is hit first). */
const MAX_SAMPLES = 1_000_000;

export class MeterTrace implements MeterTraceView {
  private readonly s: MeterSample[] = [];
  private readonly g: MeterGap[] = [];
  private streak = 0;

  /**
   * @param label the meter as outputs show it
   * @param warn receives one line per failure streak and per resumption
   * @param retainMs readings older than the newest minus this are dropped (long-running daemons),
   *   as are the oldest when there are more than a million
   */
  constructor(
    private readonly label: string,
    private readonly warn: (line: string) => void,
    private readonly retainMs = 6 * 3600_000,
  ) {}

  get samples(): readonly MeterSample[] {
    return this.s;
  }

  get gaps(): readonly MeterGap[] {
    return this.g;
  }

  get failing(): boolean {
    return this.streak > 0;
  }

  /** A reading; an invalid one (not finite, negative, stamped at or before the previous) is a failure. Returns whether it was kept. */
  reading(tMs: number, watts: number): boolean {
    if (!Number.isFinite(tMs) || !Number.isFinite(watts)) {
      this.failure(`unparsable reading (${watts} W at ${tMs})`);
      return false;
    }
    if (watts < 0) {
      this.failure(`negative power ${watts} W (a meter reading is never below 0 W)`);
      return false;
    }
    const last = this.s[this.s.length - 1];
    if (last !== undefined && tMs <= last.tMs) {
      this.failure(`timestamp went backwards (${tMs.toFixed(1)} after ${last.tMs.toFixed(1)} ms)`);
      return false;
    }
    if (this.streak > 0) {
      const gap = this.g[this.g.length - 1] as MeterGap;
      gap.toMs = tMs;
      const span = Number.isFinite(gap.fromMs) ? `, a ${Math.round(tMs - gap.fromMs)} ms gap without a figure` : "";
      this.warn(`meter ${this.label}: readings resumed after ${this.streak} failure(s)${span}`);
      this.streak = 0;
    }
    this.s.push({ tMs, watts });
    const first = this.s[0] as MeterSample;
    if (tMs - first.tMs > this.retainMs * 1.1) this.prune(tMs - this.retainMs);
    // a meter printing far faster than anyone integrates: keep the newest half of MAX_SAMPLES
    else if (this.s.length > MAX_SAMPLES) this.prune((this.s[this.s.length - MAX_SAMPLES / 2] as MeterSample).tMs);
    return true;
  }

  /** A failed reading: opens a gap at the last good reading (one warning per streak). */
  failure(reason: string): void {
    if (this.streak === 0) {
      const last = this.s[this.s.length - 1];
      this.g.push({ fromMs: last?.tMs ?? Number.NEGATIVE_INFINITY, toMs: null });
      this.warn(`meter ${this.label}: ${reason}; windows from the last reading until readings resume get no energy figure`);
    }
    this.streak++;
  }

  private prune(beforeMs: number): void {
    let i = 0;
    while (i < this.s.length - 1 && (this.s[i] as MeterSample).tMs < beforeMs) i++;
    this.s.splice(0, i);
    const keep = this.g.filter((x) => x.toMs === null || x.toMs >= beforeMs);
    this.g.splice(0, this.g.length, ...keep);
  }
}
