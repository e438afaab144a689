import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { inlineHeads, type HeadUse } from "../../src/schedule/daemon/inlineHeads.js";

const use = (executorKey: string, headMs: number | null, cpu = true): HeadUse => ({ executorKey, cpu, headMs });

describe("inlineHeads: which CPU heads run on the event loop", () => {
  it("a head whose every configuration measured <= inlineHeadMs runs inline; one slower configuration keeps it on the device thread", () => {
    const set = inlineHeads([use("3|cpu", 0.2), use("3|cpu", 0.9), use("5|cpu", 0.3), use("5|cpu", 1.4), use("9|cpu", 1)], 1);
    expect([...set].sort()).toEqual(["3|cpu", "9|cpu"]);
  });

  it("no measured head time, or a head not on the CPU: the device thread (or its own target)", () => {
    expect(inlineHeads([use("3|cpu", null), use("4|cpu", 0.1), use("4|cpu", null), use("6|webgpu", 0.1, false)], 1).size).toBe(0);
  });

  it("inlineHeadMs 0: every head on the device thread", () => {
    expect(inlineHeads([use("3|cpu", 0), use("4|cpu", 0.01)], 0).size).toBe(0);
  });

  it("property: a key is inline exactly when all its uses are CPU, measured and <= the bound, whatever their order", () => {
    const arb = fc.array(fc.record({ executorKey: fc.constantFrom("1|cpu", "2|cpu", "3|x"), cpu: fc.boolean(), headMs: fc.option(fc.double({ min: 0, max: 5, noNaN: true }), { nil: null }) }), { maxLength: 12 });
    fc.assert(
      fc.property(arb, fc.double({ min: 0, max: 5, noNaN: true }), (uses, bound) => {
        const got = inlineHeads(uses, bound);
        const again = inlineHeads([...uses].reverse(), bound);
        expect([...again].sort()).toEqual([...got].sort());
        for (const key of new Set(uses.map((u) => u.executorKey))) {
          const mine = uses.filter((u) => u.executorKey === key);
          const want = bound > 0 && mine.every((u) => u.cpu && u.headMs !== null && u.headMs <= bound);
          expect(got.has(key)).toBe(want);
        }
      }),
    );
  });
});
