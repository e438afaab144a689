/**
 * Where a configuration runs: all on the device, all on the server, or split. Live files cut
 * along the dimension `split`, replayed DynaSplit pools along `layer`; either is an ordered
 * dimension of whole numbers where 0 is all on the server and the largest cut all on the device.
 *
 *   device: the split dimension at its last value, and nothing crosses the link
 *           (`sendsNothing`) where the entry has per-part data (a live space whose last cut is
 *           not the model's last is then not mistaken for all-on-device); without a split
 *           dimension, `sendsNothing` alone (entries with per-part data only)
 *   server: the split dimension at its first value, when that value is 0
 *   split:  anything else (including an entry nothing tells about)
 */
import type { ConfigValue } from "../contracts/measurement.js";
import type { ParetoEntry, ParetoFile } from "../contracts/paretoFile.js";
import { hasParts, sendsNothing } from "../predict/costModel.js";

export type Placement = "device" | "server" | "split";

/** The dimensions that cut the model, in order of preference. */
export const SPLIT_DIMENSIONS = ["split", "layer"] as const;

/** The space's split dimension and its extreme values. */
export interface SplitAxis {
  dimension: string;
  /** the last value: all on the device */
  device: ConfigValue;
  /** the first value when it is 0 (all on the server), else null */
  server: ConfigValue | null;
}

/** The ordered split dimension of a space (`split`, else `layer`), or null when it has none. */
export function splitAxis(space: ParetoFile["space"]): SplitAxis | null {
  for (const name of SPLIT_DIMENSIONS) {
    const d = space.dimensions.find((x) => x.name === name && x.ordered);
    if (d === undefined) continue;
    const first = d.values[0] as ConfigValue;
    return { dimension: name, device: d.values[d.values.length - 1] as ConfigValue, server: first === 0 ? first : null };
  }
  return null;
}

/** Where `entry` runs, given its space's split axis (see the rule above). */
export function placementOf(entry: ParetoEntry, axis: SplitAxis | null): Placement {
  const parts = hasParts(entry);
  if (axis === null) return parts && sendsNothing(entry) ? "device" : "split";
  const v = entry.config[axis.dimension];
  if (v === axis.device && (!parts || sendsNothing(entry))) return "device";
  if (axis.server !== null && v === axis.server) return "server";
  return "split";
}
