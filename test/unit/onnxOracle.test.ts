/**
 * An independent check of head/tail structure: the ONNX project's own checker and
 * extract_model (Debian's python3-onnx, onnx 1.12, IR <= 8; .ci/run installs it). For every cut
 * of the hand-built models, head and tail pass onnx.checker with full shape inference, and each
 * part computes exactly the tensors onnx.utils.extract_model keeps for the same inputs and
 * outputs (constant-only subgraphs included; a Shape folded to a Constant is matched by its output).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelProto } from "onnx-buf";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { parseModel, saveModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { branching, bytesOf, constantSubgraphs, recurrent, residual, storageFields, vi } from "../fixtures/onnxGraphs.js";

const dir = mkdtempSync(join(tmpdir(), "sw-oracle-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// argv: full.onnx, then per part: part.onnx, inputs extract_model may start from (comma list), outputs (comma list)
const ORACLE = `
import json, sys, onnx, onnx.checker, onnx.utils
full = sys.argv[1]
out = []
for i in range(2, len(sys.argv), 3):
    part, ins, outs = sys.argv[i], sys.argv[i + 1].split(","), sys.argv[i + 2].split(",")
    m = onnx.load(part)
    try:
        onnx.checker.check_model(m, full_check=True)
    except Exception as e:
        raise SystemExit(part + ": " + str(e))
    # a tensor passed straight through (an input that is also an output) needs no node; extract_model cannot name it
    computed = [o for o in outs if o not in ins]
    extracted = []
    if computed:
        ref = part + ".extracted.onnx"
        onnx.utils.extract_model(full, ref, ins, computed)
        extracted = sorted(o for n in onnx.load(ref).graph.node for o in n.output)
    out.append({"part": part, "ours": sorted(o for n in m.graph.node for o in n.output), "extracted": extracted})
print(json.dumps(out))
`;

/** Debian's interpreter: python3-onnx installs for it (a pyenv or venv python3 on PATH would not see it) */
const PYTHON = "/usr/bin/python3";

function python(args: string[]): string {
  const r = spawnSync(PYTHON, ["-c", ORACLE, ...args], { encoding: "utf8", timeout: 120_000 });
  if (r.error !== undefined || r.status !== 0) {
    if (/No module named 'onnx'/.test(r.stderr ?? "")) throw new Error("python3-onnx is missing: apt-get install -y python3-onnx (.ci/run installs it)");
    throw new Error(`the onnx oracle failed: ${r.error?.message ?? r.stderr}`);
  }
  return r.stdout;
}

describe("head and tail against onnx.checker and onnx.utils.extract_model (python3-onnx)", () => {
  it.each([
    ["residual", residual],
    ["branching (a Constant weight)", branching],
    ["every TensorProto storage field", storageFields],
    ["constant-only subgraphs feeding late consumers", constantSubgraphs],
    ["recurrent state inputs with the batch in dim 1 (LSTM)", () => recurrent()],
  ])("%s: every part passes the checker and holds what extract_model keeps", async (name, build) => {
    const m = build();
    const a = await analyzeModel(parseModel(bytesOf(m), `${name}.onnx`));
    // extract_model types the parts' inputs and outputs from value_info, which these models leave
    // out (shapes come from onnxruntime); declare the measured ones (types only: which nodes a
    // part needs is extract_model's own finding)
    const declared = new Set([...(m.graph?.input ?? []), ...(m.graph?.output ?? []), ...(m.graph?.valueInfo ?? [])].map((v) => v.name));
    for (const s of a.shapes.values()) if (!declared.has(s.name)) m.graph?.valueInfo.push(vi(s.name, s.shape.map((d, i) => (s.batchDims[i] === true ? "N" : d)), s.elemType));
    const full = join(dir, "full.onnx");
    writeFileSync(full, bytesOf(m));
    const args = [full];
    // the first, the last and up to 6 cuts between (each part costs a python extract_model)
    const step = Math.max(1, Math.ceil(a.cuts.length / 8));
    for (const c of a.cuts.filter((x, i) => i % step === 0 || i === a.cuts.length - 1)) {
      const { head, tail } = splitModel(a, c.index);
      const crossing = c.tensors.map((t) => t.name).join(",");
      const write = (p: ModelProto | null, file: string, ins: string, outs: string) => {
        if (p === null) return;
        saveModel(p, join(dir, file));
        args.push(join(dir, file), ins, outs);
      };
      write(head, `head${c.index}.onnx`, a.graph.inputs.join(","), crossing);
      // the graph inputs too: extract_model keeps a Shape(x) that splitwatt folded to a constant, and needs x for it
      write(tail, `tail${c.index}.onnx`, [...new Set([...c.tensors.map((t) => t.name), ...a.graph.inputs])].join(","), a.graph.outputs.join(","));
    }
    const results = JSON.parse(python(args)) as Array<{ part: string; ours: string[]; extracted: string[] }>;
    expect(results.length).toBeGreaterThanOrEqual(Math.min(8, 2 * a.cuts.length - 2));
    for (const r of results) expect([r.part, r.ours]).toEqual([r.part, r.extracted]);
  });
});
