import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { lingeringClose } from "../../src/transport/http/lingeringClose.js";

const ANSWER_BYTES = 4 << 20;
const servers: Array<{ close: () => void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/**
 * A server that answers a `Connection: close` response of ANSWER_BYTES after reading only the
 * first chunk of a body its client keeps sending; a client that starts reading the answer late.
 * Returns the bytes of the answer the client got and how its response ended.
 */
async function exchange(linger: boolean): Promise<{ bytes: number; ended: "end" | "error"; closed: Promise<number> }> {
  let closedAt: (ms: number) => void = () => undefined;
  const closedMs = new Promise<number>((r) => (closedAt = r));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.once("data", () => {
      req.pause();
      const closed = linger ? lingeringClose(req.socket, 2_000) : new Promise<void>((r) => req.socket.once("close", () => r()));
      void closed.then(() => closedAt(performance.now()));
      if (linger) req.resume();
      res.writeHead(200, { "Content-Type": "application/octet-stream", Connection: "close", "Content-Length": String(ANSWER_BYTES) });
      res.end(Buffer.alloc(ANSWER_BYTES, 7));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/", headers: { "Content-Type": "application/octet-stream" } });
    let bytes = 0;
    let sending = true;
    const chunk = Buffer.alloc(64 << 10, 1);
    const send = (): void => {
      if (!sending) return;
      if (req.write(chunk)) setImmediate(send);
      else req.once("drain", send);
    };
    req.on("error", () => undefined);
    req.on("response", (res) => {
      res.pause();
      // the client is busy: it reads the answer 300 ms later, still sending meanwhile
      setTimeout(() => {
        res.on("data", (c: Buffer) => (bytes += c.length));
        res.on("end", () => {
          sending = false;
          req.destroy();
          resolve({ bytes, ended: "end", closed: closedMs });
        });
        res.on("error", () => {
          sending = false;
          resolve({ bytes, ended: "error", closed: closedMs });
        });
        res.resume();
      }, 300);
    });
    send();
  });
}

describe("lingeringClose", () => {
  it("a client still sending when the answer ends reads all of it: the server ends its side, discards what comes and closes once the client does", async () => {
    const t0 = performance.now();
    const r = await exchange(true);
    expect(r.ended).toBe("end");
    expect(r.bytes).toBe(ANSWER_BYTES);
    // closed when the client closed (after its late read), well before the 2 s bound
    expect((await r.closed) - t0).toBeLessThan(1_900);
  }, 20_000);

  it("the bound: a client that never closes is cut after lingerMs, and the promise resolves then", async () => {
    const server = createServer((req, res) => {
      req.once("data", () => {
        const t0 = performance.now();
        void lingeringClose(req.socket, 200).then(() => {
          closedAfter = performance.now() - t0;
        });
        req.resume();
        res.writeHead(200, { Connection: "close", "Content-Length": "2" });
        res.end("ok");
      });
    });
    let closedAfter = -1;
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    servers.push(server);
    const { port } = server.address() as AddressInfo;
    // a raw client that sends part of a declared body, reads the answer and never closes its side
    const sock = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    sock.on("error", () => undefined);
    sock.write("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nx");
    let got = "";
    sock.on("data", (c: Buffer) => (got += c.toString()));
    await new Promise((r) => setTimeout(r, 600));
    expect(got).toMatch(/^HTTP\/1\.1 200.*ok$/s);
    expect(closedAfter).toBeGreaterThanOrEqual(190);
    expect(closedAfter).toBeLessThan(550);
    sock.destroy();
  }, 10_000);
});
