/**
 * Who owns something a process leaves behind (a restore state file): its pid AND its start time,
 * because `kill(pid, 0)` alone is no identity check. A pid is reused once its process is gone, and
 * a SIGKILLed process whose parent has not reaped it yet is a zombie: both answer "alive" to
 * kill(0) while nobody is left to restore anything.
 *
 * The start time is field 22 of /proc/PID/stat (`starttime`, clock ticks after boot; proc(5)),
 * read through the proc root so tests can use fake trees. The owner is alive when its pid exists,
 * is not a zombie (state Z) or dead (X), and, when a start time was recorded and can be read
 * again, started at the same tick. Where /proc/PID/stat cannot be read (a fake root without it,
 * hidepid, not Linux) the answer falls back to kill(0), as before.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pidAlive } from "./pidAlive.js";

export interface ProcessIdentity {
  pid: number;
  /** /proc/PID/stat field 22 (clock ticks after boot); null when it could not be read */
  startTicks: number | null;
}

export interface ProcStat {
  /** R, S, D, Z, T, t, X, I, ... */
  state: string;
  startTicks: number;
}

/** /proc/PID/stat's state and start time; null when unreadable or malformed. */
export function readProcStat(pid: number, procRoot = "/proc"): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), "stat"), "utf8");
  } catch {
    return null;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const fields = text.slice(close + 1).trim().split(/\s+/);
  // fields[0] is field 3 (state), so field 22 (starttime) is fields[19]
  const state = fields[0];
  const start = Number(fields[19]);
  if (state === undefined || state.length === 0 || !Number.isSafeInteger(start) || start < 0) return null;
  return { state, startTicks: start };
}

/** The identity of process `pid` (default: this one). */
export function processIdentity(pid: number = process.pid, procRoot = "/proc"): ProcessIdentity {
  return { pid, startTicks: readProcStat(pid, procRoot)?.startTicks ?? null };
}

/**
 * Whether the process `owner` names is still running: not gone, not a zombie, not a different
 * process that got the same pid since.
 */
export function processAlive(owner: ProcessIdentity, procRoot = "/proc"): boolean {
  if (!pidAlive(owner.pid)) return false;
  const stat = readProcStat(owner.pid, procRoot);
  if (stat === null) return true;
  if (stat.state === "Z" || stat.state === "X" || stat.state === "x") return false;
  return owner.startTicks === null || stat.startTicks === owner.startTicks;
}

/** Whether `owner` is this very process (the same pid is not enough: it may be a previous boot's). */
export function isThisProcess(owner: ProcessIdentity, procRoot = "/proc"): boolean {
  if (owner.pid !== process.pid) return false;
  if (owner.startTicks === null) return true;
  const self = readProcStat(process.pid, procRoot);
  return self === null || self.startTicks === owner.startTicks;
}
