/**
 * The external meter kinds against fake meters on loopback (real HTTP and TCP servers, real
 * child processes, real files), at known constant and stepped power.
 *
 * Error bound of a stepped power (from src/hw/meters/meterEnergy.ts): exact readings of a power
 * that steps by dP at T between the readings a (old power) and b (new power), stamped t_a, t_b
 * within e_a, e_b of when they were taken, give a figure that errs by at most
 * |dP| x ((t_b - t_a) / 2 + max(e_a, e_b)). A polled meter stamps the middle of each request, so
 * e <= half its round trip; requests do not overlap, so e_a + e_b <= t_b - t_a and the bound is at
 * most |dP| x 1.5 (t_b - t_a). A command or trace stamping its own readings has e = the offset
 * between its clock (Date.now(), whole ms) and the meter clock, measured below.
 */
import { chmodSync, mkdtempSync, writeFileSync, appendFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { meterClockMs, type Meter } from "../../src/hw/meters/meter.js";
import { meterWindowEnergy, type MeterSpan } from "../../src/hw/meters/meterEnergy.js";
import { openMeter } from "../../src/hw/meters/openMeter.js";

const meters: Meter[] = [];
const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const m of meters.splice(0)) await m.close();
  for (const c of closers.splice(0)) await c();
});

function open(spec: string, opts: { periodMs?: number; timeoutMs?: number } = {}): { meter: Meter; warnings: string[] } {
  const warnings: string[] = [];
  const meter = openMeter(spec, { periodMs: opts.periodMs ?? 40, timeoutMs: opts.timeoutMs, onWarning: (w) => warnings.push(w) });
  meters.push(meter);
  return { meter, warnings };
}

/** A window of `ms` from now, once the meter has a reading after it; its figure by the rule. */
async function windowOf(meter: Meter, ms: number): Promise<{ span: MeterSpan; energyJ: number | null; note: string | null }> {
  const fromMs = meterClockMs();
  await sleep(ms);
  const span = { fromMs, toMs: meterClockMs() };
  await meter.waitFor(span.toMs);
  const r = meterWindowEnergy(meter.view(), span, { periodMs: meter.periodMs() });
  return { span, energyJ: r.energyJ, note: r.note };
}

/** Poll `cond` until it holds (child processes start slowly on a busy machine). */
async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = performance.now() + ms;
  while (!cond() && performance.now() < end) await sleep(20);
}

/** The readings on either side of a power step from `before` W to `after` W. */
function straddle(meter: Meter, before: number, after: number): { ta: number; tb: number } {
  const s = meter.view().samples;
  const b = s.findIndex((x) => x.watts === after);
  const a = s[b - 1];
  if (b <= 0 || a === undefined || a.watts !== before) throw new Error(`no step from ${before} to ${after} W in the readings`);
  return { ta: a.tMs, tb: (s[b] as { tMs: number }).tMs };
}

/** Power that steps from p1 to p2 at stepMs (meter clock). */
const stepped = (p1: number, p2: number, stepMs: () => number) => (t: number) => (t < stepMs() ? p1 : p2);
const trueJ = (span: MeterSpan, p1: number, p2: number, stepMs: number) =>
  (p1 * Math.max(0, Math.min(stepMs, span.toMs) - span.fromMs) + p2 * Math.max(0, span.toMs - Math.max(stepMs, span.fromMs))) / 1000;

async function httpServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; server: Server }> {
  const server = createHttpServer(handler);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as { port: number }).port, server };
}

const json = (res: ServerResponse, body: unknown): void => {
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(body));
};

/** Shapes of the vendors' answers (fields as their docs list them; values made up). */
const shellyStatus = (w: number) => ({ id: 0, source: "init", output: true, apower: w, voltage: 230.4, freq: 50, current: w / 230.4, aenergy: { total: 1234.5, by_minute: [0, 0, 0], minute_ts: 1 }, temperature: { tC: 41.2, tF: 106.2 } });
const tasmotaStatus8 = (w: number) => ({ StatusSNS: { Time: "2024-05-01T12:00:00", ENERGY: { TotalStartTime: "2024-01-01T00:00:00", Total: 3.705, Yesterday: 0.028, Today: 0.026, Power: w, ApparentPower: w, ReactivePower: 0, Factor: 1, Voltage: 233, Current: w / 233 } } });

describe("http meters on loopback", () => {
  it.each([
    ["plain JSON", "/status", (w: number) => ({ meters: [{ power: w }] }), (port: number) => `http:http://127.0.0.1:${port}/status#meters.0.power`],
    ["Shelly Gen2", "/rpc/Switch.GetStatus?id=0", shellyStatus, (port: number) => `shelly:127.0.0.1:${port}`],
    ["Tasmota", "/cm?cmnd=Status%208", tasmotaStatus8, (port: number) => `tasmota:127.0.0.1:${port}`],
  ])("%s: a constant 5 W over a window is 5 W x t, exactly", async (_name, path, body, spec) => {
    const { port } = await httpServer((req, res) => (req.url === path ? json(res, body(5)) : res.writeHead(404).end()));
    const { meter, warnings } = open(spec(port));
    await until(() => meter.view().samples.length >= 2);
    const w = await windowOf(meter, 400);
    expect(w.note).toBeNull();
    expect(w.energyJ).toBeCloseTo((5 * (w.span.toMs - w.span.fromMs)) / 1000, 6);
    expect(warnings).toEqual([]);
  });

  it.each([
    ["plain JSON", (w: number) => ({ meters: [{ power: w }] }), (port: number) => `http:http://127.0.0.1:${port}/status#meters.0.power`],
    ["Shelly Gen2", shellyStatus, (port: number) => `shelly:127.0.0.1:${port}`],
    ["Tasmota", tasmotaStatus8, (port: number) => `tasmota:127.0.0.1:${port}`],
  ])("%s: a step from 3 W to 8 W is integrated within the sampling error", async (_name, body, spec) => {
    let stepAt = Number.POSITIVE_INFINITY;
    const power = stepped(3, 8, () => stepAt);
    const { port } = await httpServer((_req, res) => json(res, body(power(meterClockMs()))));
    const { meter } = open(spec(port));
    await until(() => meter.view().samples.length >= 2);
    const fromMs = meterClockMs();
    stepAt = fromMs + 250;
    await sleep(550);
    const span = { fromMs, toMs: meterClockMs() };
    await meter.waitFor(span.toMs);
    const r = meterWindowEnergy(meter.view(), span, { periodMs: meter.periodMs() });
    const { ta, tb } = straddle(meter, 3, 8);
    const bound = (5 * 1.5 * (tb - ta)) / 1000;
    expect(Math.abs((r.energyJ as number) - trueJ(span, 3, 8, stepAt))).toBeLessThanOrEqual(bound + 1e-6);
    expect(bound).toBeLessThan(trueJ(span, 3, 8, stepAt) / 5); // the bound says something
  });

  it("a meter that stops answering: a timeout warning, a gap, no figure across it, figures beside it", async () => {
    let hang = false;
    const held: ServerResponse[] = [];
    const { port } = await httpServer((_req, res) => (hang ? held.push(res) : json(res, { p: 2 })));
    closers.push(() => held.forEach((r) => r.destroy()));
    const { meter, warnings } = open(`http:http://127.0.0.1:${port}/#p`, { periodMs: 40, timeoutMs: 250 });
    await until(() => meter.view().samples.length >= 2);
    const before = await windowOf(meter, 200);
    const acrossFrom = meterClockMs();
    hang = true;
    await until(() => meter.view().gaps.length > 0); // a request timed out
    hang = false;
    await until(() => meter.view().gaps.every((g) => g.toMs !== null)); // and readings resumed
    const acrossTo = meterClockMs();
    await sleep(50);
    const after = await windowOf(meter, 200);
    const across = meterWindowEnergy(meter.view(), { fromMs: acrossFrom, toMs: acrossTo }, { periodMs: meter.periodMs() });
    expect([before.note, after.note]).toEqual([null, null]);
    expect(before.energyJ).toBeCloseTo((2 * (before.span.toMs - before.span.fromMs)) / 1000, 6);
    expect(after.energyJ).toBeCloseTo((2 * (after.span.toMs - after.span.fromMs)) / 1000, 6);
    expect(across.energyJ).toBeNull();
    expect(across.note).toMatch(/gap/);
    expect(warnings[0]).toMatch(/no answer within 250 ms/);
    expect(warnings.some((w) => /readings resumed/.test(w))).toBe(true);
  });

  it("garbage answers (not JSON, no such field, not a number, HTTP 500) are warnings and gaps, never readings", async () => {
    const answers = ["not json", JSON.stringify({ q: 1 }), JSON.stringify({ p: "abc" }), "500"];
    let bad: string | null = null;
    const { port } = await httpServer((_req, res) => {
      if (bad === "500") res.writeHead(500).end("oops");
      else if (bad !== null) res.end(bad);
      else json(res, { p: 4 });
    });
    const { meter, warnings } = open(`http:http://127.0.0.1:${port}/#p`);
    await until(() => meter.view().samples.length >= 2);
    for (const [i, a] of answers.entries()) {
      bad = a;
      await until(() => meter.view().gaps.length === i + 1);
      bad = null;
      await until(() => meter.view().gaps[i]?.toMs !== null);
    }
    for (const re of [/not JSON/, /no "p" in the answer/, /"p" is "abc", not a number/, /HTTP 500/]) expect(warnings.some((w) => re.test(w)), String(re)).toBe(true);
    expect(meter.view().samples.every((s) => s.watts === 4)).toBe(true);
    expect(meter.view().gaps.length).toBe(4);
  });

  it("a server that dies mid-run: warnings, no crash, waiting for a reading ends, later windows have no figure", async () => {
    const { port, server } = await httpServer((_req, res) => json(res, { p: 6 }));
    const { meter, warnings } = open(`http:http://127.0.0.1:${port}/#p`, { periodMs: 40, timeoutMs: 150 });
    await until(() => meter.view().samples.length >= 2);
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    const t0 = performance.now();
    const w = await windowOf(meter, 150);
    expect(performance.now() - t0).toBeLessThan(3000); // the window + the meter's patience (period + timeout + 0.1 s), not a hang
    expect(w.energyJ).toBeNull();
    expect(warnings.some((x) => /connection refused|request failed/.test(x))).toBe(true);
  });
});

describe("scpi meter on loopback", () => {
  /** A TCP responder: answers QUERY with the power in the meter's own format, one line. */
  async function responder(answer: (query: string) => string | null): Promise<{ port: number; server: TcpServer }> {
    const sockets = new Set<Socket>();
    const server = createTcpServer((s) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      let buf = "";
      s.setEncoding("latin1");
      s.on("data", (d: string) => {
        buf += d;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const a = answer(line);
          if (a !== null) s.write(a);
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
    );
    return { port: (server.address() as { port: number }).port, server };
  }

  it("constant and stepped power through MEAS:POW?", async () => {
    let stepAt = Number.POSITIVE_INFINITY;
    const power = stepped(12.5, 20, () => stepAt);
    const { port } = await responder((q) => (q === "MEAS:POW?" ? `${power(meterClockMs()) >= 0 ? "+" : ""}${power(meterClockMs()).toExponential(5).toUpperCase()}\r\n` : "ERR\n"));
    const { meter, warnings } = open(`scpi:127.0.0.1:${port}#MEAS:POW?`);
    await until(() => meter.view().samples.length >= 2);
    const flat = await windowOf(meter, 300);
    expect(flat.energyJ).toBeCloseTo((12.5 * (flat.span.toMs - flat.span.fromMs)) / 1000, 6);
    const fromMs = meterClockMs();
    stepAt = fromMs + 200;
    await sleep(450);
    const span = { fromMs, toMs: meterClockMs() };
    await meter.waitFor(span.toMs);
    const r = meterWindowEnergy(meter.view(), span, { periodMs: meter.periodMs() });
    const { ta, tb } = straddle(meter, 12.5, 20);
    expect(Math.abs((r.energyJ as number) - trueJ(span, 12.5, 20, stepAt))).toBeLessThanOrEqual((7.5 * 1.5 * (tb - ta)) / 1000 + 1e-6);
    expect(warnings).toEqual([]);
  });

  it("no answer and garbage answers are warnings and gaps; the connection is made again", async () => {
    let mode: "ok" | "silent" | "garbage" = "ok";
    const { port } = await responder(() => (mode === "silent" ? null : mode === "garbage" ? "OVERLOAD\n" : "1.5\n"));
    const { meter, warnings } = open(`scpi:127.0.0.1:${port}#MEAS:POW?`, { periodMs: 40, timeoutMs: 250 });
    await until(() => meter.view().samples.length >= 2);
    mode = "silent";
    await until(() => meter.view().gaps.length === 1);
    mode = "ok";
    await until(() => meter.view().gaps[0]?.toMs !== null);
    mode = "garbage";
    await until(() => meter.view().gaps.length === 2);
    mode = "ok";
    await until(() => meter.view().gaps[1]?.toMs !== null);
    await sleep(50);
    const w = await windowOf(meter, 200);
    expect(w.note).toBeNull();
    expect(w.energyJ).toBeCloseTo((1.5 * (w.span.toMs - w.span.fromMs)) / 1000, 6);
    expect(warnings.some((x) => /no answer within 250 ms/.test(x))).toBe(true);
    expect(warnings.some((x) => /unparsable answer "OVERLOAD"/.test(x))).toBe(true);
    expect(meter.view().samples.every((s) => s.watts === 1.5)).toBe(true);
  });
});

describe("cmd meter", () => {
  const dir = mkdtempSync(join(tmpdir(), "sw-meter-cmd-"));
  /** A node script as the meter command; its body sees `P(t)` and `out(line)`. */
  function script(name: string, body: string): string {
    const f = join(dir, `${name}.mjs`);
    writeFileSync(f, `const out = (l) => process.stdout.write(l + "\\n");\n${body}\n`);
    chmodSync(f, 0o755);
    return `cmd:'${process.execPath}' '${f}'`;
  }

  it("`W` lines, stamped on arrival: a constant 7 W is 7 W x t", async () => {
    const { meter, warnings } = open(script("constant", "setInterval(() => out('7'), 30);"), { periodMs: 30 });
    await until(() => meter.view().samples.length > 0); // node's start-up
    const w = await windowOf(meter, 300);
    expect(w.energyJ).toBeCloseTo((7 * (w.span.toMs - w.span.fromMs)) / 1000, 6);
    expect(warnings).toEqual([]);
  });

  it("`epoch_ms W` lines: a step from 2 W to 9 W within the sampling error", async () => {
    const stepAt = Date.now() + 1500; // the command's clock, after node's start-up
    const { meter } = open(script("stepped", `const T = ${stepAt}; setInterval(() => { const t = Date.now(); out(t + " " + (t < T ? 2 : 9)); }, 30);`), { periodMs: 30 });
    await until(() => meter.view().samples.length > 0);
    const offsetMs = Math.abs(Date.now() - meterClockMs()) + 1; // Date.now() is whole ms
    await sleep(Math.max(0, stepAt - Date.now() - 300));
    const w = await windowOf(meter, 600);
    const { ta, tb } = straddle(meter, 2, 9);
    expect(Math.abs((w.energyJ as number) - trueJ(w.span, 2, 9, stepAt))).toBeLessThanOrEqual((7 * ((tb - ta) / 2 + offsetMs)) / 1000 + 1e-6);
  });

  it("a timestamp going backwards, a garbage line and a negative reading: warnings and gaps, never negative energy", async () => {
    const body = `let i = 0; const t0 = Date.now();
setInterval(() => { i++; const t = Date.now();
  if (i === 8) out((t - 5000) + " 3");
  else if (i === 14) out("ERR: overcurrent");
  else if (i === 20) out(t + " -4");
  else out(t + " 3"); }, 25);`;
    const { meter, warnings } = open(script("faulty", body), { periodMs: 25 });
    await until(() => meter.view().samples.length >= 22);
    expect(warnings.some((w) => /timestamp went backwards/.test(w))).toBe(true);
    expect(warnings.some((w) => /unparsable line "ERR: overcurrent"/.test(w))).toBe(true);
    expect(warnings.some((w) => /negative power -4 W/.test(w))).toBe(true);
    expect(meter.view().gaps.length).toBe(3);
    expect(meter.view().samples.every((s) => s.watts === 3)).toBe(true);
    const s = meter.view().samples;
    const whole = meterWindowEnergy(meter.view(), { fromMs: (s[0] as { tMs: number }).tMs, toMs: (s[s.length - 1] as { tMs: number }).tMs }, { periodMs: meter.periodMs() });
    expect(whole.energyJ).toBeNull();
  });

  it("a command that dies: a warning with its exit code and last stderr line, waiting ends at once", async () => {
    const { meter, warnings } = open(script("dies", "let n = 0; const h = setInterval(() => { out('5'); if (++n === 5) { console.error('usb meter unplugged'); process.exit(3); } }, 20);"), { periodMs: 20 });
    await until(() => warnings.length > 0);
    expect(warnings.join("\n")).toMatch(/the command exited with code 3 \(usb meter unplugged\)/);
    const t0 = performance.now();
    await meter.waitFor(meterClockMs() + 10_000);
    expect(performance.now() - t0).toBeLessThan(100);
    const w = await windowOf(meter, 50);
    expect(w.energyJ).toBeNull();
  });
});

describe("csv meter", () => {
  const dir = mkdtempSync(join(tmpdir(), "sw-meter-csv-"));

  it("a recorded trace with a header, matched to windows afterwards: constant and stepped power", async () => {
    const f = join(dir, "trace.csv");
    const t0 = Math.floor(meterClockMs()) - 5000;
    const stepAt = t0 + 2050; // between the rows at 2000 and 2100
    const rows = ["epoch_ms,W"];
    for (let t = t0; t <= t0 + 6000; t += 100) rows.push(`${t},${t < stepAt ? 4 : 10}`);
    writeFileSync(f, `${rows.join("\n")}\n`);
    const { meter, warnings } = open(`csv:${f}`, { periodMs: 100 });
    const flat = { fromMs: t0 + 123.4, toMs: t0 + 1876.5 };
    await meter.waitFor(flat.toMs);
    expect(meterWindowEnergy(meter.view(), flat, { periodMs: meter.periodMs() }).energyJ).toBeCloseTo((4 * (flat.toMs - flat.fromMs)) / 1000, 6);
    const step = { fromMs: t0 + 1000, toMs: t0 + 3000 };
    const r = meterWindowEnergy(meter.view(), step, { periodMs: meter.periodMs() });
    expect(Math.abs((r.energyJ as number) - trueJ(step, 4, 10, stepAt))).toBeLessThanOrEqual((6 * 100) / 2 / 1000 + 1e-6);
    expect(meter.periodMs()).toBe(100);
    expect(warnings).toEqual([]);
  });

  it("a trace recorded during the run: waiting picks up rows appended later; a row out of order is a warning and a gap", async () => {
    const f = join(dir, "live.csv");
    writeFileSync(f, "");
    const { meter, warnings } = open(`csv:${f}`, { periodMs: 50 });
    const start = Date.now();
    const timer = setInterval(() => appendFileSync(f, `${Date.now()},2.5\n`), 50);
    closers.push(() => clearInterval(timer));
    await until(() => meter.view().samples.length >= 2);
    const w = await windowOf(meter, 400);
    expect(w.energyJ).toBeCloseTo((2.5 * (w.span.toMs - w.span.fromMs)) / 1000, 6);
    appendFileSync(f, `${start - 1000},2.5\nnonsense\n`);
    await meter.waitFor(meterClockMs() + 60);
    expect(warnings.some((x) => /timestamp went backwards/.test(x))).toBe(true);
    expect(meter.view().gaps.length).toBe(1); // the garbage row is in the same streak
  });

  it("a trace file that does not exist is a usage error when the meter opens", () => {
    expect(() => open(`csv:${join(dir, "nope.csv")}`)).toThrow(/is not a file/);
  });
});
