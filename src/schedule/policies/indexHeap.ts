/**
 * The indices 0..n-1 in ascending order of a key array, handed out one at a time: a binary
 * min-heap over (key[i], i). Building it is O(n) (about 2n comparisons), each `next()` O(log n),
 * so a scan that stops after m of n indices pays O(n + m log n) instead of a full sort's
 * O(n log n). Ties in the key come out by ascending index, so the order is exactly the one
 * `indices.sort((a, b) => key[a] - key[b] || a - b)` gives for keys without NaN.
 *
 * The heap reads `key` while it is used: rebuild it (`reset`) after changing the keys.
 * No allocation after construction.
 */
export class IndexHeap {
  private readonly heap: Int32Array;
  private size = 0;

  constructor(private readonly key: Float64Array) {
    this.heap = new Int32Array(key.length);
  }

  /** Put every index back (O(n)). */
  reset(): void {
    const h = this.heap;
    const n = h.length;
    for (let i = 0; i < n; i++) h[i] = i;
    this.size = n;
    for (let k = (n >> 1) - 1; k >= 0; k--) this.siftDown(k);
  }

  /** The index with the smallest (key, index) not handed out yet, or -1 when none is left. */
  next(): number {
    if (this.size === 0) return -1;
    const h = this.heap;
    const top = h[0]!;
    this.size--;
    if (this.size > 0) {
      h[0] = h[this.size]!;
      this.siftDown(0);
    }
    return top;
  }

  private less(a: number, b: number): boolean {
    const x = this.key[a]!;
    const y = this.key[b]!;
    return x < y || (x === y && a < b);
  }

  private siftDown(k: number): void {
    const h = this.heap;
    const n = this.size;
    const item = h[k]!;
    for (;;) {
      let c = 2 * k + 1;
      if (c >= n) break;
      if (c + 1 < n && this.less(h[c + 1]!, h[c]!)) c++;
      if (!this.less(h[c]!, item)) break;
      h[k] = h[c]!;
      k = c;
    }
    h[k] = item;
  }
}
