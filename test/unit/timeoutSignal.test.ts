import { describe, expect, it } from "vitest";
import { timeoutSignal } from "../../src/transport/timeoutSignal.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("timeoutSignal: the outer signal or a timeout, whichever is first", () => {
  it("the timeout aborts it with a TimeoutError and says so", async () => {
    const g = timeoutSignal(new AbortController().signal, 5);
    expect(g.signal.aborted).toBe(false);
    await sleep(30);
    expect(g.signal.aborted).toBe(true);
    expect(g.timedOut()).toBe(true);
    expect((g.signal.reason as DOMException).name).toBe("TimeoutError");
  });

  it("the outer signal aborts it with the outer reason, not as a timeout; already aborted: at once", async () => {
    const outer = new AbortController();
    const g = timeoutSignal(outer.signal, 1000);
    const why = new Error("client gone");
    outer.abort(why);
    expect(g.signal.aborted).toBe(true);
    expect(g.signal.reason).toBe(why);
    expect(g.timedOut()).toBe(false);
    const h = timeoutSignal(outer.signal, 1000);
    expect([h.signal.aborted, h.signal.reason, h.timedOut()]).toEqual([true, why, false]);
  });

  it("dispose: neither the timer nor the outer signal aborts it afterwards; no outer signal: the timeout alone", async () => {
    const outer = new AbortController();
    const g = timeoutSignal(outer.signal, 5);
    g.dispose();
    outer.abort(new Error("late"));
    await sleep(30);
    expect(g.signal.aborted).toBe(false);
    expect(g.timedOut()).toBe(false);
    const alone = timeoutSignal(undefined, 5);
    await sleep(30);
    expect(alone.timedOut()).toBe(true);
  });
});
