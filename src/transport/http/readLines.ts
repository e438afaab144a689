/**
 * A request body as lines (newline-delimited JSON and the like), read only as fast as the caller
 * asks for them: the next chunk is pulled from the socket when the caller wants the next line,
 * so a caller that waits (a full pipeline) holds the sender back through TCP flow control
 * instead of buffering the body. Empty lines are skipped; a last line without a newline counts.
 *
 * A line longer than `maxLineBytes` is a 413 (HttpError). `signal` stops the reading (a daemon
 * shutting down): the generator returns at once and lets go of the body, whatever is still being
 * sent is left unread (the caller may `resume()` the body to discard it).
 */
import type { Readable } from "node:stream";
import { HttpError } from "./httpError.js";

export async function* readLines(body: Readable, o: { maxLineBytes: number; signal?: AbortSignal | undefined }): AsyncGenerator<Buffer> {
  const it = body.iterator({ destroyOnReturn: false });
  const stopped = new Promise<"stopped">((resolve) => {
    if (o.signal?.aborted === true) resolve("stopped");
    o.signal?.addEventListener("abort", () => resolve("stopped"), { once: true });
  });
  let parts: Buffer[] = [];
  let held = 0;
  const tooLong = (): HttpError => new HttpError(413, `a line of more than ${o.maxLineBytes} bytes: send one item per line (each at most maxBodyMb)`);
  for (;;) {
    const next = await Promise.race([it.next(), stopped]);
    if (next === "stopped") {
      // let go of the body (not destroyed): the caller may drain what is still being sent
      void it.return?.();
      return;
    }
    if (next.done === true) break;
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value as Uint8Array);
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (held + nl - start > o.maxLineBytes) throw tooLong();
      const line = held === 0 ? chunk.subarray(start, nl) : Buffer.concat([...parts, chunk.subarray(start, nl)]);
      parts = [];
      held = 0;
      start = nl + 1;
      if (line.some((b) => b !== 32 && b !== 9 && b !== 13)) yield line;
      if (o.signal?.aborted === true) return;
    }
    if (start < chunk.length) {
      held += chunk.length - start;
      if (held > o.maxLineBytes) throw tooLong();
      parts.push(chunk.subarray(start));
    }
  }
  if (held > 0) {
    const line = Buffer.concat(parts);
    if (line.some((b) => b !== 32 && b !== 9 && b !== 13)) yield line;
  }
}
