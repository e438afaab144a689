/**
 * The one way every command makes a directory it writes into (split --out, measure/optimize
 * --store, optimize --out and the pareto writer, export-triton --out, the accuracy cache, the
 * model cache, the state directory).
 *
 * Why not `mkdirSync(dir, { recursive: true })`: under procfs it spins at 100% CPU forever
 * (`mkdir` answers ENOENT for a name whose parent exists, and Node's recursive walk retries), and
 * its errors name neither the flag nor a fix. Here the missing components are created one at a
 * time, each failure is a one-line UsageError (exit 2) saying what is wrong and what to do, and
 * pseudo-filesystems are refused before anything is tried.
 *
 * How a pseudo-filesystem is recognised: by the type of the mount holding the deepest existing
 * ancestor of the path (its real path), looked up in /proc/self/mountinfo (the longest mount
 * point that is a prefix; the last of equal ones, as overmounts come later). statfs' f_type
 * (node's fs.statfsSync) was the alternative, but devtmpfs reports TMPFS_MAGIC there, so /dev
 * could not be told from /dev/shm or /tmp; a path-prefix rule (/proc, /sys) would miss a procfs
 * mounted elsewhere and the SPLITWATT_*_ROOT fake trees are ordinary directories anyway. Where
 * mountinfo cannot be read (not Linux) the check is skipped; the component-wise mkdir still
 * cannot hang.
 */
import { lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./errors.js";

/** File systems that hold kernel state, not files: nothing of ours may be written there. */
export const PSEUDO_FILESYSTEMS: ReadonlySet<string> = new Set([
  "proc",
  "sysfs",
  "devtmpfs",
  "devpts",
  "cgroup",
  "cgroup2",
  "debugfs",
  "tracefs",
  "securityfs",
  "pstore",
  "bpf",
  "configfs",
  "fusectl",
  "mqueue",
  "efivarfs",
  "binfmt_misc",
  "autofs",
  "rpc_pipefs",
  "nsfs",
  "selinuxfs",
  "hugetlbfs",
]);

/**
 * Make `dir` and its missing parents; returns its absolute path. `label` says what the directory
 * is for in messages (`--out`, `the measurement store`, ...). Every failure is a UsageError:
 * a file or a dangling symbolic link in the way, a pseudo-filesystem, permission denied, a
 * read-only or full file system.
 */
export function outputDir(dir: string, label: string, mountinfoPath = "/proc/self/mountinfo"): string {
  if (dir.length === 0) throw new UsageError(`${label}: the path is empty; give a directory`);
  const abs = resolve(dir);
  const fail = (why: string, fix: string, cause?: unknown): UsageError => new UsageError(`cannot use ${abs} for ${label}: ${why}; ${fix}`, { path: abs, cause });

  // the deepest existing ancestor, and the components to create below it
  const missing: string[] = [];
  let existing = abs;
  let st: Stats;
  for (;;) {
    try {
      st = statSync(existing);
      break;
    } catch (e) {
      const code = errnoOf(e);
      if (code !== "ENOENT" && code !== "ENOTDIR") throw fail(`cannot look at ${existing} (${code})`, "check the path and its permissions", e);
      const link = symlinkTarget(existing);
      if (link !== null) throw fail(`${existing} is a symbolic link to ${link}, which does not exist`, "remove the link or create its target", e);
      missing.unshift(existing);
      const up = dirname(existing);
      if (up === existing) throw fail("no part of the path exists", "give a directory on a mounted file system", e);
      existing = up;
    }
  }
  if (!st.isDirectory()) throw fail(`${existing} is ${existing === abs ? "" : "in the way: "}a file, not a directory`, `give a directory (it is created if missing)`);

  let real = existing;
  try {
    real = realpathSync(existing);
  } catch {
    // keep the path as given: the mount lookup is then by that path
  }
  const fsType = filesystemOf(real, mountinfoPath);
  if (fsType !== null && PSEUDO_FILESYSTEMS.has(fsType)) {
    throw fail(`${existing} is on ${fsType}, a pseudo-filesystem of the kernel (not storage)`, "give a directory on a disk, e.g. under your home directory or /tmp");
  }

  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (e) {
      const code = errnoOf(e);
      if (code === "EEXIST" && isDirectory(d)) continue; // made meanwhile by someone else
      throw fail(...mkdirProblem(d, code), e);
    }
  }
  return abs;
}

function mkdirProblem(d: string, code: string): [string, string] {
  switch (code) {
    case "EACCES":
    case "EPERM":
      return [`permission denied creating ${d}`, "give a directory you can write, or fix the permissions of its parent"];
    case "EROFS":
      return [`${dirname(d)} is on a read-only file system`, "give a directory on a writable file system"];
    case "ENOSPC":
    case "EDQUOT":
      return [`no space left to create ${d}`, "free some space or give a directory on another file system"];
    case "EEXIST":
      return [`${d} exists and is not a directory`, "give a directory (it is created if missing)"];
    case "ENAMETOOLONG":
      return ["the path is too long", "give a shorter path"];
    default:
      return [`cannot create ${d} (${code})`, "check that the path is on a normal, writable file system"];
  }
}

function errnoOf(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? "error";
}

function symlinkTarget(p: string): string | null {
  try {
    if (!lstatSync(p).isSymbolicLink()) return null;
    return readlinkSync(p);
  } catch {
    return null;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** `\040` and friends in mountinfo fields -> the characters. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** The file system type of the mount holding `realPath`, from mountinfo; null when unknown. */
export function filesystemOf(realPath: string, mountinfoPath = "/proc/self/mountinfo"): string | null {
  let text: string;
  try {
    text = readFileSync(mountinfoPath, "utf8");
  } catch {
    return null;
  }
  let best: string | null = null;
  let bestLength = -1;
  for (const line of text.split("\n")) {
    // id parent major:minor root mountpoint options [optional fields...] - fstype source superoptions
    const fields = line.split(" ");
    const sep = fields.indexOf("-", 6);
    const mountPoint = fields[4];
    const fsType = fields[sep + 1];
    if (sep < 0 || mountPoint === undefined || fsType === undefined) continue;
    const mp = unescapeMountField(mountPoint);
    const inside = mp === "/" || realPath === mp || realPath.startsWith(`${mp}/`);
    if (inside && mp.length >= bestLength) {
      best = fsType;
      bestLength = mp.length;
    }
  }
  return best;
}
