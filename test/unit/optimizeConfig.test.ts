import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { optimizeConfigAsOptions, readOptimizeConfig } from "../../src/contracts/optimizeConfig.js";
import { ProfilerOptions } from "../../src/cli/profilerOptions.js";

describe("optimize --config files", () => {
  it("the annotated example in configs/ is valid", () => {
    const c = readOptimizeConfig(resolve(import.meta.dirname, "../../configs/optimize.example.yaml"));
    expect(c.model).toBe("paddle:cls");
    expect(c.dimensions?.codec).toEqual(["raw", "fp16", "int8"]);
    expect(c.objectives).toEqual(["latency", "energy", "accuracy"]);
    expect(c.constraints).toEqual({ maxLatencyMs: 100, minAccuracy: 0.95 });
  });

  it("inputValues and inputFile become the command's --input-values and --input-file (files relative to the YAML file)", () => {
    const d = mkdtempSync(join(tmpdir(), "sw-cfg-"));
    const f = join(d, "o.yaml");
    writeFileSync(f, "model: m.onnx\ninputShape: { x: [1, 4] }\ninputValues: { mode: [16000], gain: 0.5 }\ninputFile: [sample.json, 'h0=state/h0.npy']\n");
    const o = optimizeConfigAsOptions(readOptimizeConfig(f), d);
    expect([o.inputShape, o.inputValues, o.inputFile]).toEqual([["x=1,4"], ["mode=16000", "gain=0.5"], [join(d, "sample.json"), `h0=${join(d, "state/h0.npy")}`]]);
    // the options the profiler's command validates
    expect(ProfilerOptions.parse(o)).toMatchObject({ inputValues: ["mode=16000", "gain=0.5"], inputFile: [join(d, "sample.json"), `h0=${join(d, "state/h0.npy")}`] });
  });

  it("unknown keys, wrong types and bad YAML are one-line errors naming the field", () => {
    const d = mkdtempSync(join(tmpdir(), "sw-cfg-"));
    const cases: Array<[string, RegExp]> = [
      ["model: x\nbudgett: 3\n", /budgett/],
      ["model: x\nbudget: -1\n", /budget/],
      ["model: x\ndimensions: { codec: [] }\n", /dimensions\.codec/],
      ["model: [unclosed\n", /not valid YAML/],
      ["budget: 3\n", /model/],
      ["model: x\ninputValues: { mode: [one] }\n", /inputValues\.mode/],
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
