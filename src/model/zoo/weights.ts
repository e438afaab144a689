/**
 * Deterministic weights for the zoo: one sfc32 stream per tensor, keyed by (model name, tensor
 * name, seed), integer arithmetic only, so the same key gives the same floats on every platform
 * and Node version. Fillers write straight into Float32Arrays (no per-element allocation) and
 * can be called repeatedly to continue the stream, so a tensor can be produced in chunks.
 */

/** How an initializer's values are drawn. */
export type WeightInit =
  /**
   * approximately normal (Irwin–Hall sum of four 16-bit uniforms), mean 0. With `row`, each run
   * of `row` consecutive values (one output channel's filter, one Linear output's weights) is
   * shifted to mean exactly 0 and rescaled by sqrt(row / (row - 1)) to keep the variance: a
   * zero-sum filter ignores the (positive) mean of ReLU outputs, so activations do not drift
   * towards an input-independent offset through the depth, and the class scores stay sensitive
   * to the input.
   */
  | { kind: "normal"; std: number; row?: number }
  /** uniform in [-bound, bound) */
  | { kind: "uniform"; bound: number }
  /** uniform in [center - spread, center + spread) */
  | { kind: "around"; center: number; spread: number }
  /** every element equal to value (no randomness) */
  | { kind: "fill"; value: number };

/** splitmix32 finaliser: a well-mixed 32-bit hash of x. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over the UTF-16 code units of s. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h >>> 0;
}

/** A resumable sfc32 stream; fill() continues where the previous call stopped. */
export class WeightStream {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(
    key: string,
    seed: number,
    private readonly init: WeightInit,
  ) {
    const s = (Math.trunc(seed) >>> 0) ^ Math.imul(Math.floor(seed / 4294967296) >>> 0, 0x27d4eb2d);
    this.a = mix32(fnv1a(key));
    this.b = mix32((this.a ^ mix32(s)) >>> 0);
    this.c = mix32((this.b + 0x165667b1) >>> 0);
    this.d = 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  private u32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = (this.b ^ (this.b >>> 9)) >>> 0;
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Values per row (fills must be whole rows), 1 when rows do not matter. */
  get row(): number {
    return this.init.kind === "normal" ? (this.init.row ?? 1) : 1;
  }

  /** Fill `out` with the next out.length values of the stream. */
  fill(out: Float32Array): void {
    const init = this.init;
    const n = out.length;
    if (init.kind === "fill") {
      out.fill(init.value);
      return;
    }
    // the generator is inlined into each loop (locals, no calls) so V8 keeps it in registers
    let a = this.a;
    let b = this.b;
    let c = this.c;
    let d = this.d;
    if (init.kind === "normal") {
      // h1+h2+h3+h4 of 16-bit uniforms: mean 131070, variance 4 * (65536^2 - 1) / 12
      const k = (init.std * Math.sqrt(3)) / 65536;
      for (let i = 0; i < n; i++) {
        let t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = ((c << 21) | (c >>> 11)) >>> 0;
        c = (c + t) >>> 0;
        const u = t;
        t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = ((c << 21) | (c >>> 11)) >>> 0;
        c = (c + t) >>> 0;
        out[i] = ((u & 0xffff) + (u >>> 16) + (t & 0xffff) + (t >>> 16) - 131070) * k;
      }
      const row = init.row;
      if (row !== undefined && row > 1) {
        if (n % row !== 0) throw new Error(`internal: fill of ${n} values is not a whole number of rows of ${row}`);
        const rescale = Math.sqrt(row / (row - 1));
        for (let r0 = 0; r0 < n; r0 += row) {
          let sum = 0;
          for (let i = r0; i < r0 + row; i++) sum += out[i] as number;
          const mean = sum / row;
          for (let i = r0; i < r0 + row; i++) out[i] = ((out[i] as number) - mean) * rescale;
        }
      }
    } else {
      const center = init.kind === "around" ? init.center : 0;
      const spread = init.kind === "around" ? init.spread : init.bound;
      const k = (2 * spread) / 4294967296;
      for (let i = 0; i < n; i++) {
        const t = (((a + b) >>> 0) + d) >>> 0;
        d = (d + 1) >>> 0;
        a = b ^ (b >>> 9);
        b = (c + (c << 3)) >>> 0;
        c = ((c << 21) | (c >>> 11)) >>> 0;
        c = (c + t) >>> 0;
        out[i] = center - spread + t * k;
      }
    }
    this.a = a >>> 0;
    this.b = b;
    this.c = c;
    this.d = d;
  }
}
