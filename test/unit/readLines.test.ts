/**
 * readLines (src/transport/http/readLines.ts): a body as lines whatever the chunking, pulled only
 * as fast as they are asked for, a line over the limit refused, and a stop signal that ends the
 * reading at once.
 */
import { PassThrough, Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readLines } from "../../src/transport/http/readLines.js";

async function all(body: Readable, maxLineBytes = 1 << 20): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readLines(body, { maxLineBytes })) out.push(l.toString());
  return out;
}

describe("readLines", () => {
  it("gives the same lines however the body is cut into chunks; blank lines are skipped, a last line without a newline counts (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.stringMatching(/^[a-z{}":, ]{0,12}$/), { maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 10 }), fc.boolean(), async (lines, cuts, trailing) => {
        const text = lines.join("\n") + (trailing ? "\n" : "");
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length] as number;
          chunks.push(bytes.subarray(at, at + n));
          at += n;
        }
        const want = lines.filter((l) => l.trim() !== "");
        expect(await all(Readable.from(chunks))).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it("a line over the limit is a 413 saying what to send, even before its newline arrives", async () => {
    await expect(all(Readable.from([Buffer.from("short\n"), Buffer.from("x".repeat(40)), Buffer.from("x".repeat(40))]), 64)).rejects.toMatchObject({ status: 413, message: expect.stringMatching(/a line of more than 64 bytes: send one item per line/) });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const l of readLines(Readable.from([Buffer.from(`ok\n${"y".repeat(100)}\nnever\n`)]), { maxLineBytes: 64 })) seen.push(l.toString());
      })(),
    ).rejects.toMatchObject({ status: 413 });
    expect(seen).toEqual(["ok"]);
  });

  it("pulls the body only as lines are asked for, and a stop signal ends the reading at once (the rest left unread)", async () => {
    const body = new PassThrough({ highWaterMark: 16 });
    const stop = new AbortController();
    const it = readLines(body, { maxLineBytes: 1024, signal: stop.signal })[Symbol.asyncIterator]();
    body.write("a\nb\n");
    expect((await it.next()).value?.toString()).toBe("a");
    // the consumer waits: what the sender writes now stays in the stream's buffer
    for (let i = 0; i < 50; i++) body.write(`line ${i}\n`);
    expect(body.writableLength + body.readableLength).toBeGreaterThan(16);
    expect((await it.next()).value?.toString()).toBe("b");
    expect((await it.next()).value?.toString()).toBe("line 0");
    stop.abort();
    await expect(it.next()).resolves.toMatchObject({ done: true });
    // a reader waiting for more bytes is released by the signal too
    const idle = new PassThrough();
    const stop2 = new AbortController();
    const it2 = readLines(idle, { maxLineBytes: 1024, signal: stop2.signal })[Symbol.asyncIterator]();
    const waiting = it2.next();
    setTimeout(() => stop2.abort(), 20);
    await expect(waiting).resolves.toMatchObject({ done: true });
  });
});
