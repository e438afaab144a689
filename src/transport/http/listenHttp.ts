/**
 * Listen with the hardening every splitwatt server shares: HTTP or HTTPS (PEM cert and key),
 * Node's request timeout (the time to receive a whole request, headers and body: 408 beyond)
 * checked often enough to follow it, and keep-alive. Resolves with the server and its base URL.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

export interface ListenOptions {
  /** address to bind (default 127.0.0.1: loopback only) */
  host?: string | undefined;
  /** port (0: any free one) */
  port: number;
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** time to receive a whole request, ms (default 30 s) */
  requestTimeoutMs?: number | undefined;
  /**
   * a connection whose request body may outlast the request timeout (a stream in progress):
   * Node's request timeout leaves it alone while this says so
   */
  longRequest?: ((socket: Duplex) => boolean) | undefined;
}

/** What Node answers a client error with when nobody handles it (its http server's defaults). */
const CLIENT_ERROR_ANSWERS: Record<string, string> = {
  HPE_HEADER_OVERFLOW: "HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n",
  HPE_CHUNK_EXTENSIONS_OVERFLOW: "HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n\r\n",
  ERR_HTTP_REQUEST_TIMEOUT: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n",
};

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
  const long = opts.longRequest;
  if (long !== undefined) {
    // Node's own handling, except that a long request's timeout is ignored (it is checked again every interval)
    server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (err.code === "ERR_HTTP_REQUEST_TIMEOUT" && long(socket)) return;
      const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
      if (socket.writable && (pending === undefined || pending === null || pending.headersSent !== true)) socket.write(CLIENT_ERROR_ANSWERS[err.code ?? ""] ?? "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
      socket.destroy(err);
    });
  }
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
