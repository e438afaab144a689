/**
 * Listen with the hardening every splitwatt server shares: HTTP or HTTPS (PEM cert and key),
 * Node's request timeout (the time to receive a whole request, headers and body: 408 beyond)
 * checked often enough to follow it, and keep-alive. Resolves with the server and its base URL.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";

export interface ListenOptions {
  /** address to bind (default 127.0.0.1: loopback only) */
  host?: string | undefined;
  /** port (0: any free one) */
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** time to receive a whole request, ms (default 30 s) */
  requestTimeoutMs?: number | undefined;
}

export async function listenHttp(opts: ListenOptions, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  // Node's requestTimeout (default 300 s) bounds the time to receive a request; it is checked
  // every connectionsCheckingInterval (default 30 s), so that interval follows the timeout
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const timeouts = {
    keepAliveTimeout: 30_000,
    requestTimeout,
    headersTimeout: Math.min(30_000, requestTimeout),
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(requestTimeout / 4))),
  };
  const server = opts.tls === undefined ? createHttpServer(timeouts, handler) : createHttpsServer({ ...opts.tls, ...timeouts }, handler);
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, host, () => {
      server.removeListener("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return { server, url: `${opts.tls === undefined ? "http" : "https"}://${h}:${a.port}` };
}

/** Stop listening and close idle keep-alive connections; resolves once every connection is gone. */
export function closeHttp(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
