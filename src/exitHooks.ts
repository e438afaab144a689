/**
 * Run a synchronous clean-up when the process exits and on SIGINT, SIGTERM and SIGHUP. After a
 * signal, if nobody else handles it, the process dies of it as the default action would (the
 * exit status tells the parent which signal).
 */
export function exitHooks(cleanup: () => void): void {
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const handler = (): void => {
      cleanup();
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}
