/**
 * The profiler's way to a tail server: a given URL (a real network), or a local `splitwatt
 * serve` child on this machine behind the network profile's emulated link (kernel netns + tbf
 * as root, else a token bucket in the client; see transport/linkEmulation.ts). It says how the
 * link was made, for every output, and what it knows of the link's conditions.
 */
import type { TestbedLink, WebGpuAdapter } from "../contracts/measurement.js";
import { UsageError } from "../errors.js";
import { chooseShaping, LinkEmulation, type ShapingChoice } from "../transport/linkEmulation.js";
import type { NetworkProfile } from "../transport/networkProfile.js";
import { TailClient } from "../transport/tailClient.js";
import { LocalTailServer } from "./localTailServer.js";

export type LinkMode = "auto" | "kernel" | "app" | "none";

export interface TailConnectionOptions {
  /** tail server URL; none = a local child serving `modelPath` as "model" */
  serverUrl?: string | undefined;
  token?: string | undefined;
  modelPath: string;
  inputShapes?: Record<string, number[]> | undefined;
  /** one item's values per input, for the local server's shape probe */
  inputValues?: Readonly<Record<string, readonly number[]>> | undefined;
  network: NetworkProfile | null;
  link?: LinkMode | undefined;
  /** per-request timeout (default 120 s: a first tail split of a large model is slow) */
  timeoutMs?: number | undefined;
  /** keep-alive connections of the client (default 4; a pipeline needs one per request in flight) */
  connections?: number | undefined;
  /** the local child: inferences at once, server-side batching */
  maxConcurrency?: number | undefined;
  maxBatch?: number | undefined;
  maxQueueDelayMs?: number | undefined;
  /** the local child's execution target (`serve --target`, default cpu); ignored with serverUrl */
  target?: string | undefined;
}

/** Where the server says it runs tails (GET /v2; null for servers that do not say). */
export interface ServerPlacement {
  target: string | null;
  adapter: WebGpuAdapter | null;
}

/**
 * The link a connection with these options makes, as the testbed names it, before it is made:
 * `real` to a server URL, `none` without a profile or with --link none, `kernel` or `app` as
 * asked, and for `auto` kernel where the kernel path is available (as root), else app.
 */
export async function plannedLink(o: Pick<TailConnectionOptions, "serverUrl" | "network" | "link">): Promise<TestbedLink> {
  if (o.serverUrl !== undefined) return "real";
  const link = o.link ?? "auto";
  if (o.network === null || link === "none") return "none";
  if (link !== "auto") return link;
  return (await LinkEmulation.available()).ok ? "kernel" : "app";
}

export class TailConnection {
  private constructor(
    readonly client: TailClient,
    /** how the link is made, e.g. "kernel: netns sw-1-0, ... tbf 20 Mbit/s ...; the profile's 10 ms RTT added by the client" */
    readonly linkLabel: string,
    /** one line for a reader of the output */
    readonly note: string,
    /** the uplink rate the link is shaped to, Mbit/s (null: not shaped, e.g. a real network) */
    readonly shapedUplinkMbps: number | null,
    /** RTT the client adds per request, ms (null: not emulated) */
    readonly addedRttMs: number | null,
    /** the server as conditions name it: its URL, or "local" */
    readonly serverName: string,
    /** the link as it was made (auto resolved; a kernel path that failed fell back to app) */
    readonly linkMode: TestbedLink,
    private readonly server: LocalTailServer | null,
    private readonly shaping: ShapingChoice | null,
    /** where the server says it runs tails */
    readonly placement: ServerPlacement,
  ) {}

  private static async placementOf(client: TailClient): Promise<ServerPlacement> {
    try {
      const info = await client.serverInfo();
      return { target: info.target, adapter: info.adapter };
    } catch {
      return { target: null, adapter: null };
    }
  }

  static async open(o: TailConnectionOptions): Promise<TailConnection> {
    const net = o.network;
    const timeoutMs = o.timeoutMs ?? 120_000;
    if (o.serverUrl !== undefined) {
      const client = new TailClient({ url: o.serverUrl, token: o.token, timeoutMs, connections: o.connections });
      if (!(await client.ready())) {
        await client.close();
        throw new UsageError(`the tail server at ${o.serverUrl} is not ready: start it with splitwatt serve, or leave out --server to use a local one`);
      }
      const note = net === null ? "real network to the given server; no radio energy (no --network profile)" : `real network to the given server; radio energy from the ${net.name} profile x measured transfer time`;
      return new TailConnection(client, `real network to ${o.serverUrl}`, note, null, null, o.serverUrl, "real", null, null, await TailConnection.placementOf(client));
    }
    const link = o.link ?? "auto";
    const shaping: ShapingChoice =
      net === null || link === "none"
        ? { mode: "none", label: "loopback, not shaped" }
        : await chooseShaping({ uplinkMbps: net.uplinkMbps, downlinkMbps: net.downlinkMbps, rttMs: net.rttMs }, { prefer: link });
    const linkEm: LinkEmulation | null = shaping.mode === "netns-tbf" ? shaping.link : null;
    let server: LocalTailServer;
    try {
      server = await LocalTailServer.start({
        models: { model: o.modelPath },
        host: linkEm?.serverAddress ?? "127.0.0.1",
        target: o.target,
        inputShapes: o.inputShapes,
        inputValues: o.inputValues,
        execPrefix: linkEm?.execPrefix,
        maxConcurrency: o.maxConcurrency,
        maxBatch: o.maxBatch,
        maxQueueDelayMs: o.maxQueueDelayMs,
      });
    } catch (e) {
      await linkEm?.close();
      throw e;
    }
    // tbf shapes bandwidth but cannot delay: the client adds the profile's RTT on the kernel path
    const shape =
      shaping.mode === "app-token-bucket" ? shaping.shape : shaping.mode === "netns-tbf" && net !== null && net.rttMs > 0 ? { uplinkMbps: null, downlinkMbps: null, rttMs: net.rttMs } : undefined;
    const client = new TailClient({ url: server.url, timeoutMs, connections: o.connections, ...(shape === undefined ? {} : { shape }) });
    const label = shaping.mode === "netns-tbf" && shape !== undefined ? `${shaping.link.label}; the profile's ${net?.rttMs} ms RTT added by the client` : shaping.label;
    const shaped = shaping.mode !== "none" && net !== null;
    return new TailConnection(
      client,
      label,
      `local tail server on this machine (${label}); it shares this machine's CPU with the device side`,
      shaped ? net.uplinkMbps : null,
      shaped ? net.rttMs : null,
      "local",
      shaping.mode === "netns-tbf" ? "kernel" : shaping.mode === "app-token-bucket" ? "app" : "none",
      server,
      shaping,
      await TailConnection.placementOf(client),
    );
  }

  /** The link's round trip, ms: the quickest health probe (`networkMs`, 0 when the server does not answer) plus the RTT the client emulates. */
  async roundTrip(): Promise<{ totalMs: number; networkMs: number; emulatedMs: number }> {
    const networkMs = (await this.client.ping()) ?? 0;
    const emulatedMs = this.client.emulatedRttMs;
    return { totalMs: networkMs + emulatedMs, networkMs, emulatedMs };
  }

  /** The local child's pid (null with a given URL). */
  get serverPid(): number | null {
    return this.server?.pid ?? null;
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.server?.stop();
    if (this.shaping?.mode === "netns-tbf") await this.shaping.link.close();
  }
}
