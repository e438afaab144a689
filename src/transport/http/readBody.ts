import type { IncomingMessage } from "node:http";
import { HttpError } from "./httpError.js";

/** The request's Content-Length, or null when it sends none (chunked). */
export function contentLength(req: IncomingMessage): number | null {
  const v = req.headers["content-length"];
  if (v === undefined) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

export interface ReadBodyOptions {
  /** the request's Content-Length (contentLength(req)), its bytes already taken from the caller's budget */
  declared: number | null;
  /** largest body: 413 beyond */
  maxBodyBytes: number;
  /** without a Content-Length: take each chunk's bytes from the caller's budget as it arrives (throw to refuse) */
  hold: (bytes: number) => void;
}

/**
 * The body, read only when the caller has admitted the request. With a Content-Length it goes
 * straight into one buffer of that size; without, `hold` takes each chunk's bytes as it
 * arrives. On failure (HttpError 400 / 413, or what `hold` threw) the request is paused, so
 * what has not arrived stays in the kernel until the error answer drains it (answerError).
 */
export function readBody(req: IncomingMessage, opts: ReadBodyOptions): Promise<Uint8Array> {
  const { declared, maxBodyBytes: limit, hold } = opts;
  return new Promise((resolve, reject) => {
    const target = declared === null ? null : Buffer.allocUnsafe(declared);
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = (): void => {
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      req.removeListener("error", onError);
      req.removeListener("close", onClose);
    };
    const fail = (e: unknown): void => {
      cleanup();
      req.pause();
      reject(e);
    };
    const onData = (c: Buffer): void => {
      if (size + c.length > limit) return fail(new HttpError(413, `request body is over this server's limit of ${limit} bytes`));
      if (target !== null) {
        if (size + c.length > target.length) return fail(new HttpError(400, `request body is longer than its Content-Length of ${target.length} bytes`));
        c.copy(target, size);
      } else {
        try {
          hold(c.length);
        } catch (e) {
          return fail(e);
        }
        chunks.push(c);
      }
      size += c.length;
    };
    const onEnd = (): void => {
      cleanup();
      if (target !== null && size !== target.length) return reject(new HttpError(400, `request body has ${size} bytes, its Content-Length says ${target.length}`));
      const b = target ?? (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
      resolve(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    };
    const onError = (e: Error): void => fail(new HttpError(400, `request body could not be read: ${e.message}`));
    const onClose = (): void => {
      if (!req.complete) fail(new HttpError(400, "the client closed the connection before sending the whole body"));
    };
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
  });
}
