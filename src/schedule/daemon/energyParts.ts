/**
 * One answered request's energy by part, each with its source, accounted as the profiler
 * accounted the front's measurements (so measured and predicted figures compare):
 *
 *   device   the energy meter over the request's window (from its head's start to its result):
 *            a counter or power sensor where the board has one, else the board power model
 *            (`estimate`); an external meter's figure arrives after the answer (`pending`)
 *   network  the network profile's radio power x the time on the wire: tx over the upload time
 *            (wire bytes at the estimated bandwidth, else the profile's uplink), rx for the rest;
 *            `estimate`; 0 when nothing was sent; null without a profile
 *   server   what the server measured over its compute window (energy_j, with its source), else
 *            its power model x its busy time (`estimate`, or `node` accounting); 0 when nothing
 *            was sent
 */
import type { EnergyWindow } from "../../hw/energyMeter.js";
import type { BoardProfile } from "../../hw/boardProfile.js";
import { serverEnergyJ, type ServerAccounting } from "../../measure/serverEnergy.js";
import type { ExecutionResult } from "../../runtime/splitExecutor.js";
import { radioEnergyJ, type NetworkProfile } from "../../transport/networkProfile.js";

export interface EnergyParts {
  energyJ: { device: number | null; network: number | null; server: number | null; total: number | null };
  source: { device: string | null; network: string | null; server: string | null };
  /** the device figure waits for an external meter's readings (settled later) */
  devicePending: boolean;
}

export interface EnergyContext {
  network: NetworkProfile | null;
  serverProfile: BoardProfile;
  serverAccounting: ServerAccounting;
  /** the bandwidth estimate now, Mbit/s (null: unknown) */
  bandwidthMbps: number | null;
}

/** The device part of a window: its figure and source. */
export function deviceEnergy(w: EnergyWindow, hasMeter: boolean): { j: number | null; source: string; pending: boolean } {
  const source = w.estimated ? "estimate" : w.source;
  if (w.deviceComplete) return { j: w.deviceJ, source, pending: false };
  return { j: null, source, pending: hasMeter };
}

export function energyParts(r: ExecutionResult, w: EnergyWindow, hasMeter: boolean, ctx: EnergyContext): EnergyParts {
  const dev = deviceEnergy(w, hasMeter);
  const remote = r.server !== null;
  let network: number | null = null;
  if (ctx.network !== null) {
    if (!remote) network = 0;
    else {
      const t = r.timings.transferMs;
      const upMs = (r.wireBytes * 8) / ((ctx.bandwidthMbps ?? ctx.network.uplinkMbps) * 1000);
      const txMs = Math.min(t, upMs);
      network = radioEnergyJ(ctx.network, { txMs, rxMs: Math.max(0, t - txMs) });
    }
  }
  let server = 0;
  let serverSource: string | null = null;
  if (remote) {
    const s = r.server!;
    if (s.energyJ !== null) {
      server = s.energyJ;
      serverSource = s.energySource ?? "meter";
    } else {
      server = serverEnergyJ({ accounting: ctx.serverAccounting, profile: ctx.serverProfile, computeMs: s.computeMs ?? r.timings.serverMs, serverMs: r.timings.serverMs });
      serverSource = ctx.serverAccounting === "node" ? "node" : "estimate";
    }
  }
  const total = dev.j === null ? null : dev.j + (network ?? 0) + server;
  return {
    energyJ: { device: dev.j, network, server, total },
    source: { device: dev.source, network: network === null ? null : "estimate", server: serverSource },
    devicePending: dev.pending,
  };
}
