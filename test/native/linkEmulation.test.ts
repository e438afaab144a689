/**
 * Kernel link emulation (netns + veth + tbf). This machine and CI run as root with iproute2, so
 * the kernel path is expected to work here. The path a user without root takes (refused, with the
 * app token bucket as the fallback) is a test of its own, run for real in an unprivileged child
 * process. Where the kernel path is unavailable, its tests are skipped with the reason in their
 * titles, so the report shows what did not run and why.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { UnsupportedError } from "../../src/errors.js";
import { readProcStat } from "../../src/processIdentity.js";
import { chooseShaping, LinkEmulation, netnsOwner, type LinkAvailability } from "../../src/transport/linkEmulation.js";
import { repoPath, runUnprivileged, UNPRIVILEGED_UID } from "../fixtures/unprivileged.js";

const children: ChildProcess[] = [];
// decided before the tests are collected, so a test that cannot run is reported as skipped
const avail: LinkAvailability = await LinkEmulation.available();
const kernelOnly = avail.ok ? "" : ` [SKIPPED: kernel link emulation unavailable here: ${avail.reason}]`;

const netnsList = (): string => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
const linkList = (): string => execFileSync("ip", ["-o", "link", "show"], { encoding: "utf8" });

/**
 * A TCP server inside the namespace: it reads until the client half-closes, replies with
 * "<bytes> <ms from first to last byte>\n" followed by `replyBytes` bytes, and exits.
 */
const SERVER = `
const net = require("node:net");
const replyBytes = Number(process.argv[1]);
const srv = net.createServer((s) => {
  let n = 0, t0 = 0, t1 = 0;
  s.on("data", (d) => { if (n === 0) t0 = performance.now(); n += d.length; t1 = performance.now(); });
  s.on("end", () => {
    s.write(n + " " + (t1 - t0).toFixed(3) + "\\n");
    s.end(Buffer.alloc(replyBytes, 7), () => srv.close());
  });
});
srv.listen(0, "0.0.0.0", () => process.stdout.write(srv.address().port + "\\n"));
`;

function startServer(link: LinkEmulation, replyBytes: number): Promise<{ port: number; child: ChildProcess }> {
  const [cmd, ...prefix] = link.execPrefix;
  const child = spawn(cmd as string, [...prefix, process.execPath, "-e", SERVER, String(replyBytes)], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", (d: Buffer) => resolve({ port: Number(d.toString().trim()), child }));
    child.once("exit", (code) => reject(new Error(`server in ${link.netnsName} exited with ${code}: ${err}`)));
  });
}

/** Send `bytes` to the server; returns the server's receive window and the time the reply took to arrive. */
function exchange(host: string, port: number, bytes: number, replyBytes: number): Promise<{ upBytes: number; upMs: number; downBytes: number; downMs: number }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port });
    let head = "";
    let down = 0;
    let tDown0 = 0;
    let tDown1 = 0;
    let upBytes = 0;
    let upMs = 0;
    s.on("connect", () => {
      s.end(Buffer.alloc(bytes, 1));
    });
    s.on("data", (d: Buffer) => {
      let rest = d;
      if (!head.includes("\n")) {
        const text = d.toString("latin1");
        const nl = text.indexOf("\n");
        head += nl < 0 ? text : text.slice(0, nl + 1);
        if (nl < 0) return;
        const [b, ms] = head.trim().split(" ");
        upBytes = Number(b);
        upMs = Number(ms);
        rest = d.subarray(nl + 1);
        tDown0 = performance.now();
      }
      down += rest.length;
      tDown1 = performance.now();
    });
    s.on("end", () => resolve({ upBytes, upMs, downBytes: down, downMs: tDown1 - tDown0 }));
    s.on("error", reject);
  });
}

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

describe("kernel link emulation (netns + veth + tbf)", () => {
  it.skipIf(!avail.ok)(`chooseShaping picks the kernel path where it is available${kernelOnly}`, async () => {
    const s = await chooseShaping({ uplinkMbps: 8, downlinkMbps: 16, rttMs: 40 }, { prefer: "auto" });
    try {
      expect(s.mode, s.label).toBe("netns-tbf");
      expect(s.label).toMatch(/^kernel: netns sw-\d+t\d+-\d+/);
      expect(s.label).toMatch(/40 ms RTT is NOT emulated/);
    } finally {
      if (s.mode === "netns-tbf") await s.link.close();
    }
  });

  it("chooseShaping with prefer app gives the token bucket, with prefer none no shaping", async () => {
    expect(await chooseShaping({ uplinkMbps: 8, downlinkMbps: 8 }, { prefer: "app" })).toMatchObject({ mode: "app-token-bucket", label: expect.stringMatching(/^app: token bucket/) });
    expect(await chooseShaping({ uplinkMbps: 8, downlinkMbps: 8 }, { prefer: "none" })).toEqual({ mode: "none", label: "not shaped" });
  });

  it.skipIf(!avail.ok)(`tbf holds real TCP throughput to the configured rates, and close() removes the namespace and the veth pair${kernelOnly}`, async () => {
    const link = await LinkEmulation.start({ uplinkMbps: 8, downlinkMbps: 16, name: "test" });
    expect(link.mode).toBe("netns-tbf");
    expect(link.netnsName).toMatch(new RegExp(`^sw-${process.pid}t${readProcStat(process.pid)?.startTicks}-\\d+-test$`));
    expect(link.execPrefix).toEqual(["ip", "netns", "exec", link.netnsName]);
    expect(link.deviceAddress).toMatch(/^10\.\d+\.\d+\.\d+$/);
    expect(netnsList()).toContain(link.netnsName);
    expect(execFileSync("tc", ["qdisc", "show", "dev", link.deviceInterface], { encoding: "utf8" })).toMatch(/tbf .*rate 8Mbit/);
    expect(execFileSync("tc", ["-n", link.netnsName, "qdisc", "show", "dev", link.serverInterface], { encoding: "utf8" })).toMatch(/tbf .*rate 16Mbit/);
    try {
      const bytes = 1_000_000;
      const { port } = await startServer(link, bytes);
      const r = await exchange(link.serverAddress, port, bytes, bytes);
      expect(r.upBytes).toBe(bytes);
      expect(r.downBytes).toBe(bytes);
      const upMbps = (r.upBytes * 8) / (r.upMs * 1000);
      const downMbps = (r.downBytes * 8) / (r.downMs * 1000);
      process.stdout.write(`tbf 8/16 Mbit/s: measured ${upMbps.toFixed(2)} up (${r.upMs.toFixed(0)} ms), ${downMbps.toFixed(2)} down (${r.downMs.toFixed(0)} ms)\n`);
      expect(upMbps, `uplink ${upMbps.toFixed(2)} Mbit/s`).toBeGreaterThan(8 * 0.7);
      expect(upMbps, `uplink ${upMbps.toFixed(2)} Mbit/s`).toBeLessThan(8 * 1.3);
      expect(downMbps, `downlink ${downMbps.toFixed(2)} Mbit/s`).toBeGreaterThan(16 * 0.7);
      expect(downMbps, `downlink ${downMbps.toFixed(2)} Mbit/s`).toBeLessThan(16 * 1.3);
    } finally {
      await link.close();
    }
    expect(netnsList()).not.toContain(link.netnsName);
    expect(linkList()).not.toContain(link.deviceInterface);
    await link.close(); // idempotent
  });

  it("setRate changes a running link's tbf rate (tc qdisc change): throughput follows, the qdiscs stay", async () => {
    if (!avail.ok) {
      process.stdout.write(`setRate not exercised: kernel link emulation unavailable (${avail.reason}); the daemon's app-shaped variant covers rate changes there\n`);
      await expect(LinkEmulation.start({ uplinkMbps: 8, downlinkMbps: 8 })).rejects.toThrow(UnsupportedError);
      return;
    }
    const link = await LinkEmulation.start({ uplinkMbps: 40, downlinkMbps: 40, name: "rate" });
    try {
      const bytes = 400_000;
      const measure = async (): Promise<number> => {
        const { port } = await startServer(link, 0);
        const r = await exchange(link.serverAddress, port, bytes, 0);
        return (r.upBytes * 8) / (r.upMs * 1000);
      };
      await link.setRate({ uplinkMbps: 4 });
      expect(execFileSync("tc", ["qdisc", "show", "dev", link.deviceInterface], { encoding: "utf8" })).toMatch(/tbf .*rate 4Mbit/);
      expect(execFileSync("tc", ["-n", link.netnsName, "qdisc", "show", "dev", link.serverInterface], { encoding: "utf8" })).toMatch(/tbf .*rate 40Mbit/);
      expect(link.label).toMatch(/tbf 4 Mbit\/s up \/ 40 Mbit\/s down/);
      const slow = await measure();
      await link.setRate({ uplinkMbps: 16, downlinkMbps: 20 });
      const fast = await measure();
      process.stdout.write(`tbf changed 4 -> 16 Mbit/s: measured ${slow.toFixed(2)} -> ${fast.toFixed(2)} Mbit/s\n`);
      expect(slow).toBeGreaterThan(4 * 0.7);
      expect(slow).toBeLessThan(4 * 1.3);
      expect(fast).toBeGreaterThan(16 * 0.7);
      expect(fast).toBeLessThan(16 * 1.3);
      await expect(link.setRate({ uplinkMbps: 0 })).rejects.toThrow(/positive uplinkMbps/);
    } finally {
      await link.close();
    }
    await expect(link.setRate({ uplinkMbps: 5 })).rejects.toThrow(/closed/);
  });

  it.skipIf(!avail.ok)(`a process killed with SIGTERM leaves no namespace behind and exits 143 (teardown hook; runs the compiled dist/)${kernelOnly}`, async () => {
    const dist = fileURLToPath(new URL("../../dist/transport/linkEmulation.js", import.meta.url));
    expect(existsSync(dist), `${dist} is missing: run npx tsc -p tsconfig.json first`).toBe(true);
    const script = `import(${JSON.stringify(dist)}).then(async ({ LinkEmulation }) => {
      const l = await LinkEmulation.start({ uplinkMbps: 5, downlinkMbps: 5 });
      process.stdout.write(l.netnsName + "\\n");
      setInterval(() => {}, 1000);
    }).catch((e) => { process.stdout.write("ERR " + e.message + "\\n"); process.exit(3); });`;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    const first = await new Promise<string>((resolve) => child.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim())));
    expect(first).toMatch(/^sw-\d+t\d+-\d+$/);
    expect(netnsList()).toContain(first);
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    // nobody else handles the signal: the teardown removes the namespace, then exit 128 + 15
    expect(await exited).toBe(143);
    expect(netnsList()).not.toContain(first);
  });

  it.skipIf(!avail.ok)(`cleanupStale removes namespaces and veth ends left behind by a process that died${kernelOnly}`, async () => {
    // a pid that is certainly dead: a child that has exited
    const dead = spawn(process.execPath, ["-e", ""]);
    children.push(dead);
    const pid = dead.pid as number;
    await new Promise((r) => dead.once("exit", r));
    const name = `sw-${pid}-0`;
    execFileSync("ip", ["netns", "add", name]);
    execFileSync("ip", ["link", "add", `swd${pid}x0`, "type", "veth", "peer", "name", `sws${pid}x0`, "netns", name]);
    const mine = await LinkEmulation.start({ uplinkMbps: 10, downlinkMbps: 10 });
    try {
      // start() already ran cleanupStale: the dead process's namespace is gone, ours is not
      expect(netnsList()).not.toContain(name);
      expect(linkList()).not.toContain(`swd${pid}x0`);
      expect(netnsList()).toContain(mine.netnsName);
      expect(await LinkEmulation.cleanupStale()).toEqual([]);
    } finally {
      await mine.close();
    }
  });

  it("a namespace name records its owner's pid and start time (older names: the pid alone)", () => {
    expect(netnsOwner("sw-12t345-0-test")).toEqual({ pid: 12, startTicks: 345 });
    expect(netnsOwner("sw-12-0")).toEqual({ pid: 12, startTicks: null });
    expect(netnsOwner("other-12-0")).toBeNull();
  });

  it.skipIf(!avail.ok)(`cleanupStale: a namespace whose owner's pid now belongs to another process, or is a zombie, is stale${kernelOnly}`, async () => {
    // this very pid, started at another tick: a reused pid
    const me = readProcStat(process.pid);
    expect(me).not.toBeNull();
    const reused = `sw-${process.pid}t${(me?.startTicks ?? 0) + 1}-9`;
    // a zombie: `sleep 0.1` whose parent (exec'd into `sleep 5`) never reaps it
    const parent = spawn("/bin/sh", ["-c", "sleep 0.1 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] });
    children.push(parent);
    const zpid = Number(await new Promise<string>((resolve) => parent.stdout?.once("data", (d: Buffer) => resolve(d.toString().trim()))));
    const deadline = Date.now() + 3000;
    while (readProcStat(zpid)?.state !== "Z" && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(readProcStat(zpid)?.state).toBe("Z");
    const zombie = `sw-${zpid}-0`;
    execFileSync("ip", ["netns", "add", reused]);
    execFileSync("ip", ["netns", "add", zombie]);
    try {
      const removed = await LinkEmulation.cleanupStale();
      expect(removed).toEqual(expect.arrayContaining([reused, zombie]));
      expect(netnsList()).not.toContain(reused);
      expect(netnsList()).not.toContain(zombie);
    } finally {
      for (const n of [reused, zombie]) spawnSyncQuiet(["ip", "netns", "del", n]);
      parent.kill("SIGKILL");
    }
  });

  it(`without root (child process, uid ${UNPRIVILEGED_UID}): unavailable saying why, start() is E_UNSUPPORTED, chooseShaping falls back to the app token bucket or refuses a kernel preference`, () => {
    const r = runUnprivileged<{ avail: LinkAvailability; start: { name: string; code: string; message: string }; auto: { mode: string; label: string; shape?: unknown }; kernel: string; stale: unknown }>(`
      const { LinkEmulation, chooseShaping } = await import(${JSON.stringify(repoPath("dist/transport/linkEmulation.js"))});
      const err = (p) => p.then(() => null, (e) => ({ name: e.constructor.name, code: e.code, message: e.message }));
      const avail = await LinkEmulation.available();
      const start = await err(LinkEmulation.start({ uplinkMbps: 8, downlinkMbps: 16 }));
      const auto = await chooseShaping({ uplinkMbps: 8, downlinkMbps: 16, rttMs: 40 }, { prefer: "auto" });
      const kernel = (await err(chooseShaping({ uplinkMbps: 8, downlinkMbps: 16 }, { prefer: "kernel" })))?.message ?? null;
      const stale = await LinkEmulation.cleanupStale();
      console.log(JSON.stringify({ avail, start, auto: { mode: auto.mode, label: auto.label, shape: auto.shape }, kernel, stale }));
    `);
    expect(r.avail).toEqual({ ok: false, reason: expect.stringMatching(/^not root: creating network namespaces and qdiscs needs root/) });
    const reason = (r.avail as { reason: string }).reason;
    expect(r.start).toEqual({ name: "UnsupportedError", code: "E_UNSUPPORTED", message: `kernel link emulation is not available: ${reason}` });
    expect(r.auto).toEqual({ mode: "app-token-bucket", label: expect.stringContaining(reason), shape: { uplinkMbps: 8, downlinkMbps: 16, rttMs: 40 } });
    expect(r.kernel).toBe(`kernel link emulation is not available: ${reason}; run as root with iproute2 installed, or choose app shaping`);
    // harmless without root: it does not throw (it can remove nothing)
    expect(Array.isArray(r.stale)).toBe(true);
  });
});

function spawnSyncQuiet(args: string[]): void {
  try {
    execFileSync(args[0] as string, args.slice(1), { stdio: "ignore" });
  } catch {
    // already gone
  }
}
