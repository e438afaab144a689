/**
 * An external meter as EnergyMeter's device source: request windows marked and measured as the
 * profiler does, finished by settle(), against a fake HTTP meter on loopback.
 */
import { createServer, type ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { EnergyMeter, type EnergyWindow } from "../../src/hw/energyMeter.js";
import { meterClockMs } from "../../src/hw/meters/meter.js";
import { bareMachine } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** A fake meter answering {"w": power(now)}; `hang` holds requests unanswered. */
async function fakeMeter(power: (tMs: number) => number) {
  const state = { hang: false, requests: 0 };
  const held: ServerResponse[] = [];
  const server = createServer((_req, res) => {
    state.requests++;
    if (state.hang) held.push(res);
    else res.end(JSON.stringify({ w: power(meterClockMs()) }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(
    () =>
      new Promise<void>((r) => {
        held.forEach((x) => x.destroy());
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { spec: `http:http://127.0.0.1:${(server.address() as { port: number }).port}/#w`, state };
}

async function energyMeter(spec: string, board = "generic-x86", timeoutMs = 1000) {
  const t = FakeTree.create();
  bareMachine(t);
  const warnings: string[] = [];
  const m = await EnergyMeter.open({
    sysfsRoot: t.sysfsRoot,
    procRoot: t.procRoot,
    devRoot: t.devRoot,
    nvmlLib: "/nonexistent/libnvidia-ml.so",
    board,
    meter: { spec, periodMs: 40, timeoutMs },
    onWarning: (w) => warnings.push(w),
  });
  cleanup.push(async () => {
    await m.close();
    t.cleanup();
  });
  m.start();
  await m.ready();
  return { m, warnings };
}

const meterReading = (w: EnergyWindow) => w.sources.find((s) => s.kind === "meter");

describe("EnergyMeter with an external meter", () => {
  it("is the device source, labelled with its spec; a long window is its trapezoid integral once settled", async () => {
    const { spec } = await fakeMeter(() => 4);
    const { m, warnings } = await energyMeter(spec, "raspberry-pi-4");
    expect(m.device.map((d) => d.id)).toEqual([`meter:${spec}`]);
    expect(m.estimated).toBe(false);
    await sleep(60);
    const { window } = await m.measure(() => sleep(300));
    expect(window.source).toBe("meter");
    expect(window.deviceComplete).toBe(false); // the reading after its end is not in yet
    expect(meterReading(window)?.note).toMatch(/no meter reading at or after the window's end/);
    const [w] = await m.settle([window]);
    expect(w?.deviceComplete).toBe(true);
    expect(meterReading(w as EnergyWindow)?.method).toBe("trapezoid");
    expect(w?.deviceJ).toBeCloseTo((4 * ((w as EnergyWindow).span.toMs - (w as EnergyWindow).span.fromMs)) / 1000, 6);
    // the estimate is not used, so a board profile for another machine is no concern
    expect(warnings).toEqual([]);
    expect(m.warnings.filter((x) => /board profile/.test(x))).toEqual([]);
  });

  it("short request windows get the run's mean power x their time, and say so", async () => {
    // 2 W, then 6 W from 300 ms into the run
    let stepAt = Number.POSITIVE_INFINITY;
    const { spec } = await fakeMeter((t) => (t < stepAt ? 2 : 6));
    const { m } = await energyMeter(spec);
    await sleep(60);
    const runFrom = meterClockMs();
    stepAt = runFrom + 300;
    const windows: EnergyWindow[] = [];
    while (meterClockMs() - runFrom < 600) {
      const mark = m.mark();
      const end = performance.now() + 3;
      while (performance.now() < end); // a 3 ms "request"
      windows.push(m.since(mark));
      await sleep(10);
    }
    const settled = await m.settle(windows);
    const run = { fromMs: settled[0]?.span.fromMs as number, toMs: settled[settled.length - 1]?.span.toMs as number };
    expect(settled.filter((w) => !w.deviceComplete || meterReading(w)?.method !== "run-mean").map((w) => meterReading(w)?.note)).toEqual([]);
    expect(meterReading(settled[0] as EnergyWindow)?.note).toMatch(/shorter than 3 meter periods.*the run's mean power/);
    // every window: the same mean power; that power lies between 2 and 6 W, near the time-weighted mean
    const powers = settled.map((w) => w.deviceJ / ((w.span.toMs - w.span.fromMs) / 1000));
    for (const p of powers) expect(p).toBeCloseTo(powers[0] as number, 6);
    const trueMeanW = (2 * (stepAt - run.fromMs) + 6 * (run.toMs - stepAt)) / (run.toMs - run.fromMs);
    const samples = m.meter?.view().samples ?? [];
    const stepIdx = samples.findIndex((s) => s.watts === 6);
    const dt = (samples[stepIdx]?.tMs as number) - (samples[stepIdx - 1]?.tMs as number);
    // the bound of meterEnergy.ts for one step, spread over the run
    expect(Math.abs((powers[0] as number) - trueMeanW)).toBeLessThanOrEqual((4 * 1.5 * dt) / (run.toMs - run.fromMs) + 1e-6);
  });

  it("a meter that stops answering: windows across the gap have no figure (not zero), a warning as it happens, no crash", async () => {
    const { spec, state } = await fakeMeter(() => 3);
    const { m, warnings } = await energyMeter(spec, "generic-x86", 120);
    await sleep(60);
    const before = m.since(m.mark());
    await sleep(100);
    const mark = m.mark();
    state.hang = true;
    await sleep(300);
    const across = m.since(mark);
    state.hang = false;
    await sleep(300);
    const [b, a] = await m.settle([before, across]);
    expect(warnings[0]).toMatch(/no answer within 120 ms/);
    expect(m.warnings).toContain(warnings[0]);
    expect(a?.deviceComplete).toBe(false);
    expect(a?.deviceJ).toBe(0);
    expect(meterReading(a as EnergyWindow)).toMatchObject({ energyJ: null, note: expect.stringMatching(/gap/) });
    expect(b?.deviceComplete).toBe(true);
  });

  it("close() stops the meter it opened", async () => {
    const { spec, state } = await fakeMeter(() => 1);
    const { m } = await energyMeter(spec);
    await sleep(100);
    await m.close();
    const n = state.requests;
    await sleep(150);
    expect(state.requests).toBe(n);
  });
});
