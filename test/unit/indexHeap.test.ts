import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IndexHeap } from "../../src/schedule/policies/indexHeap.js";

/** Every index the heap hands out until it says -1. */
const drain = (h: IndexHeap): number[] => {
  const out: number[] = [];
  for (let i = h.next(); i >= 0; i = h.next()) out.push(i);
  return out;
};

describe("IndexHeap", () => {
  it("hands out the indices in the order of sort by (key, index), ties included (property)", () => {
    // few distinct keys, so ties are common; -0 and 0 compare equal as they do in the sort
    const keys = fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(-0, 0.5, -1e9, 1e9, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY)), { maxLength: 64 });
    fc.assert(
      fc.property(keys, (xs) => {
        const key = Float64Array.from(xs);
        const h = new IndexHeap(key);
        h.reset();
        const want = xs.map((_, i) => i).sort((a, b) => (key[a]! < key[b]! ? -1 : key[a]! > key[b]! ? 1 : a - b));
        expect(drain(h)).toEqual(want);
        expect(h.next()).toBe(-1);
      }),
      { numRuns: 500 },
    );
  });

  it("reads the keys at reset: changed keys and a reset give the new order; a stop part-way leaves nothing behind", () => {
    const key = Float64Array.from([5, 1, 4, 1, 3]);
    const h = new IndexHeap(key);
    h.reset();
    expect([h.next(), h.next()]).toEqual([1, 3]);
    key.set([0, 9, 2, 8, 1]);
    h.reset();
    expect(drain(h)).toEqual([0, 4, 2, 3, 1]);
    const empty = new IndexHeap(new Float64Array(0));
    empty.reset();
    expect(empty.next()).toBe(-1);
  });
});
