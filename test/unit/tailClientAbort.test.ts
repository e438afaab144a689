/**
 * An aborted request rejects with the abort's reason (an InterruptedError for a signal, see
 * src/shutdown.ts), whichever step it was in: the client's emulated link (uplink bucket, RTT,
 * downlink bucket) or the HTTP exchange. Node's timers reject with a bare "The operation was
 * aborted" AbortError, which the CLI could only report as an internal error.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InterruptedError } from "../../src/errors.js";
import { TailClient } from "../../src/transport/tailClient.js";
import { TokenBucket } from "../../src/transport/tokenBucket.js";

let server: Server;
let url: string;
/** requests the server saw (it never answers them: the client must be aborted) */
let seen = 0;

beforeAll(async () => {
  server = createServer((req) => {
    seen++;
    req.resume();
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((done) => server.close(done));
});

const x = { name: "x", datatype: "FP32" as const, shape: [1, 4], data: new Float32Array(4) };
const interrupt = (): InterruptedError => new InterruptedError("SIGINT", "interrupted by SIGINT: test");

describe("aborting a tail request", () => {
  it("during the emulated RTT: rejects with the signal's reason, before anything is sent", async () => {
    const client = new TailClient({ url, shape: { uplinkMbps: null, downlinkMbps: null, rttMs: 10_000 } });
    const before = seen;
    try {
      const ac = new AbortController();
      const reason = interrupt();
      const p = client.infer("m", [x], { signal: ac.signal });
      setTimeout(() => ac.abort(reason), 50);
      await expect(p).rejects.toBe(reason);
      expect(seen).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("during the emulated uplink: rejects with the signal's reason", async () => {
    // 4000 bytes against a 1500-byte burst at 0.001 Mbit/s: 20 s in the bucket
    const client = new TailClient({ url, shape: { uplinkMbps: 0.001, downlinkMbps: null } });
    const big = { ...x, shape: [1, 1000], data: new Float32Array(1000) };
    const before = seen;
    try {
      const ac = new AbortController();
      const reason = interrupt();
      const p = client.infer("m", [big], { signal: ac.signal });
      setTimeout(() => ac.abort(reason), 50);
      await expect(p).rejects.toBe(reason);
      expect(seen).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("while the server has not answered: rejects with the signal's reason", async () => {
    const client = new TailClient({ url });
    const before = seen;
    try {
      const ac = new AbortController();
      const reason = interrupt();
      const p = client.infer("m", [x], { signal: ac.signal, timeoutMs: 30_000 });
      const deadline = Date.now() + 5000;
      while (seen === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(seen).toBe(before + 1);
      ac.abort(reason);
      await expect(p).rejects.toBe(reason);
    } finally {
      await client.close();
    }
  });

  it("TokenBucket with the real timer: rejects with the signal's reason and gives the bytes back", async () => {
    const b = new TokenBucket({ rateBytesPerS: 1000, burstBytes: 0 });
    const ac = new AbortController();
    const reason = interrupt();
    const p = b.take(10_000, ac.signal);
    setTimeout(() => ac.abort(reason), 20);
    await expect(p).rejects.toBe(reason);
    // refunded: a small take waits only for itself (about 10 ms, not 10 s)
    expect(await b.take(10)).toBeLessThan(1000);
  });
});
