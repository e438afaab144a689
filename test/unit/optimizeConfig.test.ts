import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { readOptimizeConfig } from "../../src/contracts/optimizeConfig.js";

describe("optimize --config files", () => {
  it("the annotated example in configs/ is valid", () => {
    const c = readOptimizeConfig(resolve(import.meta.dirname, "../../configs/optimize.example.yaml"));
    expect(c.model).toBe("paddle:cls");
    expect(c.dimensions?.codec).toEqual(["raw", "fp16", "int8"]);
    expect(c.objectives).toEqual(["latency", "energy", "accuracy"]);
    expect(c.constraints).toEqual({ maxLatencyMs: 100, minAccuracy: 0.95 });
  });

  it("unknown keys, wrong types and bad YAML are one-line errors naming the field", () => {
    const d = mkdtempSync(join(tmpdir(), "sw-cfg-"));
    const cases: Array<[string, RegExp]> = [
      ["model: x\nbudgett: 3\n", /budgett/],
      ["model: x\nbudget: -1\n", /budget/],
      ["model: x\ndimensions: { codec: [] }\n", /dimensions\.codec/],
      ["model: [unclosed\n", /not valid YAML/],
      ["budget: 3\n", /model/],
    ];
    cases.forEach(([text, re], i) => {
      const f = join(d, `c${i}.yaml`);
      writeFileSync(f, text);
      let err: Error | null = null;
      try {
        readOptimizeConfig(f);
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toMatch(re);
      expect(err?.message).not.toContain("\n");
      expect((err as { exitCode?: number } | null)?.exitCode).toBe(2);
    });
  });
});
