/**
 * The answer both of splitwatt's servers (the tail server and the daemon) give to a request the
 * client got wrong: an HttpError as raised, a malformed Open Inference Protocol body (OipError,
 * its own status), a tensor the codec cannot decode (400). null for anything else: each server
 * maps its own errors (queue full, model not found, ...) and hides the rest behind a neutral 500.
 */
import { CodecError } from "../codecs/codecError.js";
import { OipError } from "../oip/index.js";
import { HttpError } from "./httpError.js";

export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  message: string;
}

export function clientErrorAnswer(err: unknown): ErrorAnswer | null {
  if (err instanceof HttpError) return { status: err.status, headers: err.headers, message: err.message };
  if (err instanceof OipError) return { status: err.status, headers: {}, message: err.message };
  if (err instanceof CodecError) return { status: 400, headers: {}, message: err.message };
  return null;
}
