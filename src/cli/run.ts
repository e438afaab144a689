import { ZodError } from "zod";
import { env } from "../env.js";
import { InterruptedError, SplitwattError } from "../errors.js";

/** Print an error as one line and return the exit code (2 for user errors, 128 + the signal's number for an interrupt). */
export function reportError(err: unknown): number {
  if (err instanceof InterruptedError) {
    // an interrupt is not an error: what was kept and how to continue
    process.stderr.write(`splitwatt: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof SplitwattError) {
    process.stderr.write(`splitwatt: error[${err.code}]: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof ZodError) {
    const issue = err.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? "" : `--${String(issue.path[0]).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: `;
    process.stderr.write(`splitwatt: error[E_USAGE]: ${where}${issue?.message ?? "invalid arguments"} (see --help)\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`splitwatt: internal error: ${message.split("\n")[0]}${env().debug ? "" : " (set SPLITWATT_DEBUG=1 for details)"}\n`);
  if (env().debug && err instanceof Error && err.stack !== undefined) process.stderr.write(`${err.stack}\n`);
  return 1;
}

/** Wrap a command handler: errors become one line and an exit code, never a stack trace. */
export function run<A extends unknown[]>(handler: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await handler(...args);
    } catch (err) {
      process.exitCode = reportError(err);
    }
  };
}
