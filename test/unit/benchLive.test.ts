/**
 * The pure parts of `splitwatt bench --daemon`: the order of a request's copies (a Williams
 * design), reading the daemon's answer parameters (as the daemon's own outcomeParameters writes
 * them), the energy source label, the tallies' handling of unknown energy and configurations
 * the front lacks, and the live results document (schema and summary lines).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { checkBenchResults, type LiveRun } from "../../src/contracts/benchResults.js";
import { canonicalConfigKey } from "../../src/contracts/measurement.js";
import { MalformedError } from "../../src/errors.js";
import { liveAnswer, liveSourceLabel } from "../../src/replay/liveAnswer.js";
import { liveOrder, liveOrderCycle } from "../../src/replay/liveOrder.js";
import { StrategyTally } from "../../src/replay/strategyTally.js";
import { Timeline } from "../../src/replay/timeline.js";
import { runLine, sourceLines, summaryMarkdown } from "../../src/report/summaryTable.js";
import { outcomeParameters, type Outcome } from "../../src/schedule/daemon/outcome.js";
import { tinyResults } from "../fixtures/benchFixtures.js";

describe("liveOrder: a Williams design over the strategies", () => {
  it("over any cycle of requests (from any start): each row a permutation, each strategy at each position and right after each other one equally often", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.nat(1000), (S, start) => {
        const cycle = liveOrderCycle(S);
        const position = Array.from({ length: S }, () => new Array<number>(S).fill(0));
        const after = Array.from({ length: S }, () => new Array<number>(S).fill(0));
        for (let i = start; i < start + cycle; i++) {
          const row = liveOrder(i, S);
          expect([...row].sort((a, b) => a - b)).toEqual(Array.from({ length: S }, (_, k) => k));
          row.forEach((s, p) => position[s]![p]!++);
          for (let p = 1; p < S; p++) after[row[p - 1]!]![row[p]!]!++;
        }
        const perPosition = cycle / S;
        for (const counts of position) expect(counts).toEqual(new Array(S).fill(perPosition));
        const perPair = S === 1 ? 0 : (cycle * (S - 1)) / (S * (S - 1));
        after.forEach((counts, a) => counts.forEach((n, b) => expect(n).toBe(a === b ? 0 : perPair)));
      }),
    );
  });

  it("a plain rotation would not balance the carry-over (the check above can fail): for 4 strategies, strategy 1 would always follow 0", () => {
    const rotation = (i: number, S: number) => Array.from({ length: S }, (_, k) => (k + i) % S);
    const follows = (order: (i: number, S: number) => number[]) => {
      let n = 0;
      for (let i = 0; i < 4; i++) {
        const row = order(i, 4);
        for (let p = 1; p < 4; p++) if (row[p - 1] === 0 && row[p] === 1) n++;
      }
      return n;
    };
    expect(follows(rotation)).toBe(3);
    expect(follows(liveOrder)).toBe(1);
    expect(liveOrder(0, 1)).toEqual([0]);
    expect(() => liveOrder(0, 0)).toThrow(RangeError);
  });
});

function outcome(over: Partial<Outcome> = {}): Outcome {
  const config = { split: 3, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" };
  return {
    id: 7,
    policy: "splitwatt",
    config,
    configKey: canonicalConfigKey(config),
    reason: "cheapest within the deadline",
    feasible: true,
    probability: 0.995,
    predicted: { latencyMs: 12, breakdownMs: { head: 1, encode: 0, transfer: 9, server: 2, decode: 0 }, energyJ: { device: 0.02, network: 0.01, server: 0.005, total: 0.035 }, perPart: true },
    deadlineMs: 50,
    deadlineMet: true,
    latencyMs: 13.25,
    queueMs: 0.1,
    breakdownMs: { head: 1, encode: 0.1, transfer: 9.5, server: 2.5, decode: 0.05 },
    frequency: { controlled: false, mhz: null, switched: false, switchMs: 0 },
    gpu: { controlled: false, mhz: null, switched: false, switchMs: 0 },
    accelerator: { target: "cpu", switched: false, switchMs: null },
    predictedSwitch: null,
    fallback: null,
    energy: { energyJ: { device: 0.021, network: 0.0112, server: 0.0049, total: 0.0371 }, source: { device: "estimate", network: "estimate", server: "rapl" }, devicePending: false },
    bytesSent: 16384,
    outputs: {},
    ...over,
  };
}

describe("liveAnswer: the daemon's answer parameters read back", () => {
  it("reads what the daemon's outcomeParameters writes", () => {
    const a = liveAnswer(outcomeParameters(outcome()));
    expect(a).toEqual({
      config: outcome().config,
      configKey: "codec=raw;cpuFreqMHz=current;deviceTarget=cpu;serverTarget=cpu;split=3",
      latencyMs: 13.25,
      deadlineMet: true,
      feasible: true,
      fallback: false,
      energyJ: 0.0371,
      deviceJ: 0.021,
      networkJ: 0.0112,
      serverJ: 0.0049,
      sources: ["estimate", "estimate", "rapl"],
    });
    const fb = liveAnswer(outcomeParameters(outcome({ fallback: { reason: "server-timeout", detail: "no answer", from: null }, feasible: false, deadlineMet: false })));
    expect([fb.fallback, fb.feasible, fb.deadlineMet]).toEqual([true, false, false]);
  });

  it("a device figure still pending (an external meter) is NaN, the total too; the source is kept", () => {
    const a = liveAnswer(outcomeParameters(outcome({ energy: { energyJ: { device: null, network: 0.01, server: 0.005, total: null }, source: { device: "meter", network: "estimate", server: "estimate" }, devicePending: true } })));
    expect([a.energyJ, a.deviceJ, a.networkJ]).toEqual([Number.NaN, Number.NaN, 0.01]);
    expect(a.sources).toEqual(["meter", "estimate", "estimate"]);
  });

  it("refuses what a splitwatt daemon does not send, naming it", () => {
    expect(() => liveAnswer({ server_time_ms: 3 })).toThrow(MalformedError);
    expect(() => liveAnswer({ server_time_ms: 3 })).toThrow(/lack what a splitwatt daemon sends \(config: .*is the URL a splitwatt daemon\?/);
    const p = outcomeParameters(outcome());
    expect(() => liveAnswer({ ...p, config: "not json" })).toThrow(/config parameter is not a configuration object/);
    expect(() => liveAnswer({ ...p, config_key: "split=4" })).toThrow(/config_key split=4 is not its config's key/);
  });

  it("the source label: estimate as soon as one part is modelled (estimate, node accounting), measured when every part is a counter or meter", () => {
    expect(liveSourceLabel(["rapl", "meter"])).toBe("measured");
    expect(liveSourceLabel(["rapl", "estimate"])).toBe("estimate");
    expect(liveSourceLabel(["hwmon", "node"])).toBe("estimate");
    expect(liveSourceLabel([])).toBe("estimate");
  });
});

describe("tallies of a live run", () => {
  it("a request without an energy figure counts in every figure but the energy ones; a configuration past the list grows it", () => {
    const t = new StrategyTally("s", 2);
    t.add(50, 0, 10, 1, 0.5, 0.3, 0.2, true);
    t.add(50, 1, 60, Number.NaN, Number.NaN, 0.3, 0.2, true);
    t.add(50, 4, 20, 3, 2, 0.6, 0.4, false);
    expect(t.energyUnknown).toBe(1);
    const r = t.result(["a", "b", "c", "d", "e"], "estimate", ["estimate"]);
    expect(r).toMatchObject({ requests: 3, meanEnergyJ: 2, medianEnergyJ: 2, missed: 1, infeasible: 1, decisions: { a: 1, b: 1, e: 1 } });
    expect(r.energyByPartJ).toEqual({ device: null, network: expect.closeTo(0.4, 9), server: expect.closeTo(0.8 / 3, 9) });
    expect(r.meanLatencyMs).toBeCloseTo(30, 9);
    const tl = new Timeline(["s"], { widthMs: 10 });
    tl.add(1, 0, 0, 10, Number.NaN, false, null);
    tl.add(2, 0, 0, 10, 4, false, null);
    tl.add(15, 0, 0, 10, Number.NaN, false, null);
    expect(tl.rows(["a"]).map((x) => [x.startMs, x.requests, x.meanEnergyJ])).toEqual([
      [0, 2, 4],
      [10, 1, null],
    ]);
  });
});

describe("the live results document", () => {
  const live: LiveRun = {
    link: { kind: "app", label: "emulated (app): token bucket in the client, 20 Mbit/s up / 20 Mbit/s down" },
    deviceEnergy: "estimate (board generic-x86 power model x this process's CPU utilisation)",
    pacing: "arrival",
    order: "Williams design",
    plannedRequests: 300,
    startedRequests: 200,
    maxLagMs: 3,
    interrupted: true,
    errors: [{ strategy: "splitwatt", status: 429, count: 2, message: "the device queue is full" }],
    energyUnknown: {},
    rateChanges: [{ timeMs: 0, bandwidthMbps: 20, rttMs: null }],
  };

  it("a live run must say how it was made; with it, the summary names the link, the device energy source and the interruption", async () => {
    const replay = await tinyResults({ strategies: ["cloud-only", "splitwatt"] });
    const doc = { ...replay, mode: "live" as const, pool: null, daemon: { url: "http://127.0.0.1:8001", inProcess: true } };
    expect(checkBenchResults(JSON.parse(JSON.stringify(doc)))).toEqual({ ok: false, reason: "live: a live run must say how it was made (link, energy source, pacing)" });
    const withLive = { ...doc, live };
    expect(checkBenchResults(JSON.parse(JSON.stringify(withLive)))).toMatchObject({ ok: true });
    expect(checkBenchResults(JSON.parse(JSON.stringify({ ...withLive, live: { ...live, pacing: "fast" } })))).toMatchObject({ ok: false, reason: expect.stringMatching(/^live\.pacing/) });
    // a replay document written before `live` existed still reads
    expect(checkBenchResults(JSON.parse(JSON.stringify(replay)))).toMatchObject({ ok: true });
    expect(sourceLines(withLive).slice(-2)).toEqual([`link: ${live.link.label}`, `device energy: ${live.deviceEnergy}`]);
    expect(runLine(withLive)).toMatch(/daemon http:\/\/127\.0\.0\.1:8001 \(in-process\), paced at the arrival times, INTERRUPTED after 200 of 300 requests/);
    expect(summaryMarkdown(withLive)).toContain("- link: emulated (app)");
    expect(sourceLines(replay).some((l) => l.startsWith("link:"))).toBe(false);
  });
});
