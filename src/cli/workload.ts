import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { Command } from "commander";
import { z } from "zod";
import { IoError, UsageError } from "../errors.js";
import { cliNumber } from "./cliNumber.js";
import { run } from "./run.js";

const num = (flag: string) => cliNumber(z.number({ error: `${flag} takes a number` }));

const WorkloadOptions = z.object({
  weibullShape: num("--weibull-shape").default(1),
  minMs: num("--min-ms").optional(),
  maxMs: num("--max-ms").optional(),
  n: cliNumber(z.number().int("--n takes a whole number")).optional(),
  seed: cliNumber(z.number().int("--seed takes a whole number").min(0).max(0xffffffff)).default(1),
  network: z.string().min(1).default("default"),
  bandwidth: z.enum(["step", "walk"], { error: "--bandwidth takes step or walk" }).optional(),
  levelsMbps: z.string().optional(),
  everyMs: num("--every-ms").optional(),
  startMbps: num("--start-mbps").optional(),
  minMbps: num("--min-mbps").optional(),
  maxMbps: num("--max-mbps").optional(),
  stepMbps: num("--step-mbps").optional(),
  durationMs: num("--duration-ms").optional(),
  out: z.string().min(1).optional(),
});
type WorkloadCliOptions = z.infer<typeof WorkloadOptions>;

/** Write `chunks` to --out (atomically enough: a stream, errors as one line) or stdout. */
async function emit(out: string | undefined, chunks: Iterable<string>): Promise<void> {
  const stream = out === undefined ? process.stdout : createWriteStream(out);
  const failed = new Promise<never>((_, reject) =>
    stream.once("error", (e: NodeJS.ErrnoException) => reject(new IoError(`cannot write ${out ?? "stdout"} (${e.code ?? "error"}); check that the directory exists and is writable`, { cause: e }))),
  );
  failed.catch(() => undefined);
  for (const c of chunks) {
    if (!stream.write(c)) await Promise.race([once(stream, "drain"), failed]);
  }
  if (out !== undefined) {
    (stream as ReturnType<typeof createWriteStream>).end();
    await Promise.race([once(stream, "finish"), failed]);
    process.stderr.write(`wrote ${out}\n`);
  }
}

function need<T>(v: T | undefined, flag: string, example: string): T {
  if (v === undefined) throw new UsageError(`${flag} is required here; e.g. ${example}`);
  return v;
}

async function deadlines(o: WorkloadCliOptions): Promise<void> {
  const [{ weibullDeadlines }, { pyFloat }] = await Promise.all([import("../replay/weibullDeadlines.js"), import("../contracts/dynasplitCsv.js")]);
  const xs = weibullDeadlines({
    shape: o.weibullShape,
    minMs: need(o.minMs, "--min-ms", "--min-ms 90.6 (DynaSplit's VGG16 range is 90.6-5026.8 ms)"),
    maxMs: need(o.maxMs, "--max-ms", "--max-ms 5026.8"),
    n: need(o.n, "--n", "--n 10000"),
    seed: o.seed,
  });
  if (/[",\r\n]/.test(o.network)) throw new UsageError(`--network "${o.network}" contains a comma, quote or line break; use a plain model name such as vgg16`);
  const network = o.network;
  function* rows(): Generator<string> {
    yield "Index,Network,Latency\n";
    let buf = "";
    for (let i = 0; i < xs.length; i++) {
      buf += `${i},${network},${pyFloat(xs[i] as number)}\n`;
      if (buf.length > 1 << 16) {
        yield buf;
        buf = "";
      }
    }
    if (buf !== "") yield buf;
  }
  await emit(o.out, rows());
}

async function bandwidth(o: WorkloadCliOptions, kind: "step" | "walk"): Promise<void> {
  const [{ stepTrace, walkTrace }, { writeConditionsTrace }] = await Promise.all([import("../replay/bandwidthTraces.js"), import("../contracts/conditionsTrace.js")]);
  let trace;
  if (kind === "step") {
    const spec = need(o.levelsMbps, "--levels-mbps", "--levels-mbps 100,5,100");
    const levels = spec.split(",").map((s) => Number(s.trim()));
    trace = stepTrace(levels, need(o.everyMs, "--every-ms", "--every-ms 60000"));
  } else {
    const minMbps = need(o.minMbps, "--min-mbps", "--min-mbps 5");
    const maxMbps = need(o.maxMbps, "--max-mbps", "--max-mbps 100");
    trace = walkTrace({
      startMbps: o.startMbps ?? (minMbps + maxMbps) / 2,
      minMbps,
      maxMbps,
      stepMbps: need(o.stepMbps, "--step-mbps", "--step-mbps 5"),
      everyMs: need(o.everyMs, "--every-ms", "--every-ms 1000"),
      durationMs: need(o.durationMs, "--duration-ms", "--duration-ms 600000"),
      seed: o.seed,
    });
  }
  await emit(o.out, [writeConditionsTrace(trace)]);
}

export function workloadCommand(): Command {
  return new Command("workload")
    .description("generate a deadline workload (DynaSplit's linearly rescaled Weibull) or a bandwidth trace (--bandwidth step|walk) for splitwatt bench")
    .option("--weibull-shape <k>", "deadlines: Weibull shape (DynaSplit used 1)", "1")
    .option("--min-ms <ms>", "deadlines: the smallest deadline (the smallest draw is rescaled to it)")
    .option("--max-ms <ms>", "deadlines: the largest deadline (the largest draw is rescaled to it)")
    .option("--n <count>", "deadlines: how many requests (>= 2)")
    .option("--seed <s>", "seed of the draws; the same seed gives the same file", "1")
    .option("--network <name>", "deadlines: the Network column's value (the model the requests are for)", "default")
    .option("--bandwidth <kind>", "write a bandwidth trace instead: step (--levels-mbps, --every-ms) or walk (--start-mbps, --min-mbps, --max-mbps, --step-mbps, --every-ms, --duration-ms)")
    .option("--levels-mbps <list>", "step: the bandwidths in turn, e.g. 100,5,100")
    .option("--every-ms <ms>", "step: how long each level holds; walk: time between steps")
    .option("--start-mbps <mbps>", "walk: where it starts (default the middle of min and max)")
    .option("--min-mbps <mbps>", "walk: lower bound")
    .option("--max-mbps <mbps>", "walk: upper bound")
    .option("--step-mbps <mbps>", "walk: the largest change per step")
    .option("--duration-ms <ms>", "walk: how long the trace lasts")
    .option("--out <file.csv>", "where to write (default stdout)")
    .action(
      run(async (raw: Record<string, unknown>) => {
        const o = WorkloadOptions.parse(raw);
        if (o.bandwidth !== undefined) await bandwidth(o, o.bandwidth);
        else await deadlines(o);
      }),
    );
}
