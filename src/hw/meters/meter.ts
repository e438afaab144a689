/**
 * The one interface every external power meter kind implements (src/hw/meters/<kind>.ts), and
 * the clock they share with EnergyMeter's marks.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import { meterPeriodMs } from "./meterEnergy.js";
import type { MeterTrace, MeterTraceView } from "./meterTrace.js";

/**
 * The meter clock: epoch ms with sub-ms resolution (the wall clock at process start plus the
 * monotonic time since), so readings stamped here and `epoch_ms` stamped by a meter command or
 * a recorded trace (Date.now() on the same machine, or NTP-synchronised) share one time line.
 */
export function meterClockMs(): number {
  return performance.timeOrigin + performance.now();
}

export interface Meter {
  readonly spec: MeterSpec;
  /** the spec as outputs show it (a password in it replaced by ***) */
  readonly label: string;
  /** the period asked for (--meter-period-ms); the integration uses the observed one */
  readonly nominalPeriodMs: number;
  /** readings and gaps so far (a csv trace is re-read first) */
  view(): MeterTraceView;
  /** the median interval between readings so far, ms (the nominal period before two readings) */
  periodMs(): number;
  /** Resolve once a reading at or after `tMs` is in, or when none can come in time (dead, closed, or a meter's patience ran out). */
  waitFor(tMs: number): Promise<void>;
  close(): Promise<void>;
}

export interface MeterOpenOptions {
  /** polling period (http, scpi) or the period the command/trace is expected to have, ms (default 200) */
  periodMs?: number | undefined;
  /** one reading's timeout for polled meters, ms (default max(1000, 2 x period)) */
  timeoutMs?: number | undefined;
  /** failure and resumption lines, as they happen */
  onWarning?: ((line: string) => void) | undefined;
  /** the clock readings are stamped with (default meterClockMs) */
  clock?: (() => number) | undefined;
}

/** What every kind shares: the trace, the period, waiting for a reading. */
export abstract class MeterBase implements Meter {
  readonly nominalPeriodMs: number;
  protected readonly clock: () => number;
  protected closed = false;
  /** the meter cannot give another reading (command exited, closed) */
  protected dead = false;

  protected constructor(
    readonly spec: MeterSpec,
    readonly label: string,
    protected readonly trace: MeterTrace,
    opts: MeterOpenOptions,
  ) {
    this.nominalPeriodMs = opts.periodMs ?? 200;
    this.clock = opts.clock ?? meterClockMs;
  }

  /** pick up readings that arrived outside the event loop's callbacks (a file) */
  protected refresh(): void {}

  /** how long waitFor() waits past `tMs` for a reading, ms */
  protected abstract patienceMs(): number;

  view(): MeterTraceView {
    this.refresh();
    return this.trace;
  }

  periodMs(): number {
    return meterPeriodMs(this.view().samples, this.nominalPeriodMs);
  }

  async waitFor(tMs: number): Promise<void> {
    const deadline = Math.max(tMs, this.clock()) + this.patienceMs();
    const step = Math.max(5, Math.min(50, this.nominalPeriodMs / 4));
    for (;;) {
      const s = this.view().samples;
      const last = s[s.length - 1];
      if ((last !== undefined && last.tMs >= tMs) || this.dead || this.closed || this.clock() >= deadline) return;
      await sleep(step);
    }
  }

  abstract close(): Promise<void>;
}
