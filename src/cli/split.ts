import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { BadModelError, RejectedError, SplitwattError } from "../errors.js";
import { ortMessage } from "../model/ortMessage.js";
import { outputDir } from "../outputDir.js";
import { addModelOptions, ModelOptions } from "./modelOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const SplitOptions = ModelOptions.extend({
  at: cliNumber(z.number().int("--at takes a cut index (an integer, see splitwatt inspect)").min(0)),
  out: z.string().min(1),
  verify: z.boolean().default(true),
  json: z.boolean().default(false),
});

export function splitCommand(): Command {
  return addModelOptions(new Command("split"))
    .description("write head.onnx, tail.onnx and split.json for one cut of MODEL, checked against the unsplit model")
    .argument("<model>", "an .onnx file, a zoo name (splitwatt zoo list), or paddle:cls|rec|det")
    .requiredOption("--at <index>", "cut index (from splitwatt inspect)")
    .requiredOption("--out <dir>", "directory to write into (created if missing)")
    .option("--no-verify", "skip running head then tail against the full model on a random input")
    .option("--json", "print split.json to stdout too")
    .action(
      run(async (spec: string, raw: unknown) => {
        const o = SplitOptions.parse(raw);
        // before any work: a file, a dangling link or a pseudo-filesystem at --out is a one-line error
        const out = outputDir(o.out, "--out");
        const { openModel } = await import("./openModel.js");
        const { resolved, analysis } = await openModel(spec, o);
        const [{ saveModel }, { splitModel }, { verifySplit }] = await Promise.all([import("../model/onnxModel.js"), import("../model/splitModel.js"), import("../runtime/verifySplit.js")]);
        const { cut, head, tail } = splitModel(analysis, o.at);
        const written: Record<string, number | null> = { head: null, tail: null };
        if (head !== null) written.head = saveModel(head, join(out, "head.onnx"));
        if (tail !== null) written.tail = saveModel(tail, join(out, "tail.onnx"));
        let check = null;
        if (o.verify) {
          try {
            [check] = await verifySplit(analysis, { indices: [o.at] });
          } catch (err) {
            const message = `${err instanceof SplitwattError ? err.message : `checking head then tail against the full model failed: ${ortMessage(err)}`}`;
            throw new BadModelError(`${message}; the parts were written to ${out}; --no-verify skips this check`, { path: resolved.path, cause: err });
          }
          if (check !== undefined && !check.ok) {
            throw new RejectedError(`head then tail differs from the full model at cut ${o.at} (max abs diff ${check.maxAbsDiff}); the parts were written to ${out} for inspection`);
          }
        }
        const description = {
          version: 1,
          model: { spec, path: resolved.path, sha256: analysis.model.sha256, opset: analysis.model.opset },
          inputShapes: analysis.inputShapes,
          batch: analysis.batch,
          inputValues: Object.keys(analysis.inputValues),
          cut: { index: cut.index, position: cut.position, node: cut.node, tensors: cut.tensors, bytes: cut.bytes, headMacs: cut.headMacs, naturalBottleneck: cut.naturalBottleneck },
          totalMacs: analysis.totalMacs,
          head: written.head === null ? null : { file: "head.onnx", bytes: written.head },
          tail: written.tail === null ? null : { file: "tail.onnx", bytes: written.tail },
          verified: check ?? null,
        };
        const tmp = join(out, `.split.json.${process.pid}`);
        writeFileSync(tmp, `${JSON.stringify(description, null, 2)}\n`);
        renameSync(tmp, join(out, "split.json"));
        if (o.json) process.stdout.write(`${JSON.stringify(description, null, 2)}\n`);
        else
          process.stdout.write(
            `cut ${cut.index} of ${spec}: ${cut.tensors.map((t) => `${t.name}[${t.shape.join("x")}]`).join(", ")} (${cut.bytes} bytes)\n` +
              `wrote ${[written.head === null ? null : "head.onnx", written.tail === null ? null : "tail.onnx", "split.json"].filter((x) => x !== null).join(", ")} to ${out}` +
              `${check ? `; head then tail matches the full model${analysis.batch === 1 ? "" : ` at batch ${analysis.batch}`} (max abs diff ${check.maxAbsDiff})` : ""}\n`,
          );
      }),
    );
}
