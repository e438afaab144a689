/**
 * Anchor configurations for the first population: all on the device at every combination of
 * the device-side dimensions (CPU frequency x device accelerator), and all on the server at
 * every value of the server-side dimensions (with and without the server accelerator). The
 * caller names the dimensions, so the same rule serves replay columns (`layer`, `cpu-freq`,
 * `edge-accelerator`, `server-accelerator`) and live ones (`split`, `cpuFreqMHz`,
 * `deviceTarget`, `serverTarget`, `codec`).
 */
import { UsageError } from "../errors.js";
import type { Config, ConfigValue } from "../contracts/measurement.js";
import type { Space } from "./space.js";

export interface AnchorSpec {
  /** the split dimension and its two extreme values */
  split: { dimension: string; device: ConfigValue; server: ConfigValue };
  /** dimensions enumerated for the all-on-device anchors, e.g. ["cpu-freq", "edge-accelerator"] */
  deviceDimensions: readonly string[];
  /** dimensions enumerated for the all-on-server anchors, e.g. ["server-accelerator"] */
  serverDimensions: readonly string[];
  /**
   * Preferred values of the other dimensions (e.g. the highest CPU frequency for the
   * all-on-server anchors). A dimension not given here, or whose preferred value makes the
   * config invalid, takes the first value in its list that makes the config valid.
   */
  fill?: Config;
}

/** The anchor genomes, valid and distinct, all-on-device ones first. */
export function anchorGenomes(space: Space, spec: AnchorSpec): number[][] {
  const dimIndex = (name: string): number => {
    const i = space.dimensionIndex(name);
    if (i < 0) throw new UsageError(`anchor dimension "${name}" is not in the search space (${space.dimensions.map((d) => d.name).join(", ")}); name one of those`);
    return i;
  };
  const valueIndex = (dim: number, v: ConfigValue): number => {
    const d = space.dimensions[dim]!;
    const j = space.valueIndex(dim, v);
    if (j < 0) throw new UsageError(`anchor value ${JSON.stringify(v)} is not a value of dimension "${d.name}"; use one of ${d.values.map((x) => JSON.stringify(x)).join(", ")}`);
    return j;
  };
  const splitDim = dimIndex(spec.split.dimension);
  const out: number[][] = [];
  const seen = new Set<string>();
  const build = (splitValue: ConfigValue, enumerated: readonly string[]): void => {
    const fixedDims = [splitDim, ...enumerated.map(dimIndex)];
    const rest = space.dimensions.map((_, i) => i).filter((i) => !fixedDims.includes(i));
    const restOrder = rest.map((i) => {
      const all = space.dimensions[i]!.values.map((_, j) => j);
      const pref = spec.fill?.[space.dimensions[i]!.name];
      if (pref === undefined) return all;
      const p = valueIndex(i, pref);
      return [p, ...all.filter((j) => j !== p)];
    });
    const combos = (dims: number[]): number[][] => dims.reduce<number[][]>((acc, i) => acc.flatMap((c) => space.dimensions[i]!.values.map((_, j) => [...c, j])), [[]]);
    const enumeratedDims = enumerated.map(dimIndex);
    for (const combo of combos(enumeratedDims)) {
      const g = new Array<number>(space.dimensions.length).fill(0);
      g[splitDim] = valueIndex(splitDim, splitValue);
      enumeratedDims.forEach((d, k) => (g[d] = combo[k] as number));
      // the first valid completion of the remaining dimensions, preferred values first
      const pos = rest.map(() => 0);
      for (;;) {
        rest.forEach((d, k) => (g[d] = restOrder[k]![pos[k]!]!));
        if (space.isValid(g)) {
          const id = space.id(g);
          if (!seen.has(id)) {
            seen.add(id);
            out.push([...g]);
          }
          break;
        }
        let k = rest.length - 1;
        while (k >= 0 && pos[k]! + 1 >= restOrder[k]!.length) pos[k--] = 0;
        if (k < 0) break;
        pos[k]! += 1;
      }
    }
  };
  build(spec.split.device, spec.deviceDimensions);
  build(spec.split.server, spec.serverDimensions);
  return out;
}
