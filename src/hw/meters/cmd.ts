/**
 * `cmd:COMMAND`: a long-running command (through /bin/sh) that prints one reading per line, `W`
 * (stamped when the line arrives) or `epoch_ms W` (stamped by the command; comma or blanks
 * between). For USB meters and anything else with a reader program. The command runs in its own
 * process group, stopped (SIGTERM to the group) when the meter closes or this process exits;
 * after a SIGKILL of splitwatt it dies of SIGPIPE at its next line. A command that exits is a
 * failure (a gap to the end).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import { onTeardown } from "../../shutdown.js";
import { MeterBase, type MeterOpenOptions } from "./meter.js";
import { MeterTrace } from "./meterTrace.js";

type CmdSpec = Extract<MeterSpec, { kind: "cmd" }>;

/** Epoch ms before this (March 1973) is not epoch ms: seconds or a counter were printed. */
const MIN_EPOCH_MS = 1e11;

/** One output line: `W`, `W W`-unit forms like `5.1 W`, or `epoch_ms W`; null for a blank line. */
export function parseCmdLine(line: string): { tMs: number | null; watts: number } | null {
  const fields = line
    .trim()
    .replace(/\s*W$/i, "")
    .split(/[\s,;]+/)
    .filter((f) => f !== "");
  if (fields.length === 0) return null;
  const nums = fields.map((f) => (/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(f) ? Number(f) : Number.NaN));
  if (nums.length > 2 || nums.some((n) => !Number.isFinite(n))) throw new Error(`unparsable line ${JSON.stringify(line.slice(0, 60))} (expected "W" or "epoch_ms W")`);
  if (nums.length === 1) return { tMs: null, watts: nums[0] as number };
  const tMs = nums[0] as number;
  if (tMs < MIN_EPOCH_MS) throw new Error(`line ${JSON.stringify(line.slice(0, 60))}: ${tMs} is not epoch milliseconds (print Date.now()-style ms, or only the watts)`);
  return { tMs, watts: nums[1] as number };
}

/** Commands alive in this process, stopped by the exit hooks. */
const alive = new Set<ChildProcess>();
let hooked = false;

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}

export class CmdMeter extends MeterBase {
  private readonly child: ChildProcess;
  private stderrTail = "";
  private exited: Promise<void>;

  constructor(spec: CmdSpec, label: string, opts: MeterOpenOptions) {
    super(spec, label, new MeterTrace(label, opts.onWarning ?? (() => undefined)), opts);
    if (!hooked) {
      hooked = true;
      onTeardown(() => {
        for (const c of alive) killGroup(c);
      });
    }
    this.child = spawn("/bin/sh", ["-c", spec.command], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    alive.add(this.child);
    this.exited = new Promise<void>((resolve) => {
      this.child.once("close", (code: number | null, signal: NodeJS.Signals | null) => {
        const failedToRun = this.dead;
        alive.delete(this.child);
        this.dead = true;
        if (!this.closed && !failedToRun) {
          const why = signal !== null ? `was killed by ${signal}` : `exited with code ${code}`;
          const tail = this.stderrTail.trim().split("\n").pop()?.slice(0, 120);
          this.trace.failure(`the command ${why}${tail ? ` (${tail})` : ""}`);
        }
        resolve();
      });
    });
    this.child.once("error", (err) => {
      this.dead = true;
      alive.delete(this.child);
      if (!this.closed) this.trace.failure(`the command could not run: ${err.message}`);
      this.child.emit("close", null, null);
    });
    this.child.stderr?.setEncoding("utf8");
    this.child.stderr?.on("data", (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-1000);
    });
    const lines = createInterface({ input: this.child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => this.line(line));
  }

  private line(line: string): void {
    const arrived = this.clock();
    let r;
    try {
      r = parseCmdLine(line);
    } catch (err) {
      this.trace.failure((err as Error).message);
      return;
    }
    if (r !== null) this.trace.reading(r.tMs ?? arrived, r.watts);
  }

  protected patienceMs(): number {
    return 3 * Math.max(this.nominalPeriodMs, this.periodMs()) + 500;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    killGroup(this.child);
    const timer = setTimeout(() => {
      if (this.child.pid !== undefined && !this.dead) {
        try {
          process.kill(-this.child.pid, "SIGKILL");
        } catch {
          // gone
        }
      }
    }, 2000);
    await this.exited;
    clearTimeout(timer);
  }
}
