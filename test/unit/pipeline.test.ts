/**
 * The pipeline's rules (src/runtime/pipeline.ts) with stage work of known speed: order, the
 * per-stage bounds under a fast producer and a slow tail, independent batch sizes, the batch
 * delay, drain on close, and the fallback when the tail's server fails mid-stream.
 */
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { UnreachableError } from "../../src/errors.js";
import { Pipeline, PipelineClosedError, type PipelineStages } from "../../src/runtime/pipeline.js";
import { mulberry32 } from "../../src/mulberry32.js";
import { AdaptiveBatcher } from "../../src/schedule/adaptiveBatcher.js";

/** Stages that double in the head and add 1 in the tail, each taking `headMs` / `tailMs` (a seeded jitter on the tail). */
function stages(o: { headMs?: number; tailMs?: number; seed?: number } = {}): PipelineStages<number, number, number> & { tailCalls: number } {
  const next = mulberry32(o.seed ?? 1);
  const s = {
    tailCalls: 0,
    head: async (xs: number[]) => {
      await sleep(o.headMs ?? 0);
      return xs.map((x) => 2 * x);
    },
    tail: async (ms: number[]) => {
      s.tailCalls++;
      await sleep((o.tailMs ?? 0) * (0.2 + 1.6 * next()));
      return ms.map((m) => m + 1);
    },
  };
  return s;
}

async function collect<T>(g: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of g) out.push(x);
  return out;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe("pipeline", () => {
  it("keeps input order whatever the batch sizes, concurrency and tail times (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 1000 }),
        async (bd, bs, conc, n, seed) => {
          const p = new Pipeline(stages({ tailMs: 3, seed }), { deviceBatch: bd, serverBatch: bs, tailConcurrency: conc });
          const got = await collect(p.map(range(n)));
          await p.close();
          expect(got.map((r) => r.value)).toEqual(range(n).map((x) => 2 * x + 1));
          const st = p.stats();
          expect(st.settled).toBe(n);
          expect(Math.max(0, ...st.headBatches)).toBeLessThanOrEqual(bd);
          expect(Math.max(0, ...st.tailGroups)).toBeLessThanOrEqual(bs);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("back-pressure: with a slow tail and a fast producer, no stage ever holds more than its bound and the producer waits", async () => {
    const p = new Pipeline(stages({ tailMs: 10 }), { deviceBatch: 2, serverBatch: 3, tailConcurrency: 2, inputCapacity: 4, handoverCapacity: 6 });
    expect(p.capacity).toEqual({ input: 4, head: 2, handover: 6, tail: 6, total: 18 });
    const results: Promise<unknown>[] = [];
    let maxOutstanding = 0;
    const t0 = performance.now();
    for (let i = 0; i < 120; i++) {
      results.push((await p.submit(i)).result);
      const s = p.stats();
      maxOutstanding = Math.max(maxOutstanding, s.accepted - s.settled);
    }
    const submitMs = performance.now() - t0;
    await Promise.all(results);
    await p.close();
    const s = p.stats();
    for (const k of ["input", "head", "handover", "tail"] as const) expect(s.peak[k]).toBeLessThanOrEqual(s.capacity[k]);
    expect(s.peak.total).toBeLessThanOrEqual(18);
    expect(maxOutstanding).toBeLessThanOrEqual(18);
    // the tail is the bottleneck: its stage, the hand-over queue and the input queue filled up, so
    // the producer was held back (120 items through 2 groups of 3 at ~10 ms take >= ~170 ms, and
    // submitting took most of that)
    expect(s.peak).toMatchObject({ input: 4, handover: 6, tail: 6 });
    expect(submitMs).toBeGreaterThan(100);
  });

  it("batch sizes are independent: with a backlog the head takes batches of deviceBatch and the tail groups of serverBatch", async () => {
    const steady: PipelineStages<number, number, number> = {
      head: async (xs) => (await sleep(1), xs.map((x) => 2 * x)),
      tail: async (ms) => (await sleep(6), ms.map((m) => m + 1)),
    };
    const p = new Pipeline(steady, { deviceBatch: 3, serverBatch: 4, tailConcurrency: 1, inputCapacity: 12, handoverCapacity: 8 });
    const got = await collect(p.map(range(48)));
    await p.close();
    expect(got.map((r) => r.value)).toEqual(range(48).map((x) => 2 * x + 1));
    const s = p.stats();
    // the first batch may go before the producer has filled the queue; after that the queues are full
    expect(s.headBatches.slice(1, -1).every((b) => b === 3)).toBe(true);
    expect(s.tailGroups.slice(1, -1).every((g) => g === 4)).toBe(true);
  });

  it("batchDelayMs: a partial batch waits that long for more items, then goes", async () => {
    const p = new Pipeline(stages(), { deviceBatch: 4, serverBatch: 1, batchDelayMs: 60 });
    const t0 = performance.now();
    const a = (await p.submit(1)).result;
    await sleep(10);
    const b = (await p.submit(2)).result;
    const [ra, rb] = await Promise.all([a, b]);
    const waited = performance.now() - t0;
    expect(ra.value).toBe(3);
    expect(rb.value).toBe(5);
    expect(p.stats().headBatches[0]).toBe(2); // both in one batch: the first waited for the second
    expect(waited).toBeGreaterThanOrEqual(55);
    expect(ra.latencyMs).toBeGreaterThanOrEqual(55);
    await p.close();
  });

  it("close() drains: every accepted item gets its result, waiting and later submits are refused", async () => {
    const p = new Pipeline(stages({ headMs: 2, tailMs: 8 }), { deviceBatch: 2, serverBatch: 2, tailConcurrency: 1, inputCapacity: 2, handoverCapacity: 2 });
    const accepted: Promise<{ value: number }>[] = [];
    const submits = range(30).map((i) =>
      p.submit(i).then(
        (t) => {
          accepted.push(t.result);
          return "accepted";
        },
        (e: unknown) => e,
      ),
    );
    await sleep(15);
    const closing = p.close();
    const outcomes = await Promise.all(submits);
    await closing;
    const refused = outcomes.filter((o) => o instanceof PipelineClosedError);
    expect(refused.length).toBeGreaterThan(0);
    expect(accepted.length + refused.length).toBe(30);
    // nothing accepted is lost: each accepted item resolved with its own value, and close() waited for them
    expect(p.stats()).toMatchObject({ accepted: accepted.length, settled: accepted.length, failed: 0 });
    const values = await Promise.all(accepted.map(async (r) => (await r).value));
    expect(values).toEqual(range(accepted.length).map((x) => 2 * x + 1));
    await expect(p.submit(99)).rejects.toBeInstanceOf(PipelineClosedError);
  });

  it("a server failure mid-stream sends the groups in flight, and every later one, to the fallback", async () => {
    let calls = 0;
    const fellBackGroups: number[][] = [];
    let told = 0;
    const p = new Pipeline<number, number, number>(
      {
        head: async (xs) => xs.map((x) => 2 * x),
        tail: async (ms) => {
          calls++;
          await sleep(5);
          if (calls > 3) throw new UnreachableError("cannot reach the tail server");
          return ms.map((m) => m + 1);
        },
        fallback: async (ms) => {
          fellBackGroups.push(ms);
          return ms.map((m) => m + 1);
        },
        isServerFailure: (e) => e instanceof UnreachableError,
        onFallback: () => told++,
      },
      { deviceBatch: 2, serverBatch: 2, tailConcurrency: 3 },
    );
    const got = await collect(p.map(range(40)));
    await p.close();
    expect(got.map((r) => r.value)).toEqual(range(40).map((x) => 2 * x + 1));
    const s = p.stats();
    expect(s.failed).toBe(0);
    expect(s.fellBack).toBe(got.filter((r) => r.fallback).length);
    expect(s.fellBack).toBeGreaterThan(30);
    expect(told).toBe(1);
    // the groups that were in flight when the server failed (calls 4.. up to the concurrency) failed over,
    // and after that the dead server was not asked again
    expect(calls).toBeLessThanOrEqual(3 + 3);
    expect(fellBackGroups.flat().length).toBe(s.fellBack);
  });

  it("an error that is not the server's fails only its own items; map throws at the first", async () => {
    const p = new Pipeline<number, number, number>(
      {
        head: async (xs) => xs,
        tail: async (ms) => {
          if (ms.includes(5)) throw new Error("bad item 5");
          return ms;
        },
        fallback: async (ms) => ms,
        isServerFailure: () => false,
      },
      { deviceBatch: 1, serverBatch: 1 },
    );
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const r of p.map(range(10))) seen.push(r.value);
      })(),
    ).rejects.toThrow("bad item 5");
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    await p.close();
    expect(p.stats().failed).toBe(1);
    expect(p.stats().fellBack).toBe(0);
  });

  it("a submit waiting for a place can be aborted; it is then never accepted", async () => {
    const p = new Pipeline(stages({ tailMs: 30 }), { deviceBatch: 1, serverBatch: 1, tailConcurrency: 1, inputCapacity: 1, handoverCapacity: 1 });
    for (let i = 0; i < 4; i++) await p.submit(i);
    const c = new AbortController();
    const waiting = p.submit(9, c.signal);
    c.abort(new Error("client went away"));
    await expect(waiting).rejects.toThrow("client went away");
    await p.close();
    expect(p.stats().accepted).toBe(4);
  });

  it("adaptive head batch (BPS, AdaptiveBatcher): one at a time while items come slowly, larger batches once they come faster than one head run", async () => {
    const bps = new AdaptiveBatcher({ maxBatch: 8 });
    const sizes: number[] = [];
    // a head of 4 ms + 1 ms per item: at one item per 2 ms only batches of about 5 keep up
    const p = new Pipeline<number, number, number>(
      {
        head: async (xs) => {
          const t0 = performance.now();
          await sleep(4 + xs.length);
          bps.batch(xs.length, performance.now() - t0);
          sizes.push(xs.length);
          return xs;
        },
        tail: null,
      },
      { deviceBatch: 8, serverBatch: 1, batchDelayMs: 20, headBatchTarget: () => bps.target() },
    );
    const results: Array<Promise<unknown>> = [];
    const feed = async (n: number, gapMs: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        bps.arrival(performance.now());
        results.push((await p.submit(i)).result);
        await sleep(gapMs);
      }
    };
    await feed(12, 25);
    const slow = sizes.length;
    expect(sizes.every((b) => b === 1)).toBe(true);
    await feed(80, 2);
    await Promise.all(results);
    const fast = sizes.slice(slow);
    const sorted = [...fast].sort((a, b) => a - b);
    // bigger batches than one at a time, and the rule's choice is above 1 now
    expect(sorted[sorted.length >> 1]).toBeGreaterThanOrEqual(2);
    expect(bps.target()).toBeGreaterThan(1);
    expect(Math.max(...fast)).toBeLessThanOrEqual(8);
    await p.close();
  });
});
