import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody } from "../oip/errorBody.js";
import { contentLength } from "./readBody.js";
import { sendResponse } from "./sendResponse.js";

/**
 * A request refused before its body was read (413, 503) is answered after reading and discarding
 * up to this many bytes of it: a client still sending would otherwise get EPIPE / ECONNRESET
 * instead of the answer. Larger bodies are cut off (the answer is sent, then the connection closed).
 */
export const MAX_DRAIN_BYTES = 64 << 20;

/**
 * Answer `{"error": message}` with `status`. A body still arriving is read and discarded
 * (bounded: MAX_DRAIN_BYTES and 5 s) first, so the client sees this answer; beyond that the
 * answer goes with `Connection: close` and the socket is closed after it. Nothing is sent to a
 * client that went away meanwhile; a response already started is cut off.
 */
export function answerError(req: IncomingMessage, res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const answer = (drained: boolean): void => {
    if (res.destroyed || req.socket.destroyed) return; // the client went away meanwhile
    const close: Record<string, string> = drained ? {} : { Connection: "close" };
    sendResponse(res, status, Buffer.from(errorBody(message)), { "Content-Type": "application/json", ...headers, ...close });
    if (!drained) res.once("finish", () => req.socket.destroy());
  };
  if (req.complete || req.readableEnded) answer(true);
  else void drainBody(req).then(answer);
}

/** Read and discard the rest of `req`'s body, up to MAX_DRAIN_BYTES and 5 s; true when it ended. */
export function drainBody(req: IncomingMessage): Promise<boolean> {
  const declared = contentLength(req);
  if (declared !== null && declared > MAX_DRAIN_BYTES) return Promise.resolve(false);
  return new Promise((resolve) => {
    let seen = 0;
    const finish = (ended: boolean): void => {
      clearTimeout(timer);
      req.removeListener("data", onData);
      req.removeListener("end", onEnd);
      req.removeListener("error", onError);
      req.removeListener("close", onClose);
      if (!ended) req.pause();
      resolve(ended);
    };
    const onData = (c: Buffer): void => {
      seen += c.length;
      if (seen > MAX_DRAIN_BYTES) finish(false);
    };
    const onEnd = (): void => finish(true);
    const onError = (): void => finish(false);
    const onClose = (): void => finish(req.complete);
    const timer = setTimeout(() => finish(false), 5_000);
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("error", onError);
    req.once("close", onClose);
    req.resume();
  });
}
