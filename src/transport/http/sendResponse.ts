import type { ServerResponse } from "node:http";

/**
 * Answer with `body` (a string is sent as JSON; chunks are written in order without
 * concatenating) and a Content-Length.
 */
export function sendResponse(res: ServerResponse, status: number, body: Uint8Array | Uint8Array[] | string, headers: Record<string, string> = {}): void {
  const chunks = typeof body === "string" ? [Buffer.from(body)] : Array.isArray(body) ? body : [body];
  const length = chunks.reduce((n, c) => n + c.length, 0);
  res.writeHead(status, { "Content-Length": String(length), ...(typeof body === "string" ? { "Content-Type": "application/json" } : {}), ...headers });
  if (chunks.length === 1) res.end(chunks[0]);
  else {
    res.cork();
    for (const c of chunks) res.write(c);
    res.uncork();
    res.end();
  }
}
