import { basename, dirname, join, resolve } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { run } from "./run.js";

const ReportOptions = z.object({ front: z.string().min(1).optional(), out: z.string().min(1).optional() });

export function reportCommand(): Command {
  return new Command("report")
    .description("render a benchmark's report.html and summary.md from DIR/results.json alone; compare two runs (DIR_A DIR_B); or draw one pareto file's front (--front)")
    .argument("[dirs...]", "one directory splitwatt bench --out wrote, or two to compare")
    .option("--front <file.pareto.json>", "draw this pareto file's front on its own (a first look after optimize)")
    .option("--out <file.html>", "where to write (default: DIR/report.html; compare: ./compare.html; --front: next to the file, .html)")
    .action(
      run(async (dirs: string[], raw: Record<string, unknown>) => {
        const o = ReportOptions.parse(raw);
        const [{ readBenchResults, writeFileAtomic }, html] = await Promise.all([import("../contracts/benchResults.js"), import("../report/htmlReport.js")]);
        if (o.front !== undefined) {
          if (dirs.length > 0) throw new UsageError("give either --front FILE.pareto.json or result directories, not both");
          const { readParetoFile } = await import("../contracts/paretoFile.js");
          const loaded = readParetoFile(o.front);
          for (const w of loaded.warnings) process.stderr.write(`splitwatt: warning: ${w}\n`);
          const out = resolve(o.out ?? join(dirname(o.front), `${basename(o.front).replace(/(\.pareto)?\.json$/, "")}.front.html`));
          writeFileAtomic(out, await html.renderFrontReport(loaded.doc, o.front));
          process.stdout.write(`wrote ${out}\n`);
          return;
        }
        if (dirs.length === 1) {
          const dir = dirs[0] as string;
          const r = readBenchResults(dir);
          const { writeReport } = await import("../report/writeReport.js");
          if (o.out !== undefined) {
            writeFileAtomic(resolve(o.out), await html.renderBenchReport(r));
            process.stdout.write(`wrote ${resolve(o.out)}\n`);
            return;
          }
          const w = await writeReport(dir, r);
          process.stdout.write(`wrote ${w.report} and ${w.summary}\n`);
          return;
        }
        if (dirs.length === 2) {
          const [a, b] = dirs as [string, string];
          const ra = readBenchResults(a);
          const rb = readBenchResults(b);
          let la = basename(resolve(a));
          let lb = basename(resolve(b));
          if (la === lb) [la, lb] = [`${la} (A)`, `${lb} (B)`];
          const out = resolve(o.out ?? "compare.html");
          writeFileAtomic(out, await html.renderCompareReport(ra, rb, [la, lb]));
          process.stdout.write(`wrote ${out}\n`);
          return;
        }
        throw new UsageError("give one result directory (splitwatt report DIR), two to compare (DIR_A DIR_B), or --front FILE.pareto.json");
      }),
    );
}
