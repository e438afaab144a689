import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { cycles, importGraph, layerViolations, type Graph } from "../fixtures/importGraph.js";

const src = resolve(import.meta.dirname, "../../src");

describe("layering of src/", () => {
  const g = importGraph(src);

  it("reads the real graph (dynamic and type-only imports included)", () => {
    expect(g.size).toBeGreaterThan(100);
    // a lazily loaded command module and a type-only import are both edges
    expect(g.get("cli/optimize.ts")).toContain("cli/optimizeLive.ts");
    expect(g.get("search/evaluator.ts")).toContain("contracts/paretoFile.ts");
  });

  it("has no import cycles", () => {
    expect(cycles(g)).toEqual([]);
  });

  it("imports only downwards: cli -> search|schedule|replay|report -> measure|predict -> runtime|transport|hw|model -> native -> base; contracts from anywhere", () => {
    expect(layerViolations(g)).toEqual([]);
  });

  it("creates onnxruntime sessions in src/runtime/sessionFactory.ts only (one session factory, the WebGPU probe included)", () => {
    const creates = (f: string): boolean => /InferenceSession\s*\.\s*create\s*\(/.test(readFileSync(join(src, f), "utf8"));
    expect([...g.keys()].filter(creates)).toEqual(["runtime/sessionFactory.ts"]);
  });

  it("the checks catch what they look for (planted cycles and upward imports)", () => {
    const planted: Graph = new Map([
      ["a/x.ts", ["a/y.ts"]],
      ["a/y.ts", ["a/z.ts"]],
      ["a/z.ts", ["a/x.ts"]],
      ["a/w.ts", ["a/w.ts"]],
      ["a/v.ts", ["a/x.ts"]],
    ]);
    expect(cycles(planted)).toEqual([["a/x.ts", "a/y.ts", "a/z.ts"], ["a/w.ts"]]);
    const upward: Graph = new Map([
      ["model/m.ts", ["measure/p.ts"]],
      ["measure/p.ts", []],
      ["predict/c.ts", ["measure/p.ts"]],
      ["schedule/s.ts", ["search/o.ts"]],
      ["search/o.ts", []],
      ["contracts/k.ts", ["model/m.ts"]],
      ["errors.ts", ["hw/h.ts"]],
      ["hw/h.ts", ["index.ts"]],
      ["index.ts", ["cli/c.ts"]],
      ["cli/c.ts", ["widgets/w.ts"]],
    ]);
    expect(layerViolations(upward)).toEqual([
      "cli/c.ts -> widgets/w.ts (directory widgets is not in the layering: add it to DESIGN.md and this check)",
      "contracts/k.ts -> model/m.ts (contracts import only the base)",
      "errors.ts -> hw/h.ts (the base imports nothing above it)",
      "hw/h.ts -> index.ts (nothing inside src imports the public API module)",
      "model/m.ts -> measure/p.ts (a lower layer imports a higher one)",
      "predict/c.ts -> measure/p.ts (predict may not import measure)",
      "schedule/s.ts -> search/o.ts (schedule may not import search)",
    ]);
  });
});
