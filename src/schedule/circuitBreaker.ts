/**
 * A circuit breaker for the tail server. Pure: the clock is passed to every call and the jitter
 * comes from a passed-in PRNG, so the daemon and the replay simulator drive it the same way.
 *
 *   closed     every request may go to the server; `failureThreshold` failures in a row
 *              (errors and timeouts alike; a success resets the count) open it
 *   open       nothing goes to the server (the daemon answers from the device) until the next
 *              probe time: openedAt + backoff x (1 + jitter x (2u - 1)), u from the PRNG, where
 *              backoff = min(maxBackoffMs, baseBackoffMs x 2^(consecutive trips - 1))
 *   half-open  exactly one probe is let through (`admit` answers "probe" once); its success
 *              closes the breaker (backoff reset), its failure opens it again with the backoff
 *              doubled; a probe that reports nothing within probeTimeoutMs counts as failed
 *
 * Outcomes of requests sent before the breaker opened are counted but change nothing while it is
 * open or half-open (only the probe's outcome decides).
 */

export type BreakerStateName = "closed" | "open" | "half-open";

/** Gauge values for metrics: closed 0, half-open 1, open 2. */
export const BREAKER_STATE_VALUE: Record<BreakerStateName, number> = { closed: 0, "half-open": 1, open: 2 };

export interface CircuitBreakerOptions {
  /** consecutive failures that open the breaker (default 3) */
  failureThreshold: number;
  /** first wait before a probe, ms (default 1000) */
  baseBackoffMs: number;
  /** the wait's cap, ms (default 30000) */
  maxBackoffMs: number;
  /** spread of each wait, a fraction (default 0.2: +-20%) */
  jitter: number;
  /** a probe without an outcome after this long counts as failed, ms (default 10000) */
  probeTimeoutMs: number;
}

export const DEFAULT_BREAKER: CircuitBreakerOptions = { failureThreshold: 3, baseBackoffMs: 1000, maxBackoffMs: 30_000, jitter: 0.2, probeTimeoutMs: 10_000 };

/** Where a request goes: to the server, as the half-open probe, or to the device. */
export type Admission = "server" | "probe" | "local";

export type Outcome = "success" | "error" | "timeout";

/** What /v1/status and the metrics show. */
export interface BreakerSnapshot {
  state: BreakerStateName;
  /** BREAKER_STATE_VALUE of the state */
  value: number;
  consecutiveFailures: number;
  /** times it opened (including re-openings after a failed probe) */
  trips: number;
  /** when it last opened, ms (null: never) */
  openedAtMs: number | null;
  /** when the next probe may go, ms (null unless open) */
  nextProbeAtMs: number | null;
  /** the current backoff before jitter, ms (0 when closed) */
  backoffMs: number;
  probes: number;
  outcomes: { success: number; error: number; timeout: number };
}

export class CircuitBreaker {
  readonly options: CircuitBreakerOptions;
  private current: BreakerStateName = "closed";
  private failures = 0;
  private trips = 0;
  private streak = 0;
  private openedAtMs: number | null = null;
  private nextProbeAtMs: number | null = null;
  private backoffMs = 0;
  private probeSentAtMs: number | null = null;
  private probes = 0;
  private readonly outcomes = { success: 0, error: 0, timeout: 0 };

  constructor(
    private readonly random: () => number,
    opts: Partial<CircuitBreakerOptions> = {},
  ) {
    this.options = { ...DEFAULT_BREAKER, ...opts };
    const o = this.options;
    if (!(Number.isInteger(o.failureThreshold) && o.failureThreshold >= 1)) throw new RangeError(`failureThreshold must be a whole number >= 1, got ${o.failureThreshold}`);
    if (!(o.baseBackoffMs >= 0 && o.maxBackoffMs >= o.baseBackoffMs)) throw new RangeError("backoff: need 0 <= baseBackoffMs <= maxBackoffMs");
    if (!(o.jitter >= 0 && o.jitter < 1)) throw new RangeError(`jitter must be in [0, 1), got ${o.jitter}`);
  }

  /** Where the next request goes at `nowMs` (taking the probe slot when it answers "probe"). */
  admit(nowMs: number): Admission {
    this.expireProbe(nowMs);
    if (this.current === "closed") return "server";
    if (this.current === "open" && this.nextProbeAtMs !== null && nowMs >= this.nextProbeAtMs) {
      this.current = "half-open";
      this.probeSentAtMs = nowMs;
      this.probes++;
      return "probe";
    }
    return "local";
  }

  /** Whether the server counts as up for the policies (closed; a half-open breaker's probe is the only request it sends). */
  serverUp(nowMs: number): boolean {
    this.expireProbe(nowMs);
    return this.current === "closed";
  }

  /** The outcome of a request sent to the server (or of the probe, when `probe` is true). */
  record(nowMs: number, outcome: Outcome, probe = false): void {
    this.outcomes[outcome]++;
    if (probe) {
      if (this.current !== "half-open") return;
      this.probeSentAtMs = null;
      if (outcome === "success") this.close();
      else this.open(nowMs);
      return;
    }
    if (this.current !== "closed") return;
    if (outcome === "success") {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures >= this.options.failureThreshold) this.open(nowMs);
  }

  /** Open now whatever the state (the server is known to be out, e.g. unreachable at start); the probes then follow the backoff. */
  trip(nowMs: number): void {
    this.probeSentAtMs = null;
    this.open(nowMs);
  }

  snapshot(nowMs: number): BreakerSnapshot {
    this.expireProbe(nowMs);
    return {
      state: this.current,
      value: BREAKER_STATE_VALUE[this.current],
      consecutiveFailures: this.failures,
      trips: this.trips,
      openedAtMs: this.openedAtMs,
      nextProbeAtMs: this.current === "open" ? this.nextProbeAtMs : null,
      backoffMs: this.current === "closed" ? 0 : this.backoffMs,
      probes: this.probes,
      outcomes: { ...this.outcomes },
    };
  }

  private open(nowMs: number): void {
    const o = this.options;
    this.streak++;
    this.trips++;
    this.current = "open";
    this.openedAtMs = nowMs;
    this.backoffMs = Math.min(o.maxBackoffMs, o.baseBackoffMs * 2 ** (this.streak - 1));
    const spread = 1 + o.jitter * (2 * this.random() - 1);
    this.nextProbeAtMs = nowMs + this.backoffMs * spread;
  }

  private close(): void {
    this.current = "closed";
    this.failures = 0;
    this.streak = 0;
    this.backoffMs = 0;
    this.nextProbeAtMs = null;
  }

  private expireProbe(nowMs: number): void {
    if (this.current === "half-open" && this.probeSentAtMs !== null && nowMs - this.probeSentAtMs >= this.options.probeTimeoutMs) {
      this.probeSentAtMs = null;
      this.outcomes.timeout++;
      this.open(nowMs);
    }
  }
}
