import { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { addModelOptions, ModelOptions } from "./modelOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const ExportOptions = ModelOptions.extend({
  out: z.string().min(1),
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, "NAME may use letters, digits, _ and - only").optional(),
  cuts: z.string().default("single"),
  maxBatch: cliNumber(z.number().int().min(0).max(4096)).default(8),
  gpu: z.boolean().default(false),
  json: z.boolean().default(false),
  codec: z.string().min(1).default("raw"),
  maxQueueDelayMs: cliNumber(z.number().min(0).max(60_000)).default(0),
  maxGb: cliNumber(z.number().positive()).default(2),
  force: z.boolean().default(false),
});

export function exportTritonCommand(): Command {
  return addModelOptions(new Command("export-triton"))
    .description("write a Triton model repository with one model per tail (config.pbtxt + 1/model.onnx)")
    .argument("<model>", "an .onnx file, a zoo name (splitwatt zoo list), or paddle:cls|rec|det")
    .requiredOption("--out <dir>", "repository directory (created if missing)")
    .option("--name <name>", "model name prefix (default: derived from MODEL)")
    .option("--cuts <list>", "cut indices (1,5,9), 'single' (every single-tensor cut, default), 'bottlenecks' or 'all'", "single")
    .option("--max-batch <n>", "Triton max_batch_size (0 disables batching)", "8")
    .option("--gpu", "instance_group KIND_GPU instead of KIND_CPU")
    .option("--codec <codec>", "the cut-tensor codec the tails take natively: raw, fp16, int8, int8-channel (a stock Triton/KServe then serves codec'd tensors)", "raw")
    .option("--max-queue-delay-ms <ms>", "dynamic_batching max_queue_delay of batching tails", "0")
    .option("--max-gb <gb>", "refuse to write a repository larger than this (10^9 bytes)", "2")
    .option("--force", "write it even when it is larger than --max-gb")
    .option("--json", "print the exported names as JSON")
    .action(
      run(async (spec: string, raw: unknown) => {
        const o = ExportOptions.parse(raw);
        const out = outputDir(o.out, "--out");
        const [{ openModel }, { planTriton, writeTriton }, { parseCodec }] = await Promise.all([
          import("./openModel.js"),
          import("../transport/tritonRepository.js"),
          import("../transport/codecs/codecs.js"),
        ]);
        const codec = parseCodec(o.codec);
        const { analysis } = await openModel(spec, o);
        const last = analysis.cuts.length - 1;
        let cuts: number[];
        if (o.cuts === "all") cuts = analysis.cuts.slice(0, last).map((c) => c.index);
        else if (o.cuts === "single") cuts = analysis.cuts.slice(0, last).filter((c) => c.tensors.length === 1).map((c) => c.index);
        else if (o.cuts === "bottlenecks") cuts = analysis.cuts.slice(0, last).filter((c) => c.naturalBottleneck || c.index === 0).map((c) => c.index);
        else {
          if (!/^\d+(,\d+)*$/.test(o.cuts)) throw new UsageError(`--cuts ${o.cuts}: give indices like 1,5,9, or single, bottlenecks, all`);
          cuts = o.cuts.split(",").map(Number);
          const bad = cuts.find((c) => c >= last);
          if (bad !== undefined) throw new UsageError(`--cuts: cut ${bad} has no tail; tails exist for cuts 0-${last - 1}`);
        }
        const name = o.name ?? spec.replace(/^paddle:/, "paddle_").replace(/\.onnx$/, "").replace(/.*\//, "").replace(/[^A-Za-z0-9_-]/g, "_");
        const plan = planTriton(analysis, { name, cuts, maxBatch: o.maxBatch, kind: o.gpu ? "KIND_GPU" : "KIND_CPU", codec, maxQueueDelayMs: o.maxQueueDelayMs });
        const gb = plan.totalBytes / 1e9;
        process.stderr.write(`repository: ${plan.tails.length} tail model(s), ${gb.toFixed(2)} GB (${plan.totalBytes} bytes)\n`);
        if (gb > o.maxGb && !o.force) {
          throw new UsageError(
            `the repository would take ${gb.toFixed(2)} GB, over --max-gb ${o.maxGb}: export fewer cuts (--cuts bottlenecks, or indices such as 1,5,9), or give a larger --max-gb, or --force`,
          );
        }
        const written = writeTriton(plan, out);
        process.stdout.write(
          o.json
            ? `${JSON.stringify({ repository: out, models: written, bytes: plan.totalBytes, codec: o.codec })}\n`
            : `wrote ${written.length} tail model(s) to ${out} (${gb.toFixed(2)} GB): ${written.join(", ")}\n`,
        );
      }),
    );
}
