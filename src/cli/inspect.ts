import { Command } from "commander";
import { z } from "zod";
import type { ModelAnalysis } from "../model/cutPoints.js";
import { addModelOptions, ModelOptions } from "./modelOptions.js";
import { run } from "./run.js";

const InspectOptions = ModelOptions.extend({ json: z.boolean().default(false) });

/** The stable `inspect --json` shape (version 1). */
export function inspectJson(spec: string, a: ModelAnalysis) {
  const tensor = (name: string) => {
    const s = a.shapes.get(name);
    return { name, shape: s?.shape ?? [], dtype: s?.dtype ?? "unknown", bytes: s?.bytes ?? 0 };
  };
  return {
    version: 1,
    model: spec,
    path: a.model.path,
    sha256: a.model.sha256,
    opset: a.model.opset,
    computeNodes: a.graph.compute.length,
    constantOnlyNodes: a.graph.constantOnly.length,
    totalMacs: a.totalMacs,
    batch: a.batch,
    inputValues: Object.keys(a.inputValues),
    inputs: a.graph.inputs.map(tensor),
    outputs: a.graph.outputs.map(tensor),
    subgraphs: a.graph.subgraphs,
    notes: notes(a),
    cuts: a.cuts.map((c) => ({
      index: c.index,
      position: c.position,
      node: c.node,
      tensors: c.tensors,
      bytes: c.bytes,
      headMacs: c.headMacs,
      naturalBottleneck: c.naturalBottleneck,
    })),
  };
}

/** What the cut list does not show: compute inside If/Loop/Scan bodies, which no cut enters. */
function notes(a: ModelAnalysis): string[] {
  const inner = a.graph.subgraphs.reduce((n, s) => n + s.nodes, 0);
  if (inner === 0) return [];
  const total = a.graph.compute.length + a.graph.constantOnly.length + inner;
  const where = a.graph.subgraphs.map((s) => `${s.op} ${s.node || "(unnamed)"}: ${s.nodes} nodes`).join(", ");
  return [
    `${inner} of this model's ${total} nodes sit inside If/Loop/Scan bodies (${where}); cuts inside them are out of scope: each such node runs whole on one side, so only cuts around it are listed`,
  ];
}

function human(spec: string, a: ModelAnalysis): string {
  const lines: string[] = [];
  const kib = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(2)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  lines.push(`${spec}  (${a.model.path})`);
  const constantOnly = a.graph.constantOnly.length > 0 ? ` (+${a.graph.constantOnly.length} constant-only, copied into the part that reads them)` : "";
  const input = (i: string) => {
    const s = a.shapes.get(i);
    return `${i}[${s?.shape.join("x")}]${s !== undefined && s.dtype !== "float32" ? ` ${s.dtype}` : ""}`;
  };
  lines.push(`opset ${a.model.opset}, ${a.graph.compute.length} compute nodes${constantOnly}, ${(a.totalMacs / 1e6).toFixed(1)} M MACs at batch 1; inputs ${a.graph.inputs.map(input).join(", ")}`);
  if (a.batch !== 1) lines.push(`shapes measured at batch ${a.batch} (--input-shape); shapes, bytes and MACs are per item`);
  const given = Object.keys(a.inputValues);
  if (given.length > 0) lines.push(`shapes measured with the given values of ${given.join(", ")} (zeros elsewhere)`);
  for (const n of notes(a)) lines.push(`note: ${n}`);
  lines.push("");
  lines.push(" cut  node                                  tensors                       bytes        head MACs  ");
  for (const c of a.cuts) {
    const node = c.node === null ? "(input: all on server)" : `${c.node.op} ${c.node.name}`.slice(0, 36);
    const tensors = c.tensors.map((t) => `[${t.shape.join("x")}]`).join(" ").slice(0, 28);
    const share = a.totalMacs > 0 ? `${((100 * c.headMacs) / a.totalMacs).toFixed(0)}%` : "-";
    lines.push(
      `${String(c.index).padStart(4)}  ${node.padEnd(36)}  ${tensors.padEnd(28)}  ${kib(c.bytes).padStart(10)}  ${share.padStart(5)}${c.naturalBottleneck ? "  bottleneck" : ""}`,
    );
  }
  lines.push("", "cut 0 runs everything on the server; the last cut runs everything on the device. 'bottleneck': fewer bytes than the input and every earlier cut.");
  return `${lines.join("\n")}\n`;
}

export function inspectCommand(): Command {
  return addModelOptions(new Command("inspect"))
    .description("list every place MODEL can be cut, with what crosses, its size and the head's cost")
    .argument("<model>", "an .onnx file, a zoo name (splitwatt zoo list), or paddle:cls|rec|det")
    .option("--json", "print one JSON object (stable shape, see README)")
    .action(
      run(async (spec: string, raw: unknown) => {
        const o = InspectOptions.parse(raw);
        const { openModel } = await import("./openModel.js");
        const { analysis } = await openModel(spec, o);
        process.stdout.write(o.json ? `${JSON.stringify(inspectJson(spec, analysis), null, 2)}\n` : human(spec, analysis));
      }),
    );
}
