import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boardProfile, boardsDir, listBoardProfiles } from "../../src/hw/boardProfile.js";

describe("board profiles", () => {
  it("every shipped profile validates and cites a source", () => {
    const names = readdirSync(boardsDir()).filter((f) => f.endsWith(".json"));
    expect(names.length).toBeGreaterThanOrEqual(2);
    for (const f of names) {
      const p = boardProfile(f.replace(/\.json$/, ""));
      expect(p.power.source.length).toBeGreaterThan(10);
      expect(p.power.maxW).toBeGreaterThanOrEqual(p.power.idleW);
    }
  });
  it("unknown names and broken files give one-line usage errors", () => {
    expect(() => boardProfile("no-such-board")).toThrow(/not found/);
    const dir = mkdtempSync(join(tmpdir(), "sw-board-"));
    writeFileSync(join(dir, "bad.json"), "{ nope");
    expect(() => boardProfile(join(dir, "bad.json"))).toThrow(/not valid JSON/);
    writeFileSync(join(dir, "neg.json"), JSON.stringify({ name: "x", power: { idleW: 5, maxW: 2, measured: false, source: "made up for a test" } }));
    expect(() => boardProfile(join(dir, "neg.json"))).toThrow(/maxW is below/);
  });
  it("ships the four boards; the frequency-aware ones list their DVFS steps up to cpu.maxMHz and say whether each figure was measured", () => {
    expect(listBoardProfiles()).toEqual(expect.arrayContaining(["raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano", "generic-x86"]));
    for (const name of ["raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano"]) {
      const p = boardProfile(name);
      expect(p.cpu?.frequenciesMHz.at(-1)).toBe(p.cpu?.maxMHz);
      expect(p.cpu?.source?.length ?? 0).toBeGreaterThan(10);
      expect(p.power.model?.source.length ?? 0).toBeGreaterThan(10);
      expect(typeof p.power.model?.measured).toBe("boolean");
    }
    expect(boardProfile("raspberry-pi-4").cpu).toMatchObject({ cores: 4, maxMHz: 1500 });
    expect(boardProfile("raspberry-pi-5").cpu).toMatchObject({ cores: 4, maxMHz: 2400 });
    expect(boardProfile("jetson-orin-nano").power.measured).toBe(false);
    expect(() => boardProfile("no-such-board")).toThrow(/raspberry-pi-5/);
  });
  it("inconsistent cpu blocks and frequency tables are refused with the reason", () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-board-"));
    const base = { name: "x", power: { idleW: 2, maxW: 6, measured: false, source: "made up for a test" } };
    const write = (f: string, data: unknown): string => {
      writeFileSync(join(dir, f), JSON.stringify(data));
      return join(dir, f);
    };
    expect(() => boardProfile(write("order.json", { ...base, cpu: { cores: 4, frequenciesMHz: [1000, 600], maxMHz: 600 } }))).toThrow(/strictly ascending/);
    expect(() => boardProfile(write("max.json", { ...base, cpu: { cores: 4, frequenciesMHz: [600, 1000], maxMHz: 1500 } }))).toThrow(/largest of cpu.frequenciesMHz/);
    const table = (fullLoadW: unknown): unknown => ({ ...base, cpu: { cores: 4, frequenciesMHz: [600, 1000], maxMHz: 1000 }, power: { ...base.power, model: { kind: "util-freq-table", fullLoadW, measured: false, source: "made up" } } });
    expect(() => boardProfile(write("t1.json", table([{ freqMHz: 600, watts: 3 }, { freqMHz: 1000, watts: 5 }])))).toThrow(/cpu.maxMHz \(1000\) at power.maxW \(6\)/);
    expect(() => boardProfile(write("t2.json", table([{ freqMHz: 600, watts: 7 }, { freqMHz: 1000, watts: 6 }])))).toThrow(/must not fall/);
    expect(boardProfile(write("ok.json", table([{ freqMHz: 600, watts: 3 }, { freqMHz: 1000, watts: 6 }]))).power.model?.kind).toBe("util-freq-table");
    expect(() => boardProfile(write("kind.json", { ...base, power: { ...base.power, model: { kind: "cubic", alpha: 3, measured: false, source: "x" } } }))).toThrow(/power.model/);
  });
});
