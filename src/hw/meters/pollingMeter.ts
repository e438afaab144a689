/**
 * A meter that is asked for each reading (http, scpi): one request per period, never two at a
 * time. A reading is stamped with the middle of its request (sent ... answered), so its time is
 * off by at most half the round trip; since requests do not overlap, that is at most the
 * interval to the neighbouring reading (see the error bound in meterEnergy.ts). A request that
 * takes longer than the period delays the next one; one that times out is a failure (a gap).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import { MeterBase, type MeterOpenOptions } from "./meter.js";
import type { MeterTrace } from "./meterTrace.js";

/** Thrown by a poll that did not answer in time. */
export class MeterTimeoutError extends Error {}

export abstract class PollingMeter extends MeterBase {
  readonly timeoutMs: number;
  private readonly stop = new AbortController();
  private loop: Promise<void> | null = null;

  protected constructor(spec: MeterSpec, label: string, trace: MeterTrace, opts: MeterOpenOptions) {
    super(spec, label, trace, opts);
    this.timeoutMs = opts.timeoutMs ?? Math.max(1000, 2 * this.nominalPeriodMs);
  }

  /** One reading in W; throw with a one-line reason on anything else. Abort on `signal`. */
  protected abstract readOnce(signal: AbortSignal): Promise<number>;

  /** Release connections (after the loop has stopped). */
  protected abstract release(): Promise<void>;

  protected start(): void {
    this.loop = this.run();
  }

  protected patienceMs(): number {
    return this.nominalPeriodMs + this.timeoutMs + 100;
  }

  private async run(): Promise<void> {
    let next = this.clock();
    while (!this.stop.signal.aborted) {
      const sent = this.clock();
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new MeterTimeoutError(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      const onStop = (): void => ac.abort(new Error("closed"));
      this.stop.signal.addEventListener("abort", onStop);
      try {
        const watts = await this.readOnce(ac.signal);
        if (this.stop.signal.aborted) break;
        this.trace.reading((sent + this.clock()) / 2, watts);
      } catch (err) {
        if (this.stop.signal.aborted) break;
        const reason = ac.signal.aborted && ac.signal.reason instanceof MeterTimeoutError ? ac.signal.reason.message : (err as Error).message;
        this.trace.failure(reason);
      } finally {
        clearTimeout(timer);
        this.stop.signal.removeEventListener("abort", onStop);
      }
      next += this.nominalPeriodMs;
      const wait = next - this.clock();
      if (wait <= 0) next = this.clock();
      else await sleep(wait, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    await this.loop;
    await this.release();
  }
}
