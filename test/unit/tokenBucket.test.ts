import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/transport/tokenBucket.js";

/** A fake clock whose sleep advances time. */
function fakeClock(): { now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; slept: number[]; t: { ms: number } } {
  const t = { ms: 0 };
  const slept: number[] = [];
  return {
    t,
    slept,
    now: () => t.ms,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      slept.push(ms);
      t.ms += ms;
    },
  };
}

describe("TokenBucket", () => {
  it("passes the burst at once, then meters bytes at the rate", async () => {
    const c = fakeClock();
    const b = new TokenBucket({ rateBytesPerS: 1000, burstBytes: 100, now: c.now, sleep: c.sleep });
    expect(await b.take(100)).toBe(0);
    expect(await b.take(500)).toBeCloseTo(500, 9); // 500 bytes at 1000 B/s
    expect(c.t.ms).toBeCloseTo(500, 9);
    // idle long enough to refill, but never beyond the burst
    c.t.ms += 10_000;
    expect(await b.take(100)).toBe(0);
    expect(await b.take(50)).toBeCloseTo(50, 9);
  });

  it("a take larger than the burst waits for its excess; concurrent takes queue in call order", async () => {
    const c = fakeClock();
    const real = new TokenBucket({ rateBytesPerS: 1000, burstBytes: 0, now: c.now, sleep: async () => {} });
    // without advancing time, each take reserves behind the previous one
    const waits = await Promise.all([real.take(100), real.take(100), real.take(100)]);
    expect(waits.map((w) => Math.round(w))).toEqual([100, 200, 300]);
    const b = new TokenBucket({ rateBytesPerS: 2000, burstBytes: 1000, now: c.now, sleep: c.sleep });
    expect(await b.take(5000)).toBeCloseTo(2000, 9);
  });

  it("abort rejects with the signal's reason and gives the bytes back", async () => {
    const t = { ms: 0 };
    let release: () => void = () => {};
    const b = new TokenBucket({
      rateBytesPerS: 1000,
      burstBytes: 0,
      now: () => t.ms,
      sleep: (_ms, signal) =>
        new Promise<void>((resolve, reject) => {
          release = resolve;
          signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
        }),
    });
    const ac = new AbortController();
    const p = b.take(1000, ac.signal);
    ac.abort(new Error("cancelled by the test"));
    await expect(p).rejects.toThrow("cancelled by the test");
    release();
    // the aborted bytes were refunded: the next take waits only for its own
    const next = b.take(100);
    release();
    expect(await next).toBeCloseTo(100, 9);
    await expect(b.take(1, AbortSignal.abort(new Error("already aborted")))).rejects.toThrow("already aborted");
  });

  it("rejects nonsense with one-line usage errors", () => {
    expect(() => new TokenBucket({ rateBytesPerS: 0, burstBytes: 0 })).toThrow(/positive number of bytes\/s/);
    expect(() => new TokenBucket({ rateBytesPerS: 1, burstBytes: -1 })).toThrow(/non-negative/);
    const b = new TokenBucket({ rateBytesPerS: 1, burstBytes: 1 });
    return expect(b.take(-5)).rejects.toThrow(/non-negative byte count/);
  });

  it("the real clock waits about bytes / rate", async () => {
    const b = new TokenBucket({ rateBytesPerS: 100_000, burstBytes: 0 });
    const t0 = performance.now();
    const waited = await b.take(10_000); // 100 ms
    const elapsed = performance.now() - t0;
    expect(waited).toBeCloseTo(100, 6);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(400);
  });
});
