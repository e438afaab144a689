import { MalformedError } from "../errors.js";

/**
 * Parsers for the text the kernel writes in sysfs and procfs. Pure functions; each throws
 * MalformedError naming the file when the text is not what the kernel documents.
 */

/** "0-3,8,10-11" (related_cpus in list form) or "0 1 2 3" (affected_cpus) -> sorted unique cpu numbers. */
export function parseCpuList(text: string, path = "cpu list"): number[] {
  const out = new Set<number>();
  const trimmed = text.trim();
  if (trimmed === "") return [];
  for (const part of trimmed.split(/[\s,]+/)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) throw new MalformedError(`cannot parse cpu list "${trimmed}" in ${path}`, { path });
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo || hi - lo > 65536) throw new MalformedError(`bad cpu range "${part}" in ${path}`, { path });
    for (let c = lo; c <= hi; c++) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** A non-negative decimal integer (frequencies in kHz, counters in uJ). */
export function parseUInt(text: string, path: string): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) throw new MalformedError(`expected a non-negative integer in ${path}, got "${t.slice(0, 40)}"`, { path });
  const n = Number(t);
  if (!Number.isSafeInteger(n)) throw new MalformedError(`integer out of range in ${path}: ${t}`, { path });
  return n;
}

/** A non-negative decimal integer as BigInt (64-bit energy counters). */
export function parseUBigInt(text: string, path: string): bigint {
  const t = text.trim();
  if (!/^\d+$/.test(t) || t.length > 20) throw new MalformedError(`expected a non-negative integer in ${path}, got "${t.slice(0, 40)}"`, { path });
  return BigInt(t);
}

/** A signed decimal integer (hwmon values can be negative for currents). */
export function parseInt64(text: string, path: string): number {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) throw new MalformedError(`expected an integer in ${path}, got "${t.slice(0, 40)}"`, { path });
  return Number(t);
}

/** A finite decimal floating-point number (perf event .scale files). */
export function parseFloatStrict(text: string, path: string): number {
  const t = text.trim();
  const n = Number(t);
  if (t === "" || !Number.isFinite(n)) throw new MalformedError(`expected a number in ${path}, got "${t.slice(0, 40)}"`, { path });
  return n;
}

/** Whitespace-separated words (scaling_available_governors). */
export function parseWords(text: string): string[] {
  const t = text.trim();
  return t === "" ? [] : t.split(/\s+/);
}

/** scaling_available_frequencies -> kHz ascending (acpi-cpufreq lists them descending). */
export function parseKHzList(text: string, path: string): number[] {
  const words = parseWords(text);
  const out = words.map((w) => parseUInt(w, path));
  return [...new Set(out)].sort((a, b) => a - b);
}

export interface TimeInState {
  kHz: number;
  timeMs: number;
}

/** stats/time_in_state: "<kHz> <time in 10 ms units>" per line. */
export function parseTimeInState(text: string, path: string): TimeInState[] {
  const out: TimeInState[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    const m = /^(\d+)\s+(\d+)$/.exec(t);
    if (m === null) throw new MalformedError(`cannot parse line "${t}" in ${path}`, { path });
    out.push({ kHz: Number(m[1]), timeMs: Number(m[2]) * 10 });
  }
  return out.sort((a, b) => a.kHz - b.kHz);
}

export interface CpuTimes {
  /** all jiffies (user nice system idle iowait irq softirq steal) */
  total: number;
  /** jiffies not idle and not iowait */
  busy: number;
}

export interface ProcStat {
  all: CpuTimes;
  perCpu: Map<number, CpuTimes>;
}

/** /proc/stat cpu lines. guest/guest_nice are already included in user/nice and are not added again. */
export function parseProcStat(text: string, path = "/proc/stat"): ProcStat {
  let all: CpuTimes | undefined;
  const perCpu = new Map<number, CpuTimes>();
  for (const line of text.split("\n")) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const fields = (m[2] ?? "").trim().split(/\s+/).map(Number);
    if (fields.length < 4 || fields.some((f) => !Number.isFinite(f) || f < 0)) {
      throw new MalformedError(`cannot parse "${line.slice(0, 60)}" in ${path}`, { path });
    }
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    const times = { total, busy: total - idle - iowait };
    if (m[1] === "") all = times;
    else perCpu.set(Number(m[1]), times);
  }
  if (all === undefined) throw new MalformedError(`no aggregate "cpu" line in ${path}`, { path });
  return { all, perCpu };
}

/** perf event encoding "event=0x02" (optionally ",umask=0x00") -> config value. */
export function parsePerfEventConfig(text: string, path: string): number {
  let config = 0;
  let seen = false;
  for (const term of text.trim().split(",")) {
    const m = /^(event|umask)=(0x[0-9a-fA-F]+|\d+)$/.exec(term.trim());
    if (m === null) throw new MalformedError(`unsupported perf event encoding "${text.trim()}" in ${path}`, { path });
    const v = Number(m[2]);
    if (m[1] === "event") {
      config |= v & 0xff;
      seen = true;
    } else config |= (v & 0xff) << 8;
  }
  if (!seen) throw new MalformedError(`no event= term in ${path}`, { path });
  return config;
}

/** /proc/cpuinfo vendor_id (x86) or null on other architectures. */
export function parseCpuVendor(text: string): "intel" | "amd" | null {
  const m = /^vendor_id\s*:\s*(\S+)/m.exec(text);
  if (m === null) return null;
  if (m[1] === "GenuineIntel") return "intel";
  if (m[1] === "AuthenticAMD" || m[1] === "HygonGenuine") return "amd";
  return null;
}
