import { SplitwattError } from "../../errors.js";

/**
 * HTTP status an Open Inference Protocol failure maps to: 400 for a malformed request or
 * response, 413 for one that is too large for the configured limits, 500 for data the local
 * side holds but cannot put on the wire (a server bug when it happens while encoding a response).
 */
export type OipStatus = 400 | 413 | 500;

/** The stable error code of every OipError. */
export const E_PROTOCOL = "E_PROTOCOL" as const;

/** Single-line messages: newlines would break `error[CODE]: message` and HTTP error bodies. */
function oneLine(message: string): string {
  const flat = message.replace(/[\r\n\t]+/g, " ");
  return flat.length > 500 ? `${flat.slice(0, 497)}...` : flat;
}

/**
 * A body that does not follow the Open Inference Protocol (KServe v2 REST) or Triton's binary
 * tensor data extension, or one over the size limits. `status` is the HTTP status to answer with;
 * the message is one line and goes into `{"error": "..."}` unchanged.
 */
export class OipError extends SplitwattError {
  readonly status: OipStatus;

  constructor(status: OipStatus, message: string, opts: { cause?: unknown } = {}) {
    super(E_PROTOCOL, oneLine(message), { ...opts, exitCode: 1 });
    this.status = status;
  }
}

/** Shorthand for the common cases. */
export function malformed(message: string): OipError {
  return new OipError(400, message);
}

export function tooLarge(message: string): OipError {
  return new OipError(413, message);
}
