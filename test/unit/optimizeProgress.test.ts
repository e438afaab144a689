import { describe, expect, it, vi } from "vitest";
import { optimizeProgress, parseObjectives } from "../../src/cli/optimizeOutput.js";
import { UsageError } from "../../src/errors.js";
import type { OptimizeProgress } from "../../src/search/optimize.js";

const step = (evaluations: number, budget = 50): OptimizeProgress => ({
  evaluations,
  budget,
  cached: Math.min(evaluations, 10),
  measured: Math.max(0, evaluations - 10),
  unevaluable: 2,
  hypervolume: 1.1234,
  elapsedMs: evaluations * 100,
  generation: 1,
  phase: "local",
  config: { split: 1 },
  result: null,
});

function sink() {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => out.push(s) > 0, isTTY: false } as unknown as NodeJS.WriteStream };
}

describe("optimize progress", () => {
  it("plain lines at every 10% of the budget, with cached/measured split and ETA", () => {
    const s = sink();
    const p = optimizeProgress({ stream: s.stream, tty: false, mode: "live" });
    for (let e = 1; e <= 50; e++) p.update(step(e));
    p.done();
    expect(s.out).toHaveLength(11);
    expect(s.out[0]).toBe("optimize: 1/50 evaluations (1 cached, 0 measured, 2 unevaluable), hypervolume 1.1234, 0.1 s, ETA 4.9 s\n");
    expect(s.out.at(-1)).toBe("optimize: 50/50 evaluations (10 cached, 40 measured, 2 unevaluable), hypervolume 1.1234, 5.0 s\n");
  });

  it("on a TTY one line rewritten in place with a bar, finished by a newline", () => {
    const s = sink();
    let clock = 0;
    vi.spyOn(performance, "now").mockImplementation(() => (clock += 1000));
    const p = optimizeProgress({ stream: s.stream, tty: true, mode: "replay" });
    for (let e = 1; e <= 5; e++) p.update(step(e, 10));
    p.done();
    vi.restoreAllMocks();
    expect(s.out.slice(0, -1).every((l) => l.startsWith("\r[") && l.endsWith("\x1b[K"))).toBe(true);
    expect(s.out[1]).toContain("[####................] optimize: 2/10 evaluations (2 not in the pool)");
    expect(s.out.at(-1)).toMatch(/^\roptimize: 5\/10 .*\x1b\[K\n$/);
  });

  it("--objectives is a checked comma-separated list", () => {
    expect(parseObjectives("latency, energy,accuracy")).toEqual(["latency", "energy", "accuracy"]);
    expect(() => parseObjectives("latency,cost")).toThrow(UsageError);
    expect(() => parseObjectives("energy,energy")).toThrow(/twice/);
  });
});
