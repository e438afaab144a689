import { createHash } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { env } from "../env.js";
import { RejectedError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { isThisProcess, processAlive, processIdentity, type ProcessIdentity } from "../processIdentity.js";
import { onTeardown } from "../shutdown.js";
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
 * A policy entry as read back from a state file: whatever survived of it. A `path` of null means
 * the entry cannot be restored at all (it does not say which policy it was).
 */
export interface StalePolicy {
  id: string;
  path: string | null;
  governor: string | null;
  scalingMinKHz: number | null;
  scalingMaxKHz: number | null;
  setspeedKHz: number | null;
}

/**
 * The restore state file. Version 2 added `gpus` (GPU frequency domains, src/hw/gpufreq.ts); it
 * is written only once a GPU domain is saved, so CPU-only state stays version 1 (an older
 * splitwatt can still restore it). Both are read.
 */
interface StateFile {
  version: 1 | 2;
  pid: number;
  /** the owner's start time (/proc/PID/stat field 22): a reused pid or a zombie is not the owner; absent in older files */
  startTicks?: number | null;
  startedAt: string;
  sysfsRoot: string;
  policies: SavedPolicy[];
  gpus?: SavedGpu[];
}

/** A state file as read: its owner and the entries that survived; `problems` says what did not. */
interface StaleState {
  owner: ProcessIdentity;
  policies: StalePolicy[];
  gpus: SavedGpu[];
  problems: string[];
}

export interface CpufreqGuard {
  /**
   * Remember `p` as it is now (first time only) in memory and in the state file. Call
   * recoverStale() before reading `p` so a dead run's leftovers are not saved as the original.
   */
  save(p: CpufreqPolicy): void;
  /** Put every saved policy back and delete the state file. Synchronous: usable from 'exit'. */
  restoreNow(): string[];
  /**
   * Restore a state file left by a process that is no longer running (gone, a zombie, or its pid
   * now another process's). Partial entries are restored as far as they go, with a warning.
   */
  recoverStale(): string[];
  /** The policies a dead process left changed (its state file), without touching anything. */
  stale(): StalePolicy[];
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
  onTeardown(restoreAll);
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

export interface CpufreqGuardOptions {
  roots: Roots;
  stateDir?: string | undefined;
  installHooks: boolean;
  /** what could not be restored from a damaged state file, one line each (default: stderr) */
  onWarning?: ((message: string) => void) | undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const positiveInt = (v: unknown): number | null => (typeof v === "number" && Number.isSafeInteger(v) && v > 0 ? v : null);

/**
 * A state file's JSON -> its owner and what survived of each entry. Throws only when the file is
 * not a state file at all (no version 1, no policies array); damaged entries become problems.
 */
function parseState(raw: unknown, sysfsRoot: string): StaleState {
  if (!isRecord(raw) || (raw.version !== 1 && raw.version !== 2) || !Array.isArray(raw.policies) || (raw.gpus !== undefined && !Array.isArray(raw.gpus))) throw new Error("unknown format");
  const problems: string[] = [];
  const pid = positiveInt(raw.pid);
  if (pid === null) problems.push("the state file names no owner pid");
  const startTicks = typeof raw.startTicks === "number" && Number.isSafeInteger(raw.startTicks) && raw.startTicks >= 0 ? raw.startTicks : null;
  const root = resolve(sysfsRoot);
  const policies = raw.policies.map((e: unknown, i: number): StalePolicy => {
    const entry = `entry ${i + 1}`;
    if (!isRecord(e)) {
      problems.push(`${entry} is ${JSON.stringify(e)}, not a policy: cannot tell which policy it was`);
      return { id: entry, path: null, governor: null, scalingMinKHz: null, scalingMaxKHz: null, setspeedKHz: null };
    }
    let path = typeof e.path === "string" && e.path.length > 0 ? resolve(e.path) : null;
    const id = typeof e.id === "string" && /^[\w.-]+$/.test(e.id) ? e.id : path !== null ? basename(path) : entry;
    if (path === null) problems.push(`${id} has no policy path: cannot tell which policy it was`);
    else if (!path.startsWith(`${root}/`)) {
      problems.push(`${id}: ${path} is not under ${root}: skipped`);
      path = null;
    }
    const governor = typeof e.governor === "string" && /^[\w-]+$/.test(e.governor) ? e.governor : null;
    const p: StalePolicy = { id, path, governor, scalingMinKHz: positiveInt(e.scalingMinKHz), scalingMaxKHz: positiveInt(e.scalingMaxKHz), setspeedKHz: positiveInt(e.setspeedKHz) };
    if (path !== null) {
      if (governor === null) problems.push(`${id}: no saved governor, left as it is`);
      if (p.scalingMinKHz === null) problems.push(`${id}: no saved scaling_min_freq, left as it is`);
      if (p.scalingMaxKHz === null) problems.push(`${id}: no saved scaling_max_freq, left as it is`);
    }
    return p;
  });
  const gpus: SavedGpu[] = [];
  for (const [i, g] of ((raw.gpus as unknown[] | undefined) ?? []).entries()) {
    const ok =
      isRecord(g) &&
      typeof g.id === "string" &&
      (g.kind === "devfreq" || g.kind === "i915") &&
      typeof g.path === "string" &&
      resolve(g.path).startsWith(`${root}/`) &&
      (g.governor === null || typeof g.governor === "string") &&
      positiveInt(g.limitMin) !== null &&
      positiveInt(g.limitMax) !== null &&
      (g.setFreq === null || positiveInt(g.setFreq) !== null);
    if (ok) gpus.push({ ...(g as unknown as SavedGpu), path: resolve(g.path as string) });
    else problems.push(`GPU entry ${i + 1} is damaged or outside ${root}: left as it is`);
  }
  return { owner: { pid: pid ?? 0, startTicks }, policies, gpus, problems };
}

export function cpufreqGuard(opts: CpufreqGuardOptions): CpufreqGuard {
  const { roots } = opts;
  const stateDir = opts.stateDir ?? defaultStateDir();
  const key = createHash("sha256").update(roots.sysfsRoot).digest("hex").slice(0, 12);
  const statePath = join(stateDir, `cpufreq-${key}.json`);
  const saved = new Map<string, SavedPolicy>();
  const savedGpus = new Map<string, SavedGpu>();
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`splitwatt: warning: ${m}\n`));

  const moveAside = (why: string): string => {
    const aside = `${statePath}.corrupt-${Date.now()}`;
    renameSync(statePath, aside);
    warn(`cpufreq state file moved to ${aside} (${why})`);
    return aside;
  };

  const readState = (): StaleState | null => {
    let text: string;
    try {
      text = readFileSync(statePath, "utf8");
    } catch {
      return null;
    }
    try {
      return parseState(JSON.parse(text), roots.sysfsRoot);
    } catch (err) {
      moveAside(`unreadable: ${(err as Error).message}`);
      return null;
    }
  };

  /** The state file of a process that is no longer running, or null (none, ours, or its owner runs). */
  const deadState = (): StaleState | null => {
    const s = readState();
    if (s === null || isThisProcess(s.owner, roots.procRoot) || processAlive(s.owner, roots.procRoot)) return null;
    return s;
  };

  /** Put back what each entry holds; throws (state kept) when a write fails. */
  const restorePolicies = (policies: Iterable<StalePolicy>): string[] => {
    const { io } = roots;
    const done: string[] = [];
    const errors: string[] = [];
    for (const s of policies) {
      const dir = s.path;
      if (dir === null) continue;
      try {
        if (s.governor !== null) io.writeSync(join(dir, "scaling_governor"), s.governor);
        if (s.scalingMinKHz !== null || s.scalingMaxKHz !== null) {
          const num = (f: string): number => Number(io.readSync(join(dir, f)).trim());
          const current = { minKHz: num("scaling_min_freq"), maxKHz: num("scaling_max_freq") };
          const target = { minKHz: s.scalingMinKHz ?? current.minKHz, maxKHz: s.scalingMaxKHz ?? current.maxKHz };
          if (target.minKHz <= target.maxKHz) for (const [f, v] of minMaxWritePlan(current, target)) io.writeSync(join(dir, f), String(v));
          else errors.push(`${s.id}: saved limits ${target.minKHz}-${target.maxKHz} kHz are inverted`);
        }
        if (s.governor === "userspace" && s.setspeedKHz !== null) io.writeSync(join(dir, "scaling_setspeed"), String(s.setspeedKHz));
        done.push(s.id);
      } catch (err) {
        errors.push(`${s.id}: ${(err as Error).message}`);
      }
    }
    if (errors.length > 0) {
      throw new RejectedError(`cpufreq restore incomplete: ${errors.join("; ")}; the state is kept in ${statePath}: fix the cause and run \`splitwatt hw restore\` (as root)`, {
        path: statePath,
      });
    }
    return done;
  };

  /** CPU policies, then GPU domains; a failure on one side does not stop the other. */
  const restoreBoth = (policies: Iterable<StalePolicy>, gpus: Iterable<SavedGpu>): string[] => {
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
      errors.push(`GPU clock restore incomplete: ${(err as Error).message}; the state is kept in ${statePath}: fix the cause and run \`splitwatt hw restore\` (as root)`);
    }
    if (errors.length > 0) throw new RejectedError(errors.join("; "), { path: statePath });
    return done;
  };

  /** Before the first save: refuse when another live process controls this tree's clocks. */
  const claim = (): void => {
    const existing = readState();
    if (existing !== null && !isThisProcess(existing.owner, roots.procRoot) && processAlive(existing.owner, roots.procRoot)) {
      throw new RejectedError(
        `another splitwatt process (pid ${existing.owner.pid}) is controlling cpufreq or GPU clocks under ${roots.sysfsRoot} (${statePath}); stop it first`,
        { path: statePath },
      );
    }
  };

  /**
   * Write the state file with everything saved so far: version 2 with `gpus` once a GPU domain
   * is saved, else version 1 (so an older splitwatt can still restore CPU-only state).
   */
  const persist = (): void => {
    outputDir(stateDir, "the state directory (--state-dir, SPLITWATT_STATE_DIR)");
    const self = processIdentity(process.pid, roots.procRoot);
    const base = { pid: self.pid, startTicks: self.startTicks, startedAt: new Date().toISOString(), sysfsRoot: roots.sysfsRoot, policies: [...saved.values()] };
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
      const done = restoreBoth(saved.values(), savedGpus.values());
      saved.clear();
      savedGpus.clear();
      active.delete(guard);
      rmSync(statePath, { force: true });
      return done;
    },
    stale() {
      return deadState()?.policies ?? [];
    },
    staleGpus() {
      return deadState()?.gpus ?? [];
    },
    recoverStale() {
      const s = deadState();
      if (s === null) return [];
      const done = restoreBoth(s.policies, s.gpus);
      if (s.problems.length === 0) rmSync(statePath, { force: true });
      else {
        for (const p of s.problems) warn(`cpufreq state file: ${p}`);
        moveAside(`damaged: restored ${done.length > 0 ? done.join(", ") : "nothing"}; check the rest with \`splitwatt hw\``);
      }
      return done;
    },
  };
  return guard;
}
