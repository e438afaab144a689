/**
 * A search space: named dimensions, each a finite list of values, plus a validity predicate.
 * A genome is the vector of value indices, one per dimension in dimension order; a config is
 * the `{ dimension: value }` record it stands for. Ordered dimensions (split index, CPU
 * frequency) are mutated by a step to a neighbouring value, categorical ones (accelerators,
 * codecs) by a reset to any other value.
 */
import { UsageError } from "../errors.js";
import { canonicalConfigKey, type Config, type ConfigValue } from "../contracts/measurement.js";

export interface Dimension {
  name: string;
  /** the values in their order (ascending for ordered numeric dimensions) */
  values: readonly ConfigValue[];
  /** true: neighbours are the adjacent values; false: every other value is a neighbour */
  ordered: boolean;
}

export type Genome = readonly number[];

/** a value's identity inside one dimension (1200 and 1200.0 are the same; "1" and 1 are not) */
const valueId = (v: ConfigValue): string => `${typeof v}:${String(v)}`;

export class Space {
  readonly dimensions: readonly Dimension[];
  private readonly validity: (config: Config) => boolean;
  private readonly lookup: ReadonlyMap<string, number>[];
  private readonly byName: ReadonlyMap<string, number>;

  /** `isValid` sees the whole config; without it every combination is valid. */
  constructor(dimensions: readonly Dimension[], isValid?: (config: Config) => boolean) {
    if (dimensions.length === 0) throw new UsageError("search space has no dimensions; give at least one");
    const names = new Map<string, number>();
    this.lookup = dimensions.map((d, i) => {
      if (d.name.length === 0) throw new UsageError("search space has a dimension with an empty name; name every dimension");
      if (names.has(d.name)) throw new UsageError(`search space dimension "${d.name}" appears twice; give each dimension once`);
      names.set(d.name, i);
      if (d.values.length === 0) throw new UsageError(`search space dimension "${d.name}" has no values; give at least one`);
      const m = new Map<string, number>();
      d.values.forEach((v, j) => {
        if (typeof v === "number" && !Number.isFinite(v)) throw new UsageError(`search space dimension "${d.name}" has the value ${v}; use finite numbers`);
        if (m.has(valueId(v))) throw new UsageError(`search space dimension "${d.name}" lists ${JSON.stringify(v)} twice; give each value once`);
        m.set(valueId(v), j);
      });
      return m;
    });
    this.byName = names;
    this.dimensions = dimensions.map((d) => ({ name: d.name, values: [...d.values], ordered: d.ordered }));
    this.validity = isValid ?? (() => true);
  }

  /** product of the dimension sizes (valid or not) */
  get cartesianSize(): number {
    return this.dimensions.reduce((p, d) => p * d.values.length, 1);
  }

  /** index of a dimension by name, or -1 */
  dimensionIndex(name: string): number {
    return this.byName.get(name) ?? -1;
  }

  /** index of `value` in dimension `dimension` (an index), or -1 */
  valueIndex(dimension: number, value: ConfigValue): number {
    return this.lookup[dimension]?.get(valueId(value)) ?? -1;
  }

  config(genome: Genome): Config {
    const c: Config = {};
    this.dimensions.forEach((d, i) => {
      const v = d.values[genome[i] ?? -1];
      if (v === undefined) throw new RangeError(`genome index ${genome[i]} out of range for dimension "${d.name}"`);
      c[d.name] = v;
    });
    return c;
  }

  /** the genome of a config, or null when it lacks a dimension, has an extra one or uses a value the space does not list */
  genome(config: Config): number[] | null {
    if (Object.keys(config).length !== this.dimensions.length) return null;
    const g: number[] = [];
    for (let i = 0; i < this.dimensions.length; i++) {
      const d = this.dimensions[i] as Dimension;
      const v = config[d.name];
      if (v === undefined) return null;
      const j = (this.lookup[i] as ReadonlyMap<string, number>).get(valueId(v));
      if (j === undefined) return null;
      g.push(j);
    }
    return g;
  }

  /** compact identity of a genome inside this space (use `key` for the canonical config key) */
  id(genome: Genome): string {
    return genome.join(",");
  }

  /** canonical config key (sorted dimensions), as measurement stores use */
  key(genome: Genome): string {
    return canonicalConfigKey(this.config(genome));
  }

  isValid(genome: Genome): boolean {
    return this.validity(this.config(genome));
  }

  /**
   * One-gene changes of `genome`: the adjacent values of each ordered dimension and every other
   * value of each categorical one, dimension by dimension. With `skip`, an ordered step walks on
   * past genomes `skip` rejects (e.g. configurations known to be absent from a pool) to the
   * next one it accepts; categorical alternatives that `skip` rejects are left out.
   */
  neighbours(genome: Genome, skip: (g: Genome) => boolean = () => false): number[][] {
    const out: number[][] = [];
    this.dimensions.forEach((d, i) => {
      const x = genome[i] as number;
      if (d.ordered) {
        for (const dir of [-1, 1]) {
          for (let v = x + dir; v >= 0 && v < d.values.length; v += dir) {
            const g = [...genome];
            g[i] = v;
            if (!skip(g)) {
              out.push(g);
              break;
            }
          }
        }
      } else {
        for (let v = 0; v < d.values.length; v++) {
          if (v === x) continue;
          const g = [...genome];
          g[i] = v;
          if (!skip(g)) out.push(g);
        }
      }
    });
    return out;
  }

  /** Valid genomes in lexicographic index order (the first dimension varies slowest). */
  *enumerate(): Generator<number[]> {
    const n = this.dimensions.length;
    const sizes = this.dimensions.map((d) => d.values.length);
    const g = new Array<number>(n).fill(0);
    for (;;) {
      if (this.isValid(g)) yield [...g];
      let i = n - 1;
      while (i >= 0) {
        const next = (g[i] as number) + 1;
        if (next < (sizes[i] as number)) {
          g[i] = next;
          break;
        }
        g[i] = 0;
        i--;
      }
      if (i < 0) return;
    }
  }

  /** Number of valid genomes, counting no further than `limit` (returns limit + 1 when there are more). */
  countValid(limit = Number.MAX_SAFE_INTEGER): number {
    let n = 0;
    for (const _ of this.enumerate()) {
      n++;
      if (n > limit) return n;
    }
    return n;
  }
}
