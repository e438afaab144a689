/**
 * The in-process testbed of `splitwatt bench --daemon` (no URL): a local tail server (a
 * `splitwatt serve` child) behind a link shaped to the network profile as `measure` shapes it
 * (kernel netns + veth + tbf as root, else a token bucket in the daemon's client; labelled), and
 * an in-process daemon (startDaemon) in front of it. A bandwidth trace's points change the link:
 * the tbf rate (`tc qdisc change`, both directions) on the kernel path, the token bucket's
 * otherwise; a trace's RttMs, or the profile's RTT, is added by the daemon's client (tbf cannot
 * delay and netem is absent).
 */
import type { TracePoint } from "../contracts/conditionsTrace.js";
import type { DaemonOptionsInput } from "../contracts/daemonConfig.js";
import type { LiveRun } from "../contracts/benchResults.js";
import { LocalTailServer } from "../measure/localTailServer.js";
import { resolveModel } from "../model/resolveModel.js";
import { startDaemon, type DaemonHandle } from "../schedule/daemon/startDaemon.js";
import { chooseShaping, type LinkEmulation, type ShapingChoice } from "../transport/linkEmulation.js";
import { networkProfile } from "../transport/networkProfile.js";
import type { LinkShape } from "../transport/tailClient.js";

export type LinkMode = "auto" | "kernel" | "app" | "none";

export interface LiveRigOptions {
  /** the daemon's options (a daemon YAML's keys), front and model included; host, port and server are the rig's */
  daemon: DaemonOptionsInput & { front: string; model: string };
  /** the front's network profile name (the link's rates and RTT unless a trace gives them) */
  frontNetwork: string | null;
  link: LinkMode;
  /** the first point of the bandwidth trace (its rate and RTT from the start), or null */
  first: TracePoint | null;
  /** the daemon's structured log records */
  log?: ((record: Record<string, unknown>) => void) | undefined;
}

export class LiveRig {
  private rate: number | null;
  private rttMs: number;

  private constructor(
    readonly daemon: DaemonHandle,
    private readonly server: LocalTailServer,
    private readonly shaping: ShapingChoice,
    /** the link's kind and label for the results */
    readonly link: LiveRun["link"],
    rate: number | null,
    rttMs: number,
  ) {
    this.rate = rate;
    this.rttMs = rttMs;
  }

  /** the uplink rate the link is shaped to now, Mbit/s (null: not shaped) */
  get bandwidthMbps(): number | null {
    return this.shaping.mode === "none" ? null : this.rate;
  }

  static async start(o: LiveRigOptions): Promise<LiveRig> {
    const resolved = await resolveModel(o.daemon.model);
    const profileName = o.daemon.network ?? o.frontNetwork;
    const profile = profileName === null || profileName === "none" ? null : networkProfile(profileName);
    const up = o.first?.bandwidthMbps ?? profile?.uplinkMbps ?? null;
    const down = o.first?.bandwidthMbps ?? profile?.downlinkMbps ?? up;
    const rttMs = o.first?.rttMs ?? profile?.rttMs ?? 0;
    const shaping: ShapingChoice =
      o.link === "none" || up === null || down === null ? { mode: "none", label: "loopback, not shaped" } : await chooseShaping({ uplinkMbps: up, downlinkMbps: down, rttMs }, { prefer: o.link });
    const em: LinkEmulation | null = shaping.mode === "netns-tbf" ? shaping.link : null;
    let server: LocalTailServer | null = null;
    try {
      server = await LocalTailServer.start({ models: { model: resolved.path }, host: em?.serverAddress ?? "127.0.0.1", inputShapes: resolved.inputShapes, execPrefix: em?.execPrefix });
      const shape = LiveRig.shapeOf(shaping.mode, up, down, rttMs);
      const daemon = await startDaemon({ utilisation: "process", ...o.daemon, server: server.url, serverModel: "model", host: "127.0.0.1", port: 0, serverShape: shape, log: o.log });
      const source = o.first?.bandwidthMbps != null ? "at the start, then the bandwidth trace's rates" : `(the ${profile?.name ?? "?"} profile)`;
      const link: LiveRun["link"] =
        shaping.mode === "netns-tbf"
          ? { kind: "kernel-tbf", label: `emulated (kernel tbf): ${shaping.link.label} ${source}${rttMs > 0 ? `; ${rttMs} ms RTT added by the daemon's client (tbf cannot delay)` : ""}` }
          : shaping.mode === "app-token-bucket"
            ? { kind: "app", label: `emulated (app): ${shaping.label.replace(/^app: /, "")}, in the daemon's client, ${source}` }
            : { kind: "none", label: `not shaped: loopback to a local tail server${o.link === "none" ? " (--link none)" : " (the front names no network profile)"}` };
      return new LiveRig(daemon, server, shaping, link, up, rttMs);
    } catch (err) {
      await server?.stop();
      await em?.close();
      throw err;
    }
  }

  /** The client-side shape: the whole link on the app path, only the RTT on the kernel path. */
  private static shapeOf(mode: ShapingChoice["mode"], up: number | null, down: number | null, rttMs: number): LinkShape | undefined {
    if (mode === "app-token-bucket") return { uplinkMbps: up, downlinkMbps: down, rttMs };
    if (mode === "netns-tbf" && rttMs > 0) return { uplinkMbps: null, downlinkMbps: null, rttMs };
    return undefined;
  }

  /** Apply a trace point: its rate to both directions, its RTT (when it gives them). */
  async apply(p: TracePoint): Promise<void> {
    if (this.shaping.mode === "none") return;
    const rate = p.bandwidthMbps ?? this.rate;
    const rtt = p.rttMs ?? this.rttMs;
    if (rate === this.rate && rtt === this.rttMs) return;
    if (this.shaping.mode === "netns-tbf" && rate !== null && rate !== this.rate) await this.shaping.link.setRate({ uplinkMbps: rate, downlinkMbps: rate });
    this.rate = rate;
    this.rttMs = rtt;
    this.daemon.setServerShape(LiveRig.shapeOf(this.shaping.mode, rate, rate, rtt));
  }

  async close(): Promise<void> {
    try {
      await this.daemon.close();
    } finally {
      await this.server.stop();
      if (this.shaping.mode === "netns-tbf") await this.shaping.link.close();
    }
  }
}
