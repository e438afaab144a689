/**
 * Server energy per inference when the server reports none of its own: its busy time times a
 * power model (the server's board profile), accounted one of two ways:
 * - `marginal`: (P(busy) - P(idle)) x busy time: what this inference adds to a server that is on anyway;
 * - `node`: P(busy) x the request's time on the server: the whole node's energy while it serves
 *   the request, as DynaSplit accounted its cloud node.
 */
import type { BoardProfile } from "../hw/boardProfile.js";
import { estimatePowerW } from "../hw/powerModel.js";

export type ServerAccounting = "marginal" | "node";

export interface ServerEnergyInput {
  accounting: ServerAccounting;
  profile: BoardProfile;
  /** onnxruntime compute time on the server, ms (the busy time) */
  computeMs: number;
  /** the request's whole time on the server (queue, decode, compute, encode), ms */
  serverMs: number;
  /** share of the server's CPU an inference keeps busy, 0..1 (default 1: onnxruntime uses every core) */
  busyUtil?: number | undefined;
}

/** J per inference. */
export function serverEnergyJ(x: ServerEnergyInput): number {
  const util = Math.min(1, Math.max(0, x.busyUtil ?? 1));
  const busyW = estimatePowerW(x.profile, util, null);
  if (x.accounting === "marginal") return (Math.max(0, busyW - estimatePowerW(x.profile, 0, null)) * x.computeMs) / 1000;
  // node: busy power while computing, idle power for the rest of the request's server time
  const idleMs = Math.max(0, x.serverMs - x.computeMs);
  return (busyW * x.computeMs + estimatePowerW(x.profile, 0, null) * idleMs) / 1000;
}
