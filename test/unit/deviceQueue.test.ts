import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DeviceQueue, QueueClosedError, QueueFullError } from "../../src/schedule/deviceQueue.js";

/** A job that runs until released. */
function gate() {
  let release!: () => void;
  const done = new Promise<void>((r) => (release = r));
  return { job: () => done, release };
}
const settle = () => new Promise<void>((r) => setTimeout(r, 0));

describe("EDF device queue", () => {
  it("runs the waiting jobs earliest deadline first, ties in push order", async () => {
    const q = new DeviceQueue();
    const g = gate();
    const blocker = q.push(g.job, { deadlineMs: 0 });
    await settle();
    const order: string[] = [];
    const jobs = [
      ["a", 50],
      ["b", 10],
      ["c", 30],
      ["d", 10],
      ["e", 20],
    ].map(([name, d]) => q.push(() => void order.push(name as string), { deadlineMs: d as number }));
    expect(q.stats()).toMatchObject({ queued: 5, running: 1 });
    g.release();
    await Promise.all([blocker, ...jobs]);
    expect(order).toEqual(["b", "d", "e", "c", "a"]);
  });

  it("jobs pushed in one tick start in deadline order; concurrency bounds how many run at once", async () => {
    const q = new DeviceQueue({ concurrency: 2 });
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const jobs = [40, 10, 30, 20, 50].map((d) =>
      q.push(
        async () => {
          started.push(d);
          peak = Math.max(peak, ++running);
          await settle();
          running--;
        },
        { deadlineMs: d },
      ),
    );
    await Promise.all(jobs);
    expect(started).toEqual([10, 20, 30, 40, 50]);
    expect(peak).toBe(2);
  });

  it("over the bound: QueueFullError at once with a Retry-After from the mean job time", async () => {
    let now = 0;
    const q = new DeviceQueue({ maxQueued: 2, initialJobMs: 2000, clock: () => now });
    const g = gate();
    const running = q.push(g.job, { deadlineMs: 0 });
    await settle();
    const waiting = [q.push(() => 1, { deadlineMs: 5 }), q.push(() => 2, { deadlineMs: 6 })];
    const full = await q.push(() => 3, { deadlineMs: 1 }).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(QueueFullError);
    // 2 waiting + 1 running, 2 s each on one slot: 6 s
    expect(full).toMatchObject({ code: "E_QUEUE_FULL", retryAfterS: 6, queued: 2 });
    expect(q.stats().rejected).toBe(1);
    now = 500; // the running job took 500 ms: the mean moves towards it
    g.release();
    expect(await Promise.all([running, ...waiting])).toEqual([undefined, 1, 2]);
    expect(q.stats().meanJobMs).toBeLessThan(2000);
    expect(q.retryAfterS()).toBe(1);
  });

  it("cancellation: a waiting job leaves the queue and rejects with the abort's reason; a running one sees the signal", async () => {
    const q = new DeviceQueue();
    let seen: AbortSignal | null = null;
    const g = gate();
    const running = new AbortController();
    const first = q.push(
      (signal) => {
        seen = signal;
        return g.job();
      },
      { deadlineMs: 0, signal: running.signal },
    );
    await settle();
    const c = new AbortController();
    const order: string[] = [];
    const cancelled = q.push(() => void order.push("cancelled"), { deadlineMs: 1, signal: c.signal });
    const kept = q.push(() => void order.push("kept"), { deadlineMs: 2 });
    c.abort(new Error("client went away"));
    await expect(cancelled).rejects.toThrow("client went away");
    expect(q.stats()).toMatchObject({ queued: 1, cancelled: 1 });
    running.abort(new Error("deadline passed"));
    expect(seen!.aborted).toBe(true);
    g.release();
    await first;
    await kept;
    expect(order).toEqual(["kept"]);
    // already aborted: rejected without running
    const pre = new AbortController();
    pre.abort(new Error("too late"));
    await expect(q.push(() => 1, { deadlineMs: 0, signal: pre.signal })).rejects.toThrow("too late");
  });

  it("close: new jobs are refused, accepted ones finish, drained() resolves after them", async () => {
    const q = new DeviceQueue();
    const g = gate();
    const p = q.push(g.job, { deadlineMs: 0 });
    const w = q.push(() => "w", { deadlineMs: 1 });
    q.close();
    await expect(q.push(() => 1, { deadlineMs: 0 })).rejects.toBeInstanceOf(QueueClosedError);
    let drained = false;
    const d = q.drained().then(() => (drained = true));
    await settle();
    expect(drained).toBe(false);
    g.release();
    await Promise.all([p, w, d]);
    expect(drained).toBe(true);
    expect(await w).toBe("w");
  });

  it("never loses a job: every push settles once, in EDF order among those waiting, over random pushes, failures, cancellations and a full queue", async () => {
    const op = fc.record({
      deadline: fc.integer({ min: 0, max: 20 }),
      outcome: fc.constantFrom("ok", "throw", "reject", "slow"),
      cancel: fc.constantFrom("no", "before", "while-waiting"),
      pause: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 6 }), fc.integer({ min: 1, max: 3 }), async (ops, maxQueued, concurrency) => {
        const q = new DeviceQueue({ maxQueued, concurrency });
        const waiting = new Map<number, number>(); // id -> deadline, pushed and not yet started or cancelled
        const settled = new Map<number, string>();
        const promises: Promise<void>[] = [];
        let violations = 0;
        for (const [id, o] of ops.entries()) {
          const c = new AbortController();
          if (o.cancel === "before") c.abort(new Error("cancelled"));
          const queuedBefore = q.stats().queued;
          const p = q.push(
            async () => {
              // EDF: nothing still waiting has an earlier deadline than the one starting
              waiting.delete(id);
              if ([...waiting.values()].some((d) => d < o.deadline)) violations++;
              if (o.outcome === "throw") throw new Error("boom");
              if (o.outcome === "slow") await settle();
              if (o.outcome === "reject") return Promise.reject(new Error("no"));
              return id;
            },
            { deadlineMs: o.deadline, signal: c.signal },
          );
          if (q.stats().queued > queuedBefore) waiting.set(id, o.deadline);
          promises.push(
            p.then(
              () => void settled.set(id, settled.has(id) ? "twice" : "ok"),
              (e: unknown) => void settled.set(id, settled.has(id) ? "twice" : e instanceof QueueFullError ? "full" : "error"),
            ),
          );
          if (o.cancel === "while-waiting") {
            c.abort(new Error("cancelled"));
            waiting.delete(id);
          }
          if (o.pause) await settle();
        }
        await Promise.all(promises);
        await q.drained();
        expect(settled.size).toBe(ops.length);
        expect([...settled.values()]).not.toContain("twice");
        expect(violations).toBe(0);
        const s = q.stats();
        expect(s.completed + s.failed + s.rejected + s.cancelled).toBe(ops.length);
        expect([s.queued, s.running]).toEqual([0, 0]);
      }),
      { numRuns: 150 },
    );
  });

  it("stream jobs (no deadline: Infinity, overLimit) wait behind every job with a deadline and are never refused for a full queue", async () => {
    const q = new DeviceQueue({ maxQueued: 2 });
    const g = gate();
    const blocker = q.push(g.job, { deadlineMs: 0 });
    await settle();
    const order: string[] = [];
    const stream = [1, 2, 3].map((i) => q.push(() => void order.push(`s${i}`), { deadlineMs: Number.POSITIVE_INFINITY, overLimit: true, kind: "stream" }));
    // the queue holds 3 > maxQueued: a request with a deadline is refused, a stream job is not
    await expect(q.push(() => undefined, { deadlineMs: 5 })).rejects.toBeInstanceOf(QueueFullError);
    const late = q.push(() => void order.push("s4"), { deadlineMs: Number.POSITIVE_INFINITY, overLimit: true, kind: "stream" });
    g.release();
    await blocker;
    await Promise.all([...stream, late]);
    expect(order).toEqual(["s1", "s2", "s3", "s4"]);
    // a request with a far deadline pushed after a stream job still goes before it
    const h = gate();
    const b2 = q.push(h.job, { deadlineMs: 0 });
    await settle();
    const s5 = q.push(() => void order.push("s5"), { deadlineMs: Number.POSITIVE_INFINITY, overLimit: true });
    const r = q.push(() => void order.push("r"), { deadlineMs: 1e12 });
    h.release();
    await Promise.all([b2, s5, r]);
    expect(order.slice(-2)).toEqual(["r", "s5"]);
    expect(q.stats().byKind.stream).toBe(4);
  });
});
