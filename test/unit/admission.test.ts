import { describe, expect, it } from "vitest";
import { Admission, OverloadedError } from "../../src/transport/admission.js";
import { ByteBudget } from "../../src/transport/byteBudget.js";

describe("Admission: a place is taken before the body is read", () => {
  it("at most maxConcurrent + maxQueue tickets are out; beyond, OverloadedError at once; leaving frees a place", () => {
    const a = new Admission(2, 1);
    const t = [a.enter(), a.enter(), a.enter()];
    expect(() => a.enter()).toThrow(OverloadedError);
    t[0]?.leave();
    t[0]?.leave(); // idempotent: frees one place, not two
    const again = a.enter();
    expect(() => a.enter()).toThrow(OverloadedError);
    again.leave();
    t[1]?.leave();
    t[2]?.leave();
    expect(a.load()).toEqual({ queueDepth: 0, inFlight: 0, estimatedWaitMs: 0 });
  });

  it("tickets run in at most maxConcurrent slots, FIFO, and leave when their job ends", async () => {
    const a = new Admission(1, 2);
    const order: number[] = [];
    let release: () => void = () => {};
    const first = a.enter().run(() => new Promise<void>((r) => (release = () => (order.push(1), r()))));
    const second = a.enter().run(async () => void order.push(2));
    const third = a.enter().run(async () => void order.push(3));
    await new Promise((r) => setTimeout(r, 5));
    expect(a.load()).toMatchObject({ queueDepth: 2, inFlight: 1 });
    expect(() => a.enter()).toThrow(OverloadedError);
    release();
    await Promise.all([first, second, third]);
    expect(order).toEqual([1, 2, 3]);
    expect(a.load()).toMatchObject({ queueDepth: 0, inFlight: 0 });
    const t = a.enter();
    await t.run(async () => 1);
    await expect(t.run(async () => 2)).rejects.toThrow(/one job/);
  });
});

describe("ByteBudget", () => {
  it("takes what fits, refuses what does not (taking nothing), and gives back", () => {
    const b = new ByteBudget(100);
    expect(b.tryTake(60)).toBe(true);
    expect(b.tryTake(50)).toBe(false);
    expect(b.used).toBe(60);
    expect(b.tryTake(40)).toBe(true);
    b.give(60);
    expect(b.tryTake(50)).toBe(true);
    expect(b.used).toBe(90);
    expect(() => new ByteBudget(0)).toThrow(RangeError);
  });
});
