/**
 * The programmatic API of the daemon (the benchmarks and `splitwatt bench --daemon` use it): an
 * in-process daemon from an options object (the keys of configs/daemon.example.yaml; `port: 0`
 * picks a free port), resolving once it listens.
 *
 *   const d = await startDaemon({ front: "cls.pareto.json", model: "paddle:cls", server: "http://10.0.0.2:8000", port: 0 });
 *   ... POST `${d.url}/v2/models/${d.name}/infer` ...
 *   await d.close();   // drains, restores the CPU frequency
 *
 * No signal handlers are installed (the embedding process owns its signals); a normal process
 * exit without close() still restores the CPU frequency (exit hook).
 */
import type { DaemonOptionsInput } from "../../contracts/daemonConfig.js";
import type { LinkShape } from "../../transport/tailClient.js";
import { Daemon, type DaemonLog } from "./daemon.js";

export interface StartDaemonOptions extends DaemonOptionsInput {
  /** structured log records; default: none */
  log?: DaemonLog | undefined;
  /** emulate the link to the tail server in its client (rate, RTT): see DaemonHooks.serverShape */
  serverShape?: LinkShape | undefined;
}

export interface DaemonHandle {
  /** the base URL it listens on, e.g. http://127.0.0.1:41234 */
  url: string;
  /** the model's name in the API: /v2/models/<name>/infer */
  name: string;
  /** the daemon, for status() and its metrics registry */
  daemon: Daemon;
  /** change the client-side link emulation (serverShape) from the next request on */
  setServerShape(shape: LinkShape | undefined): void;
  /** stop accepting, finish what was accepted, restore the CPU frequency, release everything */
  close(): Promise<void>;
}

export async function startDaemon(options: StartDaemonOptions): Promise<DaemonHandle> {
  const { log, serverShape, ...rest } = options;
  const daemon = await Daemon.start(rest, { log, serverShape });
  return { url: daemon.url, name: daemon.name, daemon, setServerShape: (shape) => daemon.setServerShape(shape), close: () => daemon.close() };
}
