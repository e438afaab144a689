import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { cliNumber } from "../../src/cli/cliNumber.js";

describe("cliNumber: numeric command-line options", () => {
  const cut = z.object({ cut: cliNumber(z.number().int().min(0)), hold: cliNumber(z.number().min(0)).optional(), port: cliNumber(z.number().int()).default(8000) });

  it("an empty or blank string is an error, never 0 (z.coerce.number() makes it 0)", () => {
    for (const v of ["", " ", "\t", "abc", "1,5"]) {
      const r = cut.safeParse({ cut: v });
      expect(r.success, JSON.stringify(v)).toBe(false);
      expect(r.error?.issues[0]?.message).toBe(`expected a number, got ${JSON.stringify(v)}`);
    }
    expect(z.coerce.number().parse("")).toBe(0); // the pitfall itself
  });

  it("numeric strings and numbers parse as before; absent options take their default or stay undefined", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e9 }), (n) => {
        expect(cut.parse({ cut: String(n) })).toEqual({ cut: n, port: 8000 });
        expect(cut.parse({ cut: n, hold: `${n}.5`, port: "1" })).toEqual({ cut: n, hold: n + 0.5, port: 1 });
      }),
    );
    expect(cut.safeParse({ cut: "-1" }).success).toBe(false);
    expect(cut.safeParse({ cut: "1.5" }).success).toBe(false);
  });

  it("no command uses z.coerce.number() any more", () => {
    const root = resolve(import.meta.dirname, "../../src");
    const offenders: string[] = [];
    const walk = (d: string): void => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (p.endsWith(".ts") && !p.endsWith("cliNumber.ts") && readFileSync(p, "utf8").includes("z.coerce.number(")) offenders.push(p);
      }
    };
    walk(root);
    expect(offenders).toEqual([]);
  });
});
