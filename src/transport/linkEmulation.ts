/**
 * Link emulation on one machine, for benchmarks: the tail server runs in its own network
 * namespace, joined to the root namespace (the device side) by a veth pair, and a `tbf` qdisc
 * on each end's egress limits the rate: device egress = uplink, server egress = downlink.
 *
 * tbf only limits the rate; it cannot add delay. The kernel's delay qdisc (netem) is not built
 * into the kernels this runs on, so the kernel path does NOT emulate RTT: the label says so.
 * When the kernel path is not available (not root, no iproute2, no netns or tbf), chooseShaping
 * falls back to the token bucket in TailClient, which emulates rate and RTT inside the process.
 *
 * Every command runs through execFile (no shell) with a timeout; a failure becomes a one-line
 * error naming the command and its stderr. Namespaces are named `sw-<pid>t<start>-<n>`, the
 * owner's pid and start time (src/processIdentity.ts: a reused pid or a zombie is not the owner):
 * close() removes its own, a teardown hook (src/shutdown.ts: at exit, after the command's own
 * clean-up on a signal) removes whatever this process left open, and cleanupStale() removes those
 * of processes that died without cleaning up (also run by start()).
 */
import { execFile, execFileSync } from "node:child_process";
import { processAlive, processIdentity, type ProcessIdentity } from "../processIdentity.js";
import { onTeardown } from "../shutdown.js";
import { IoError, SplitwattError, UnsupportedError } from "../errors.js";
import type { LinkShape } from "./tailClient.js";

export interface LinkEmulationOptions {
  /** device -> server rate, Mbit/s */
  uplinkMbps: number;
  /** server -> device rate, Mbit/s */
  downlinkMbps: number;
  /** a tag for the namespace name (letters, digits, dashes; default none) */
  name?: string | undefined;
}

export type LinkAvailability = { ok: true } | { ok: false; reason: string };

/** How a benchmark's link is shaped; `label` is the human-readable line to print. */
export type ShapingChoice =
  | { mode: "netns-tbf"; link: LinkEmulation; label: string }
  | { mode: "app-token-bucket"; shape: LinkShape; label: string }
  | { mode: "none"; label: string };

/**
 * tbf settings: burst = 1 ms of traffic (at least two 1500-byte frames), so that even a cut
 * tensor of a few KiB takes about bytes / rate, as on the emulated link (a 16 KiB burst let a
 * 9 KiB tensor through at loopback speed); queue = 100 ms of traffic beyond the
 * burst. With 50 ms (and GSO on), a TCP sender filling the queue sometimes lost packets and
 * stalled for a retransmission timeout (6 instead of 8 Mbit/s over 1 MB). The queue adds up to
 * that much delay when the link is saturated, as a real bottleneck buffer does.
 */
const TBF_BURST_MS = 1;
const TBF_MIN_BURST_BYTES = 3000;
const TBF_LATENCY_MS = 100;
/**
 * veth hands TCP's 64 KB GSO super-packets to the qdisc; a queue of a few of them overflows as a
 * whole and TCP stalls. Capping GSO at one MTU-sized segment per skb cut tbf's drops from
 * hundreds per MB to a handful in our runs.
 */
const NO_GSO = ["gso_max_size", "1500", "gso_max_segs", "1"];
const CMD_TIMEOUT_MS = 10_000;
const PREFIX = "sw-";

export class LinkEmulation {
  readonly mode = "netns-tbf" as const;
  readonly execPrefix: string[];
  /** tbf parameters used on both ends */
  readonly tbf: { burstBytesUp: number; burstBytesDown: number; latencyMs: number };
  private closed = false;
  private up: number;
  private down: number;

  private constructor(
    /** the server's network namespace */
    readonly netnsName: string,
    /** veth end in the root namespace (the device side) */
    readonly deviceInterface: string,
    /** veth end inside the namespace (the server side) */
    readonly serverInterface: string,
    readonly deviceAddress: string,
    readonly serverAddress: string,
    uplinkMbps: number,
    downlinkMbps: number,
  ) {
    this.execPrefix = ["ip", "netns", "exec", netnsName];
    this.up = uplinkMbps;
    this.down = downlinkMbps;
    this.tbf = { burstBytesUp: burstBytes(uplinkMbps), burstBytesDown: burstBytes(downlinkMbps), latencyMs: TBF_LATENCY_MS };
  }

  /** device -> server rate now, Mbit/s */
  get uplinkMbps(): number {
    return this.up;
  }

  /** server -> device rate now, Mbit/s */
  get downlinkMbps(): number {
    return this.down;
  }

  get label(): string {
    return `kernel: netns ${this.netnsName}, veth ${this.deviceAddress} -> ${this.serverAddress}, tbf ${this.up} Mbit/s up / ${this.down} Mbit/s down`;
  }

  /**
   * Change the rate of the running link (`tc qdisc change`: the qdiscs stay, connections
   * survive; packets queued at the old rate drain at the new one). Either direction may be left
   * out.
   */
  async setRate(rates: { uplinkMbps?: number | undefined; downlinkMbps?: number | undefined }): Promise<void> {
    if (this.closed) throw new UnsupportedError(`the emulated link ${this.netnsName} is closed`);
    for (const [k, v] of Object.entries(rates)) {
      if (v !== undefined && (!(v > 0) || !Number.isFinite(v))) throw new UnsupportedError(`link emulation needs a positive ${k}, got ${v}`);
    }
    if (rates.uplinkMbps !== undefined) {
      await run("tc", ["qdisc", "change", "dev", this.deviceInterface, "root", ...tbfArgs(rates.uplinkMbps)]);
      this.up = rates.uplinkMbps;
      this.tbf.burstBytesUp = burstBytes(rates.uplinkMbps);
    }
    if (rates.downlinkMbps !== undefined) {
      await run("tc", ["-n", this.netnsName, "qdisc", "change", "dev", this.serverInterface, "root", ...tbfArgs(rates.downlinkMbps)]);
      this.down = rates.downlinkMbps;
      this.tbf.burstBytesDown = burstBytes(rates.downlinkMbps);
    }
  }

  /**
   * Whether the kernel path works here: root, `ip` and `tc` present, a namespace, a veth pair
   * and a tbf qdisc can be created (tried once per process on a throw-away namespace).
   */
  static available(opts: { refresh?: boolean } = {}): Promise<LinkAvailability> {
    if (probe === null || opts.refresh === true) probe = probeKernel();
    return probe;
  }

  /** Create the namespace, the veth pair, the addresses and the tbf qdiscs. */
  static async start(opts: LinkEmulationOptions): Promise<LinkEmulation> {
    for (const [k, v] of [["uplinkMbps", opts.uplinkMbps], ["downlinkMbps", opts.downlinkMbps]] as const) {
      if (!(v > 0) || !Number.isFinite(v)) throw new UnsupportedError(`link emulation needs a positive ${k}, got ${v}: take it from the network profile`);
    }
    if (opts.name !== undefined && !/^[A-Za-z0-9-]{1,20}$/.test(opts.name)) throw new UnsupportedError(`link emulation name "${opts.name}" must be 1-20 letters, digits or dashes`);
    const avail = await LinkEmulation.available();
    if (!avail.ok) throw new UnsupportedError(`kernel link emulation is not available: ${avail.reason}`);
    await LinkEmulation.cleanupStale();
    const seq = nextSeq++;
    const netns = `${PREFIX}${ownerTag()}-${seq}${opts.name === undefined ? "" : `-${opts.name}`}`;
    const dev = `swd${process.pid}x${seq}`;
    const srv = `sws${process.pid}x${seq}`;
    const [deviceAddress, serverAddress] = await freeSubnet(seq);
    const link = new LinkEmulation(netns, dev, srv, deviceAddress, serverAddress, opts.uplinkMbps, opts.downlinkMbps);
    active.add(link);
    installHooks();
    try {
      await run("ip", ["netns", "add", netns]);
      await run("ip", ["link", "add", dev, "type", "veth", "peer", "name", srv, "netns", netns]);
      await run("ip", ["addr", "add", `${deviceAddress}/30`, "dev", dev]);
      // one packet per skb (see NO_GSO); best effort: older kernels lack the knobs
      await runQuiet("ip", ["link", "set", dev, ...NO_GSO]);
      await run("ip", ["link", "set", dev, "up"]);
      await run("ip", ["-n", netns, "addr", "add", `${serverAddress}/30`, "dev", srv]);
      await runQuiet("ip", ["-n", netns, "link", "set", srv, ...NO_GSO]);
      await run("ip", ["-n", netns, "link", "set", srv, "up"]);
      await run("ip", ["-n", netns, "link", "set", "lo", "up"]);
      await run("tc", ["qdisc", "add", "dev", dev, "root", ...tbfArgs(opts.uplinkMbps)]);
      await run("tc", ["-n", netns, "qdisc", "add", "dev", srv, "root", ...tbfArgs(opts.downlinkMbps)]);
    } catch (err) {
      await link.close();
      throw err;
    }
    return link;
  }

  /**
   * Remove `sw-<pid>[t<start>]-*` namespaces (and their veth ends) whose process is gone (a
   * zombie, or its pid now another process's, counts as gone), killing what still runs inside
   * them. Returns the namespaces removed.
   */
  static async cleanupStale(): Promise<string[]> {
    const removed: string[] = [];
    let names: string[] = [];
    try {
      names = parseNetnsList(await run("ip", ["netns", "list"]));
    } catch {
      return removed;
    }
    for (const name of names) {
      const owner = netnsOwner(name);
      if (owner === null || processAlive(owner)) continue;
      await killNetnsProcesses(name);
      await runQuiet("ip", ["netns", "del", name]);
      removed.push(name);
    }
    try {
      for (const ifname of parseLinkNames(await run("ip", ["-o", "link", "show"]))) {
        const m = /^sw[dp](\d+)/.exec(ifname);
        // interface names (15 characters) have no room for a start time: the pid, zombies as dead
        if (m !== null && !processAlive({ pid: Number(m[1]), startTicks: null })) await runQuiet("ip", ["link", "del", ifname]);
      }
    } catch {
      // listing links failed: nothing more to clean
    }
    return removed;
  }

  /**
   * Tear everything down: processes still inside the namespace are killed, the veth pair and
   * the namespace deleted. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    active.delete(this);
    await killNetnsProcesses(this.netnsName);
    await runQuiet("ip", ["link", "del", this.deviceInterface]);
    await runQuiet("ip", ["netns", "del", this.netnsName]);
  }

  /** Synchronous teardown for the exit hook. */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    active.delete(this);
    const quiet = (args: string[]): string => {
      try {
        return execFileSync(args[0] as string, args.slice(1), { timeout: CMD_TIMEOUT_MS, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
      } catch {
        return "";
      }
    };
    for (const pid of parsePids(quiet(["ip", "netns", "pids", this.netnsName]))) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    quiet(["ip", "link", "del", this.deviceInterface]);
    quiet(["ip", "netns", "del", this.netnsName]);
  }
}

/**
 * Pick how to shape a benchmark's link to a network profile's rates.
 * - prefer "auto" (default): the kernel path when available, else the app token bucket, the
 *   label saying why;
 * - "kernel": the kernel path or an E_UNSUPPORTED error with the reason;
 * - "app": the token bucket; "none": not shaped.
 */
export async function chooseShaping(
  link: { uplinkMbps: number; downlinkMbps: number; rttMs?: number | undefined },
  opts: { prefer?: "auto" | "kernel" | "app" | "none" | undefined } = {},
): Promise<ShapingChoice> {
  const prefer = opts.prefer ?? "auto";
  const rttMs = link.rttMs ?? 0;
  const shape: LinkShape = { uplinkMbps: link.uplinkMbps, downlinkMbps: link.downlinkMbps, rttMs };
  const appLabel = (why: string): string => `app: token bucket in the client, ${link.uplinkMbps} Mbit/s up / ${link.downlinkMbps} Mbit/s down${rttMs > 0 ? ` + ${rttMs} ms RTT` : ""} per request (${why})`;
  if (prefer === "none") return { mode: "none", label: "not shaped" };
  if (prefer === "app") return { mode: "app-token-bucket", shape, label: appLabel("requested") };
  const avail = await LinkEmulation.available();
  if (!avail.ok) {
    if (prefer === "kernel") throw new UnsupportedError(`kernel link emulation is not available: ${avail.reason}; run as root with iproute2 installed, or choose app shaping`);
    return { mode: "app-token-bucket", shape, label: appLabel(`kernel shaping unavailable: ${avail.reason}`) };
  }
  let em: LinkEmulation;
  try {
    em = await LinkEmulation.start({ uplinkMbps: link.uplinkMbps, downlinkMbps: link.downlinkMbps });
  } catch (err) {
    if (prefer === "kernel") throw err;
    return { mode: "app-token-bucket", shape, label: appLabel(`kernel shaping failed: ${(err as Error).message}`) };
  }
  const rttNote = rttMs > 0 ? `; the profile's ${rttMs} ms RTT is NOT emulated (tbf cannot delay and netem is absent)` : "";
  return { mode: "netns-tbf", link: em, label: `${em.label}${rttNote}` };
}

// --- internals ---------------------------------------------------------------------------

let probe: Promise<LinkAvailability> | null = null;
let nextSeq = 0;
const active = new Set<LinkEmulation>();
let hooksInstalled = false;

function burstBytes(mbps: number): number {
  return Math.max(TBF_MIN_BURST_BYTES, Math.round(((mbps * 1e6) / 8) * (TBF_BURST_MS / 1000)));
}

function tbfArgs(mbps: number): string[] {
  return ["tbf", "rate", `${Math.round(mbps * 1e6)}bit`, "burst", String(burstBytes(mbps)), "latency", `${TBF_LATENCY_MS}ms`];
}

/** A failed command: the command line and the first line of its stderr. */
class CommandError extends SplitwattError {
  constructor(
    readonly command: string,
    readonly stderr: string,
    detail: string,
  ) {
    super("E_IO", `\`${command}\` failed: ${detail}`);
  }
}

function run(cmd: string, args: string[], timeoutMs = CMD_TIMEOUT_MS): Promise<string> {
  const line = [cmd, ...args].join(" ");
  return new Promise((resolveOut, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8", maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err === null) return resolveOut(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === "ENOENT") return reject(new UnsupportedError(`${cmd} not found: install iproute2 (apt-get install iproute2)`));
      const first = stderr.trim().split("\n")[0]?.trim() ?? "";
      const detail = e.killed === true ? `no answer within ${timeoutMs} ms` : first !== "" ? first : e.message.split("\n")[0] ?? "failed";
      reject(new CommandError(line, stderr, detail));
    });
  });
}

/** Run and ignore failure (teardown of something that may already be gone). */
async function runQuiet(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args);
  } catch {
    // already gone
  }
}

async function killNetnsProcesses(netns: string): Promise<void> {
  let out = "";
  try {
    out = await run("ip", ["netns", "pids", netns]);
  } catch {
    return;
  }
  for (const pid of parsePids(out)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function parsePids(out: string): number[] {
  return out
    .split(/\s+/)
    .filter((x) => /^\d+$/.test(x))
    .map(Number)
    .filter((pid) => pid !== process.pid);
}

/** `ip netns list` lines are "NAME" or "NAME (id: N)". */
function parseNetnsList(out: string): string[] {
  return out
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[0] ?? "")
    .filter((n) => n.startsWith(PREFIX));
}

/** `ip -o link show` lines: "N: NAME[@PEER]: <...> ...". */
function parseLinkNames(out: string): string[] {
  const names: string[] = [];
  for (const l of out.split("\n")) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(l);
    if (m?.[1] !== undefined) names.push(m[1]);
  }
  return names;
}

/** `<pid>t<start ticks>` of this process (just `<pid>` where /proc/self/stat cannot be read). */
function ownerTag(): string {
  const me = processIdentity();
  return me.startTicks === null ? String(me.pid) : `${me.pid}t${me.startTicks}`;
}

/** The owner a namespace name records: `sw-<pid>t<start>-...`, or `sw-<pid>-...` (no start time: older names, or unknown). */
export function netnsOwner(netns: string): ProcessIdentity | null {
  const m = /^sw-(\d+)(?:t(\d+))?-/.exec(netns);
  if (m === null) return null;
  return { pid: Number(m[1]), startTicks: m[2] === undefined ? null : Number(m[2]) };
}

/**
 * A /30 in 10.200.0.0/14 that no interface of this machine uses: .1 for the device end, .2 for
 * the server end. Blocks are tried from one derived from the pid and sequence number.
 */
async function freeSubnet(seq: number): Promise<[string, string]> {
  let used = "";
  try {
    used = await run("ip", ["-4", "-o", "addr", "show"]);
  } catch {
    // no listing: take the first candidate
  }
  const inUse = new Set<string>();
  for (const m of used.matchAll(/inet (\d+)\.(\d+)\.(\d+)\.(\d+)/g)) inUse.add(`${m[1]}.${m[2]}.${m[3]}.${Number(m[4]) & ~3}`);
  const start = (process.pid * 61 + seq * 7) % 65536;
  for (let i = 0; i < 65536; i++) {
    const b = (start + i) % 65536;
    const net = `10.${200 + (b >> 14)}.${(b >> 6) & 255}.${(b & 63) << 2}`;
    if (inUse.has(net)) continue;
    const base = net.slice(0, net.lastIndexOf(".") + 1);
    const last = (b & 63) << 2;
    return [`${base}${last + 1}`, `${base}${last + 2}`];
  }
  throw new IoError("no free /30 in 10.200.0.0/14 for the emulated link: remove unused addresses there");
}

async function probeKernel(): Promise<LinkAvailability> {
  if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (typeof process.getuid === "function" && process.getuid() !== 0) return { ok: false, reason: "not root: creating network namespaces and qdiscs needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)" };
  for (const cmd of ["ip", "tc"]) {
    try {
      await run(cmd, ["-V"]);
    } catch (err) {
      return { ok: false, reason: (err as Error).message };
    }
  }
  await LinkEmulation.cleanupStale();
  const netns = `${PREFIX}${ownerTag()}-probe`;
  const a = `swp${process.pid}`;
  const b = `swq${process.pid}`;
  try {
    try {
      await run("ip", ["netns", "add", netns]);
    } catch (err) {
      return { ok: false, reason: `cannot create a network namespace: ${(err as Error).message}` };
    }
    try {
      await run("ip", ["link", "add", a, "type", "veth", "peer", "name", b, "netns", netns]);
    } catch (err) {
      return { ok: false, reason: `cannot create a veth pair into a namespace: ${(err as Error).message}` };
    }
    try {
      await run("tc", ["qdisc", "add", "dev", a, "root", ...tbfArgs(1)]);
    } catch (err) {
      const msg = (err as Error).message;
      return { ok: false, reason: /unknown|not supported|No such file/i.test((err as CommandError).stderr ?? "") ? `the tbf qdisc is missing from this kernel (sch_tbf): ${msg}` : `cannot add a tbf qdisc: ${msg}` };
    }
    return { ok: true };
  } finally {
    await runQuiet("ip", ["link", "del", a]);
    await runQuiet("ip", ["netns", "del", netns]);
  }
}

function closeAllSync(): void {
  for (const link of [...active]) {
    try {
      link.closeSync();
    } catch (err) {
      process.stderr.write(`splitwatt: warning: could not remove the emulated link ${link.netnsName}: ${(err as Error).message}\n`);
    }
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  onTeardown(closeAllSync);
}
