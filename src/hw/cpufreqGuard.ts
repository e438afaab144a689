import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { exitHooks } from "../exitHooks.js";
import { pidAlive } from "../pidAlive.js";
import { env } from "../env.js";
import { RejectedError } from "../errors.js";
import type { CpufreqPolicy } from "./cpufreqPolicy.js";
import { minMaxWritePlan } from "./minMaxWritePlan.js";
import { restoreGpus, type SavedGpu } from "./restoreGpus.js";
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

/**
 * The restore state file. Version 2 added `gpus` (GPU frequency domains, src/hw/gpufreq.ts);
 * version 1 files (no `gpus`) are still read.
 */
interface StateFile {
  version: 1 | 2;
  pid: number;
  startedAt: string;
  sysfsRoot: string;
  policies: SavedPolicy[];
  gpus?: SavedGpu[];
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
  /** Remember GPU frequency domain `g` as it is now (first time only), like save(). */
  saveGpu(g: SavedGpu): void;
  /** The GPU domains a dead process left changed, without touching anything. */
  staleGpus(): SavedGpu[];
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
  const savedGpus = new Map<string, SavedGpu>();

  const readState = (): StateFile | null => {
    let text: string;
    try {
      text = readFileSync(statePath, "utf8");
    } catch {
      return null;
    }
    try {
      const s = JSON.parse(text) as StateFile;
      if ((s.version !== 1 && s.version !== 2) || !Array.isArray(s.policies) || (s.gpus !== undefined && !Array.isArray(s.gpus))) throw new Error("unknown format");
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

  /** CPU policies, then GPU domains; a failure on one side does not stop the other. */
  const restoreAll = (policies: Iterable<SavedPolicy>, gpus: Iterable<SavedGpu>): string[] => {
    const done: string[] = [];
    const errors: string[] = [];
    try {
      done.push(...restorePolicies(policies));
    } catch (err) {
      errors.push((err as Error).message);
    }
    try {
      done.push(...restoreGpus(roots, gpus));
    } catch (err) {
      errors.push(`restore incomplete (state kept in ${statePath}): ${(err as Error).message}`);
    }
    if (errors.length > 0) throw new Error(errors.join("; "));
    return done;
  };

  /** Before the first save: refuse when another live process controls this tree's clocks. */
  const claim = (): void => {
    const existing = readState();
    if (existing !== null && existing.pid !== process.pid && pidAlive(existing.pid)) {
      throw new RejectedError(
        `another splitwatt process (pid ${existing.pid}) is controlling cpufreq or GPU clocks under ${roots.sysfsRoot} (${statePath}); stop it first`,
        { path: statePath },
      );
    }
  };

  /**
   * Write the state file with everything saved so far: version 2 with `gpus` once a GPU domain
   * is saved, else version 1 as before (so an older splitwatt can still restore CPU-only state).
   */
  const persist = (): void => {
    mkdirSync(stateDir, { recursive: true });
    const base = { pid: process.pid, startedAt: new Date().toISOString(), sysfsRoot: roots.sysfsRoot, policies: [...saved.values()] };
    const state: StateFile = savedGpus.size > 0 ? { version: 2, ...base, gpus: [...savedGpus.values()] } : { version: 1, ...base };
    writeAtomic(statePath, `${JSON.stringify(state, null, 2)}\n`);
    active.add(guard);
    if (opts.installHooks) installHooks();
  };

  const guard: CpufreqGuard = {
    statePath,
    save(p) {
      if (saved.has(p.path)) return;
      if (saved.size === 0 && savedGpus.size === 0) claim();
      saved.set(p.path, {
        id: p.id,
        path: p.path,
        governor: p.governor,
        scalingMinKHz: p.scalingMinKHz,
        scalingMaxKHz: p.scalingMaxKHz,
        setspeedKHz: p.governor === "userspace" ? p.curKHz : null,
      });
      persist();
    },
    saveGpu(g) {
      if (savedGpus.has(g.path)) return;
      if (saved.size === 0 && savedGpus.size === 0) claim();
      savedGpus.set(g.path, { ...g });
      persist();
    },
    restoreNow() {
      if (saved.size === 0 && savedGpus.size === 0) return [];
      const done = restoreAll(saved.values(), savedGpus.values());
      saved.clear();
      savedGpus.clear();
      active.delete(guard);
      rmSync(statePath, { force: true });
      return done;
    },
    stale() {
      const s = readState();
      return s === null || s.pid === process.pid || pidAlive(s.pid) ? [] : s.policies;
    },
    staleGpus() {
      const s = readState();
      return s === null || s.pid === process.pid || pidAlive(s.pid) ? [] : (s.gpus ?? []);
    },
    recoverStale() {
      const s = readState();
      if (s === null || s.pid === process.pid || pidAlive(s.pid)) return [];
      const done = restoreAll(s.policies, s.gpus ?? []);
      rmSync(statePath, { force: true });
      return done;
    },
  };
  return guard;
}
