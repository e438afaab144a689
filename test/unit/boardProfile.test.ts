import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boardProfile, boardsDir } from "../../src/hw/boardProfile.js";

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
});
