/**
 * Error classes with stable codes. Every message says what is wrong and what to do; the CLI
 * prints `error[CODE]: message` on one line and exits with `exitCode`.
 */
import { signalExitCode, type ShutdownSignal } from "./shutdown.js";

export type ErrorCode =
  | "E_NOT_PERMITTED"
  | "E_READ_ONLY"
  | "E_REJECTED"
  | "E_UNSUPPORTED"
  | "E_NATIVE_MISSING"
  | "E_USAGE"
  | "E_MALFORMED"
  | "E_BAD_MODEL"
  | "E_PROTOCOL"
  | "E_CODEC"
  | "E_IO"
  | "E_UNREACHABLE"
  | "E_NO_CANDIDATE"
  | "E_QUEUE_FULL"
  | "E_QUEUE_CLOSED"
  | "E_INTERRUPTED";

export class SplitwattError extends Error {
  readonly code: ErrorCode;
  /** process exit code the CLI uses: 2 for user errors, 1 otherwise */
  readonly exitCode: number;
  /** the file or resource involved, when there is one */
  readonly path: string | undefined;

  constructor(code: ErrorCode, message: string, opts: { exitCode?: number; path?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
    this.path = opts.path;
  }
}

/** EACCES/EPERM: the OS refused; the message names the file and the fix. */
export class NotPermittedError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_NOT_PERMITTED", message, { ...opts, exitCode: 2 });
  }
}

/** EROFS: the file system is mounted read-only (typically /sys in a container). */
export class ReadOnlyError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_READ_ONLY", message, { ...opts, exitCode: 2 });
  }
}

/** The request is not acceptable: a frequency that is not offered, a governor the driver lacks, EINVAL from the kernel. */
export class RejectedError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_REJECTED", message, { ...opts, exitCode: 2 });
  }
}

/** The hardware or driver does not offer this (missing file, no such PMU, no NVML). */
export class UnsupportedError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_UNSUPPORTED", message, { ...opts, exitCode: 2 });
  }
}

/** Bad command-line or configuration input. */
export class UsageError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_USAGE", message, { ...opts, exitCode: 2 });
  }
}

/** The native addon could not be loaded. */
export class NativeMissingError extends SplitwattError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super("E_NATIVE_MISSING", message, { ...opts, exitCode: 1 });
  }
}

/** A file had content we could not parse. */
export class MalformedError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_MALFORMED", message, { ...opts, exitCode: 1 });
  }
}

/** A model file that cannot be used: not ONNX, truncated, unsupported IR/opset, missing external data. */
export class BadModelError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_BAD_MODEL", message, { ...opts, exitCode: 2 });
  }
}

/** Any other I/O failure. */
export class IoError extends SplitwattError {
  constructor(message: string, opts: { path?: string; cause?: unknown } = {}) {
    super("E_IO", message, { ...opts, exitCode: 1 });
  }
}

/** A server that cannot be reached (refused, reset, unknown host, TLS failure): the user's URL, network or server. */
export class UnreachableError extends SplitwattError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super("E_UNREACHABLE", message, { ...opts, exitCode: 2 });
  }
}

/**
 * The user stopped the command (Ctrl-C, SIGTERM): not a failure of the input. The message says
 * what was kept and how to continue; the exit status is the signal's (130 for SIGINT, 143 for
 * SIGTERM).
 */
export class InterruptedError extends SplitwattError {
  constructor(
    readonly signal: ShutdownSignal,
    message: string,
  ) {
    super("E_INTERRUPTED", message, { exitCode: signalExitCode(signal) });
  }
}
