import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { exitHooks } from "../exitHooks.js";
import { pidAlive } from "../pidAlive.js";
import { env } from "../env.js";
import { RejectedError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import type { CpufreqPolicy } from "./cpufreq.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import type { Roots } from "./roots.js";

/** What a policy looked like before splitwatt touched it. */
export interface SavedPolicy {
  id: string;
  path: string;
  governor: string;
  scalingMinKHz: number;
  scalingMaxKHz: number;
  /** the speed to put back when the original governor was userspace */
  setspeedKHz: number | null;
}

interface StateFile {
  version: 1;
  pid: number;
  startedAt: string;
  sysfsRoot: string;
  policies: SavedPolicy[];
}

export interface CpufreqGuard {
  /**
   * Remember `p` as it is now (first time only) in memory and in the state file. Call
   * recoverStale() before reading `p` so a dead run's leftovers are not saved as the original.
   */
  save(p: CpufreqPolicy): void;
  /** Put every saved policy back and delete the state file. Synchronous: usable from 'exit'. */
  restoreNow(): string[];
  /** Restore a state file left by a process that is no longer alive. */
  recoverStale(): string[];
  /** The policies a dead process left changed (its state file), without touching anything. */
  stale(): SavedPolicy[];
  readonly statePath: string;
}

export function defaultStateDir(): string {
  const e = env();
  if (e.stateDir !== undefined) return e.stateDir;
  const base = e.xdgStateHome ?? join(e.home ?? "/tmp", ".local", "state");
  return join(base, "splitwatt");
}

/** Guards alive in this process, restored by the exit and signal hooks. */
const active = new Set<CpufreqGuard>();
let hooksInstalled = false;

function restoreAll(): void {
  for (const g of active) {
    try {
      g.restoreNow();
    } catch (err) {
      process.stderr.write(`splitwatt: warning: could not restore cpufreq: ${(err as Error).message}\n`);
    }
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  exitHooks(restoreAll);
}

function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w", 0o644);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function cpufreqGuard(opts: { roots: Roots; stateDir?: string | undefined; installHooks: boolean }): CpufreqGuard {
  const { roots } = opts;
  const stateDir = opts.stateDir ?? defaultStateDir();
  const key = createHash("sha256").update(roots.sysfsRoot).digest("hex").slice(0, 12);
  const statePath = join(stateDir, `cpufreq-${key}.json`);
  const saved = new Map<string, SavedPolicy>();

  const readState = (): StateFile | null => {
    let text: string;
    try {
      text = readFileSync(statePath, "utf8");
    } catch {
      return null;
    }
    try {
      const s = JSON.parse(text) as StateFile;
      if (s.version !== 1 || !Array.isArray(s.policies)) throw new Error("unknown format");
      return s;
    } catch (err) {
      const aside = `${statePath}.corrupt-${Date.now()}`;
      renameSync(statePath, aside);
      process.stderr.write(`splitwatt: warning: unreadable cpufreq state file moved to ${aside} (${(err as Error).message})\n`);
      return null;
    }
  };

  const restorePolicies = (policies: Iterable<SavedPolicy>): string[] => {
    const { io } = roots;
    const done: string[] = [];
    const errors: string[] = [];
    for (const s of policies) {
      try {
        const num = (f: string): number => Number(io.readSync(join(s.path, f)).trim());
        const current = { minKHz: num("scaling_min_freq"), maxKHz: num("scaling_max_freq") };
        io.writeSync(join(s.path, "scaling_governor"), s.governor);
        for (const [f, v] of minMaxWritePlan(current, { minKHz: s.scalingMinKHz, maxKHz: s.scalingMaxKHz })) io.writeSync(join(s.path, f), String(v));
        if (s.governor === "userspace" && s.setspeedKHz !== null) io.writeSync(join(s.path, "scaling_setspeed"), String(s.setspeedKHz));
        done.push(s.id);
      } catch (err) {
        errors.push(`${s.id}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) throw new Error(`restore incomplete (state kept in ${statePath}): ${errors.join("; ")}`);
    return done;
  };

  const guard: CpufreqGuard = {
    statePath,
    save(p) {
      if (saved.has(p.path)) return;
      const existing = saved.size === 0 ? readState() : null;
      if (existing !== null && existing.pid !== process.pid && pidAlive(existing.pid)) {
        throw new RejectedError(
          `another splitwatt process (pid ${existing.pid}) is controlling cpufreq under ${roots.sysfsRoot} (${statePath}); stop it first`,
          { path: statePath },
        );
      }
      saved.set(p.path, {
        id: p.id,
        path: p.path,
        governor: p.governor,
        scalingMinKHz: p.scalingMinKHz,
        scalingMaxKHz: p.scalingMaxKHz,
        setspeedKHz: p.governor === "userspace" ? p.curKHz : null,
      });
      outputDir(stateDir, "the state directory (--state-dir, SPLITWATT_STATE_DIR)");
      const state: StateFile = { version: 1, pid: process.pid, startedAt: new Date().toISOString(), sysfsRoot: roots.sysfsRoot, policies: [...saved.values()] };
      writeAtomic(statePath, `${JSON.stringify(state, null, 2)}\n`);
      active.add(guard);
      if (opts.installHooks) installHooks();
    },
    restoreNow() {
      if (saved.size === 0) return [];
      const done = restorePolicies(saved.values());
      saved.clear();
      active.delete(guard);
      rmSync(statePath, { force: true });
      return done;
    },
    stale() {
      const s = readState();
      return s === null || s.pid === process.pid || pidAlive(s.pid) ? [] : s.policies;
    },
    recoverStale() {
      const s = readState();
      if (s === null || s.pid === process.pid || pidAlive(s.pid)) return [];
      const done = restorePolicies(s.policies);
      rmSync(statePath, { force: true });
      return done;
    },
  };
  return guard;
}
