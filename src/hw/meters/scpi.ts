/**
 * `scpi:HOST:PORT#QUERY`: a bench power meter on raw TCP (SCPI over a socket, port 5025 on most).
 * Every period: send QUERY + "\n", read one line back, the first number on it in W. A late or
 * missing answer drops the connection (so a late line is never taken for the next query's) and
 * the next poll reconnects.
 */
import { Socket } from "node:net";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import type { MeterOpenOptions } from "./meter.js";
import { MeterTrace } from "./meterTrace.js";
import { PollingMeter } from "./pollingMeter.js";

type ScpiSpec = Extract<MeterSpec, { kind: "scpi" }>;

/** The watts in one answer line: its first field (before , or ;) is a number, optionally followed by W. */
export function parseScpiWatts(line: string): number {
  const field = (line.split(/[,;]/)[0] ?? "").trim();
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(?:W)?$/.exec(field);
  if (m === null) throw new Error(`unparsable answer ${JSON.stringify(line.slice(0, 40))} (expected a number of watts)`);
  return Number(m[1]);
}

export class ScpiMeter extends PollingMeter {
  private socket: Socket | null = null;
  private buffer = "";
  private pending: { resolve: (line: string) => void; reject: (err: Error) => void } | null = null;

  constructor(spec: ScpiSpec, label: string, opts: MeterOpenOptions) {
    super(spec, label, new MeterTrace(label, opts.onWarning ?? (() => undefined)), opts);
    this.start();
  }

  private connect(): Socket {
    const spec = this.spec as ScpiSpec;
    const s = new Socket();
    s.setNoDelay(true);
    s.setEncoding("latin1");
    s.on("data", (chunk: string) => {
      this.buffer += chunk;
      for (let nl = this.buffer.indexOf("\n"); nl >= 0; nl = this.buffer.indexOf("\n")) {
        const line = this.buffer.slice(0, nl).replace(/\r$/, "");
        this.buffer = this.buffer.slice(nl + 1);
        const p = this.pending;
        this.pending = null;
        p?.resolve(line); // a line nobody asked for is dropped
      }
      if (this.buffer.length > 65536) this.drop(new Error("answer longer than 64 KiB without a newline"));
    });
    s.on("error", (err: NodeJS.ErrnoException) => this.drop(new Error(err.code === "ECONNREFUSED" ? `connection refused by ${spec.host}:${spec.port}` : `connection failed: ${err.code ?? err.message}`)));
    s.on("close", () => this.drop(new Error(`${spec.host}:${spec.port} closed the connection`)));
    s.connect(spec.port, spec.host);
    return s;
  }

  /** Forget the connection; a waiting query fails with `err`. */
  private drop(err: Error): void {
    const s = this.socket;
    this.socket = null;
    this.buffer = "";
    s?.removeAllListeners();
    s?.on("error", () => undefined);
    s?.destroy();
    const p = this.pending;
    this.pending = null;
    p?.reject(err);
  }

  protected readOnce(signal: AbortSignal): Promise<number> {
    const spec = this.spec as ScpiSpec;
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => this.drop(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      const done = (): void => signal.removeEventListener("abort", onAbort);
      this.pending = {
        resolve: (line) => {
          done();
          try {
            resolve(parseScpiWatts(line));
          } catch (err) {
            reject(err as Error);
          }
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      this.socket ??= this.connect();
      this.socket.write(`${spec.query}\n`);
    });
  }

  protected async release(): Promise<void> {
    this.drop(new Error("closed"));
  }
}
