/**
 * The one signal path of a splitwatt process (SIGINT, SIGTERM, SIGHUP) and its exit clean-up.
 *
 * Two kinds of hooks:
 * - **interrupt handlers** (`onInterrupt`): a command's own clean-up, e.g. `optimize` aborting its
 *   search so that it can write the front so far. On the first signal they run first (newest
 *   first); the command then finishes on its own and reports an InterruptedError (exit 130 for
 *   SIGINT, 143 for SIGTERM, 129 for SIGHUP).
 * - **teardown hooks** (`onTeardown`): synchronous, for what must never be left behind (an
 *   emulated link's namespace, the CPU frequency, a meter's command, a server child). They run
 *   once each, newest first (the link set up last is torn down before the frequency is
 *   restored), when the process exits for any reason, and before a forced exit.
 *
 * The rule on a signal:
 * 1. a second signal while a command finishes, or a command that has not finished `forceMs`
 *    after the first: teardown, exit 128 + the signal's number at once;
 * 2. interrupt handlers registered: call them and let the command finish;
 * 3. none, but someone else listens for the signal (a program using splitwatt as a library):
 *    leave it to them; the teardown runs when the process exits;
 * 4. nobody: teardown, one line on stderr, exit 128 + the signal's number (what dying of the
 *    signal would tell a shell).
 *
 * Listeners are installed with the first hook, so a process without hooks keeps Node's default.
 */

export type ShutdownSignal = "SIGINT" | "SIGTERM" | "SIGHUP";

const SIGNALS: readonly ShutdownSignal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
const SIGNAL_NUMBER: Record<ShutdownSignal, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };
/** how long a command gets to finish after the first signal before it is stopped at once */
const DEFAULT_FORCE_MS = 30_000;

/** The exit status of a process stopped by `signal`: 128 + its number (130 for SIGINT, 143 for SIGTERM). */
export function signalExitCode(signal: ShutdownSignal): number {
  return 128 + SIGNAL_NUMBER[signal];
}

type InterruptHandler = (signal: ShutdownSignal) => void;

const interruptHandlers: InterruptHandler[] = [];
const teardowns: Array<{ run: () => void; done: boolean }> = [];
let installed = false;
let interrupted: ShutdownSignal | null = null;
let forceMs = DEFAULT_FORCE_MS;

/**
 * Register a command's own clean-up for the first signal. Returns the function that removes it
 * (call it when the command is done, so a later signal is not sent to a finished command).
 */
export function onInterrupt(handler: InterruptHandler): () => void {
  install();
  interruptHandlers.push(handler);
  return () => {
    const i = interruptHandlers.indexOf(handler);
    if (i >= 0) interruptHandlers.splice(i, 1);
  };
}

/**
 * Register a synchronous teardown, run once at exit (or a forced exit). Returns the function that
 * removes it (when its resource was released the ordinary way).
 */
export function onTeardown(cleanup: () => void): () => void {
  install();
  const entry = { run: cleanup, done: false };
  teardowns.push(entry);
  return () => {
    const i = teardowns.indexOf(entry);
    if (i >= 0) teardowns.splice(i, 1);
  };
}

/** The signal that interrupted this process, or null. */
export function interruptedBy(): ShutdownSignal | null {
  return interrupted;
}

/** Every teardown not yet run, newest first; a failing one does not stop the others. */
export function runTeardowns(): void {
  for (const t of [...teardowns].reverse()) {
    if (t.done) continue;
    t.done = true;
    try {
      t.run();
    } catch (err) {
      process.stderr.write(`splitwatt: warning: clean-up failed: ${(err as Error).message.split("\n")[0]}\n`);
    }
  }
}

/** Tests: set the time a command gets after the first signal. */
export function setForceMs(ms: number): void {
  forceMs = ms;
}

function stopNow(signal: ShutdownSignal, why: string): never {
  process.stderr.write(`splitwatt: ${why}\n`);
  runTeardowns();
  process.exit(signalExitCode(signal));
}

function onSignal(signal: ShutdownSignal): void {
  if (interrupted !== null) stopNow(interrupted, `${signal} again: stopped at once`);
  if (interruptHandlers.length > 0) {
    interrupted = signal;
    if (process.stderr.isTTY === true) process.stderr.write(`splitwatt: ${signal}: finishing the current step (again to stop at once)\n`);
    // unref'd: it fires only while something else keeps the process alive (a command that hangs)
    setTimeout(() => stopNow(signal, `${signal}: the command did not finish within ${(forceMs / 1000).toFixed(forceMs < 10_000 ? 1 : 0)} s: stopped at once`), forceMs).unref();
    for (const h of [...interruptHandlers].reverse()) {
      try {
        h(signal);
      } catch (err) {
        process.stderr.write(`splitwatt: warning: interrupt handler failed: ${(err as Error).message.split("\n")[0]}\n`);
      }
    }
    return;
  }
  // someone else's handler (a library user's) decides; our teardown runs when the process exits
  if (process.listenerCount(signal) > 1) return;
  stopNow(signal, `interrupted by ${signal}`);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on("exit", runTeardowns);
  for (const sig of SIGNALS) {
    process.on(sig, () => onSignal(sig));
  }
}
