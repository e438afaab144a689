import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../../src/mulberry32.js";
import { BREAKER_STATE_VALUE, CircuitBreaker, type Outcome } from "../../src/schedule/circuitBreaker.js";

/** A PRNG that replays `values`, recording how many were drawn. */
const replaying = (values: number[]) => {
  let i = 0;
  const f = () => values[i++ % values.length] as number;
  return Object.assign(f, { drawn: () => i });
};

describe("circuit breaker", () => {
  it("closed -> open after the configured failures in a row (errors and timeouts alike); a success resets the count", () => {
    const b = new CircuitBreaker(replaying([0.5]), { failureThreshold: 3 });
    b.record(0, "error");
    b.record(1, "timeout");
    b.record(2, "success");
    b.record(3, "error");
    b.record(4, "error");
    expect(b.snapshot(5)).toMatchObject({ state: "closed", consecutiveFailures: 2, trips: 0 });
    expect(b.admit(5)).toBe("server");
    b.record(6, "timeout");
    expect(b.snapshot(6)).toMatchObject({ state: "open", value: BREAKER_STATE_VALUE.open, trips: 1, openedAtMs: 6 });
    expect(b.admit(7)).toBe("local");
    expect(b.serverUp(7)).toBe(false);
  });

  it("trip() opens at once from any state (a server unreachable at start); probes then follow the backoff", () => {
    const b = new CircuitBreaker(replaying([0.5]), { failureThreshold: 3, baseBackoffMs: 1000, jitter: 0 });
    b.trip(10);
    expect(b.snapshot(10)).toMatchObject({ state: "open", trips: 1, nextProbeAtMs: 1010 });
    expect(b.serverUp(500)).toBe(false);
    expect(b.admit(1010)).toBe("probe");
    // tripped while a probe is out: the probe's slot is dropped, the backoff doubles
    b.trip(1020);
    expect(b.snapshot(1020)).toMatchObject({ state: "open", trips: 2, nextProbeAtMs: 3020 });
    b.record(1030, "success", true);
    expect(b.snapshot(1030).state).toBe("open");
    expect(b.admit(3020)).toBe("probe");
    b.record(3021, "success", true);
    expect(b.serverUp(3021)).toBe(true);
  });

  it("open: the first probe waits the base backoff with jitter from the PRNG; one probe at a time; success re-admits", () => {
    const rng = replaying([0.25]);
    const b = new CircuitBreaker(rng, { failureThreshold: 1, baseBackoffMs: 1000, jitter: 0.2 });
    b.record(100, "error");
    // 1000 x (1 + 0.2 x (2 x 0.25 - 1)) = 900
    expect(b.snapshot(100)).toMatchObject({ nextProbeAtMs: 1000, backoffMs: 1000 });
    expect(b.admit(999)).toBe("local");
    expect(b.admit(1000)).toBe("probe");
    expect(b.snapshot(1000).state).toBe("half-open");
    expect(b.admit(1001)).toBe("local");
    expect(b.serverUp(1001)).toBe(false);
    // an old request's success does not close it; the probe's does
    b.record(1002, "success");
    expect(b.snapshot(1002).state).toBe("half-open");
    b.record(1003, "success", true);
    expect(b.snapshot(1003)).toMatchObject({ state: "closed", consecutiveFailures: 0, backoffMs: 0, nextProbeAtMs: null });
    expect(b.admit(1004)).toBe("server");
    expect(b.serverUp(1004)).toBe(true);
  });

  it("a failed probe re-opens with the backoff doubled, up to the cap; a probe that never reports counts as failed", () => {
    const b = new CircuitBreaker(replaying([0.5]), { failureThreshold: 1, baseBackoffMs: 1000, maxBackoffMs: 3000, jitter: 0.2, probeTimeoutMs: 500 });
    b.record(0, "error");
    let t = 0;
    const backoffs: number[] = [];
    for (let k = 0; k < 4; k++) {
      const s = b.snapshot(t);
      backoffs.push(s.backoffMs);
      t = s.nextProbeAtMs!;
      expect(b.admit(t)).toBe("probe");
      if (k < 3) b.record(t + 1, "error", true);
    }
    expect(backoffs).toEqual([1000, 2000, 3000, 3000]);
    // the fourth probe never answers: 500 ms later it has failed and the breaker is open again
    expect(b.snapshot(t + 499).state).toBe("half-open");
    expect(b.snapshot(t + 500)).toMatchObject({ state: "open", trips: 5, outcomes: { timeout: 1, error: 4 } });
  });

  it("invariants over random runs: one probe at a time, waits within the jittered backoff, closed only below the threshold", () => {
    const step = fc.record({ dt: fc.integer({ min: 0, max: 5000 }), outcome: fc.constantFrom<Outcome | "none">("success", "error", "timeout", "none") });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.nat(), fc.array(step, { maxLength: 200 }), (threshold, seed, steps) => {
        const b = new CircuitBreaker(mulberry32(seed), { failureThreshold: threshold, baseBackoffMs: 100, maxBackoffMs: 1600, jitter: 0.3, probeTimeoutMs: 2000 });
        let t = 0;
        let probeOut = false;
        for (const s of steps) {
          t += s.dt;
          const before = b.snapshot(t);
          if (before.state !== "half-open") probeOut = false;
          const a = b.admit(t);
          if (a === "probe") {
            expect(probeOut).toBe(false);
            expect(before.state).toBe("open");
            expect(t).toBeGreaterThanOrEqual(before.nextProbeAtMs!);
            probeOut = true;
          }
          if (a === "server") expect(before.state).toBe("closed");
          if (s.outcome !== "none" && a !== "local") {
            b.record(t, s.outcome, a === "probe");
            if (a === "probe") probeOut = false;
          }
          const after = b.snapshot(t);
          if (after.state === "closed") expect(after.consecutiveFailures).toBeLessThan(threshold);
          if (after.state === "open") {
            const wait = after.nextProbeAtMs! - after.openedAtMs!;
            expect(after.backoffMs).toBeLessThanOrEqual(1600);
            expect(wait).toBeGreaterThanOrEqual(after.backoffMs * 0.7 - 1e-9);
            expect(wait).toBeLessThanOrEqual(after.backoffMs * 1.3 + 1e-9);
          }
        }
      }),
    );
  });
});
