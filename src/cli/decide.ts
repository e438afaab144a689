/**
 * `splitwatt decide`: one decision of a policy over a pareto file, for users and scripts (the
 * daemon's code: createPolicy + decide). Link figures not given are taken as each configuration
 * was measured. `--current` is the configuration the device runs now, from which switches
 * (CPU frequency, accelerator, GPU clock) are counted; without it nothing runs yet, so every
 * configuration counts the switches to it (as the daemon's first request does).
 */
import { basename } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import type { LoadedParetoFile, ParetoFile } from "../contracts/paretoFile.js";
import type { SwitchParts } from "../schedule/policy.js";
import { MalformedError, UsageError } from "../errors.js";
import { cliNumber } from "./cliNumber.js";
import { run } from "./run.js";

const positive = (what: string) => cliNumber(z.number({ error: what }).refine((x) => Number.isFinite(x) && x > 0, what), what);
const nonNegative = (what: string) => cliNumber(z.number({ error: what }).refine((x) => Number.isFinite(x) && x >= 0, what), what);

const DecideOptions = z.object({
  front: z.string().min(1),
  policy: z.string().min(1).default("splitwatt"),
  deadlineMs: positive("give the deadline as a positive number of ms, e.g. 200"),
  bandwidthMbps: positive("give the bandwidth as a positive number of Mbit/s, e.g. 20").optional(),
  rttMs: nonNegative("give the RTT as a number of ms >= 0, e.g. 10").optional(),
  serverWaitMs: nonNegative("give the server's queue wait as a number of ms >= 0, e.g. 0").optional(),
  headScale: positive("give the head-time scale as a positive number, e.g. 1.2 for heads 20% slower than measured").optional(),
  bandwidthCv: cliNumber(z.number().min(0, "--bandwidth-cv is a fraction >= 0, e.g. 0.2 for a rate varying by 20% of its mean")).optional(),
  headCv: cliNumber(z.number().min(0, "--head-cv is a fraction >= 0, e.g. 0.1 for heads varying by 10% of their mean")).optional(),
  minAccuracy: cliNumber(z.number().min(0, "--min-accuracy is a fraction in [0, 1], e.g. 0.6").max(1, "--min-accuracy is a fraction in [0, 1], e.g. 0.6")).optional(),
  target: cliNumber(z.number().gt(0, "--target is a probability in (0, 1), e.g. 0.99").lt(1, "--target is a probability in (0, 1), e.g. 0.99")).optional(),
  config: z.string().min(1).optional(),
  current: z.string().min(1).optional(),
  serverDown: z.boolean().default(false),
  json: z.boolean().default(false),
});
type DecideCliOptions = z.infer<typeof DecideOptions>;

const num = (x: number | null | undefined, digits: number): string => (x === null || x === undefined ? "-" : x.toFixed(digits));
const showConfig = (c: Record<string, unknown>, space: ParetoFile["space"]): string => space.dimensions.map((d) => `${d.name}=${String(c[d.name])}`).join(" ");

async function load(path: string): Promise<LoadedParetoFile> {
  const { readParetoFile } = await import("../contracts/paretoFile.js");
  try {
    return readParetoFile(path);
  } catch (e) {
    // the file is the user's: a malformed one is a user error (exit 2)
    if (e instanceof MalformedError) throw new UsageError(e.message, { path, cause: e });
    throw e;
  }
}

/** The switch a decision counts, in words. */
function switchLine(sw: SwitchParts | null, fromCurrent: boolean): string {
  const from = fromCurrent ? "from --current" : "from nothing running yet (give --current)";
  if (sw === null) return `none counted ${from}`;
  const parts = [
    ...(sw.cpuFreqMs > 0 ? [`CPU frequency ${sw.cpuFreqMs.toFixed(2)} ms`] : []),
    ...(sw.acceleratorMs > 0 || sw.assumed.includes("accelerator") ? [`accelerator ${sw.acceleratorMs.toFixed(2)} ms${sw.assumed.includes("accelerator") ? " (not measured: as a CPU-frequency switch)" : ""}`] : []),
    ...(sw.gpuFreqMs > 0 || sw.assumed.includes("gpuFreq") ? [`GPU clock ${sw.gpuFreqMs.toFixed(2)} ms${sw.assumed.includes("gpuFreq") ? " (not measured: as a CPU-frequency switch)" : ""}`] : []),
  ];
  return `${sw.timeMs.toFixed(2)} ms, ${sw.energyJ.toFixed(3)} J ${from}${parts.length > 0 ? `: ${parts.join(" + ")}` : ""}`;
}

async function decide(o: DecideCliOptions): Promise<void> {
  const [file, { createPolicy, parseConfigSpec, V1_POLICIES }, { latencyQuantile }] = await Promise.all([load(o.front), import("../schedule/policies/index.js"), import("../predict/costModel.js")]);
  const warnings = file.fileVersion === 1 ? file.warnings.map((w) => `${w}; only the ${V1_POLICIES.join(" and ")} policies work on it`) : file.warnings;
  for (const w of warnings) process.stderr.write(`splitwatt: warning: ${w}\n`);
  if (o.config !== undefined && o.policy !== "static") throw new UsageError(`--config is the static policy's configuration; drop it or add --policy static`);
  const policy = createPolicy(o.policy, file, { ...(o.target === undefined ? {} : { target: o.target }), ...(o.config === undefined ? {} : { config: o.config }) });
  const link = { bandwidthMbps: o.bandwidthMbps ?? null, rttMs: o.rttMs ?? null, serverWaitMs: o.serverWaitMs ?? null, headScale: o.headScale ?? null, headCv: o.headCv ?? null, bandwidthCv: o.bandwidthCv ?? null };
  const current = o.current === undefined ? null : parseConfigSpec(o.current, file.doc.space);
  const d = policy.decide({ deadlineMs: o.deadlineMs, minAccuracy: o.minAccuracy }, { nowMs: 0, link, serverUp: !o.serverDown, current });
  const sw = d.switchCost ?? null;
  const p = d.predicted;
  const quantiles = { p50: latencyQuantile(p, 0.5), p95: latencyQuantile(p, 0.95), p99: latencyQuantile(p, 0.99) };
  const src = d.entry.energySource;

  if (o.json) {
    const out = {
      policy: policy.name,
      front: o.front,
      fileVersion: file.fileVersion,
      deadlineMs: o.deadlineMs,
      minAccuracy: o.minAccuracy ?? null,
      link,
      serverUp: !o.serverDown,
      current,
      config: d.entry.config,
      predicted: { latencyMs: p.latencyMs, ...quantiles, samples: p.samplesMs.length, breakdownMs: p.breakdownMs, energyJ: p.energyJ, energySource: src, perPart: p.perPart },
      accuracy: d.entry.accuracy?.value ?? null,
      probability: d.probability,
      feasible: d.feasible,
      reason: d.reason,
      switchCost: sw,
      warnings,
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return;
  }
  const asMeasured = "as measured";
  const b = p.breakdownMs;
  const e = p.energyJ;
  const part = (x: number | null, source: string | null) => (x === null ? "-" : `${x.toFixed(3)}${source === null ? "" : ` (${source})`}`);
  const lines = [
    `policy ${policy.name} on ${basename(o.front)}, deadline ${o.deadlineMs} ms${o.minAccuracy === undefined ? "" : `, min accuracy ${o.minAccuracy}`}${o.serverDown ? ", server down" : ""}`,
    `link: bandwidth ${o.bandwidthMbps === undefined ? asMeasured : `${o.bandwidthMbps} Mbit/s`}, RTT ${o.rttMs === undefined ? asMeasured : `${o.rttMs} ms`}, server wait ${o.serverWaitMs === undefined ? asMeasured : `${o.serverWaitMs} ms`}${o.headScale === undefined ? "" : `, heads x ${o.headScale}`}${o.headCv === undefined ? "" : `, heads varying ${o.headCv} of their mean`}${o.bandwidthCv === undefined ? "" : `, bandwidth varying ${o.bandwidthCv} of its mean`}`,
    `config      ${showConfig(d.entry.config, file.doc.space)}`,
    `latency     ${num(p.latencyMs, 2)} ms ${p.perPart ? "predicted" : "as measured"} (p50 ${num(quantiles.p50, 2)}, p95 ${num(quantiles.p95, 2)}, p99 ${num(quantiles.p99, 2)} ms over ${p.samplesMs.length} sample${p.samplesMs.length === 1 ? "" : "s"})`,
    ...(b === null ? [] : [`            head ${num(b.head, 2)}, encode ${num(b.encode, 2)}, transfer ${num(b.transfer, 2)}, server ${num(b.server, 2)}, decode ${num(b.decode, 2)} ms`]),
    `energy      ${e.total.toFixed(3)} J: device ${part(e.device, src.device)}, network ${part(e.network, src.network)}, server ${part(e.server, src.server)}`,
    `accuracy    ${num(d.entry.accuracy?.value, 4)}`,
    `switch      ${switchLine(sw, current !== null)}`,
    `P(meet)     ${d.probability.toFixed(4)}`,
    `feasible    ${d.feasible ? "yes" : "no: no configuration is expected to meet the deadline"}`,
    `reason      ${d.reason}`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

export function decideCommand(): Command {
  return new Command("decide")
    .description("show the configuration a policy picks for one deadline under given link conditions (the daemon's decision)")
    .requiredOption("--front <file.pareto.json>", "the pareto file written by splitwatt optimize")
    .option("--policy <name>", "splitwatt, dynasplit, neurosurgeon, edge-only, cloud-only or static", "splitwatt")
    .requiredOption("--deadline-ms <ms>", "the request's latency deadline")
    .option("--bandwidth-mbps <mbps>", "uplink bandwidth now (default: as each configuration was measured)")
    .option("--rtt-ms <ms>", "round trip now (default: as measured)")
    .option("--server-wait-ms <ms>", "the server's queue wait now (default: as measured)")
    .option("--head-scale <x>", "the device's head time now over as measured, as the daemon estimates it (default 1)")
    .option("--head-cv <fraction>", "how much the device's heads vary now (standard deviation / mean), as the daemon estimates it (default: as the front's samples vary)")
    .option("--bandwidth-cv <fraction>", "how much the bandwidth varies now (standard deviation / mean), as the daemon estimates it (default: as the front's samples vary)")
    .option("--min-accuracy <fraction>", "skip configurations below this accuracy, e.g. 0.6")
    .option("--target <p>", "splitwatt: the probability of meeting the deadline to reach (default 0.99)")
    .option("--config <dim=value,...>", "static: the configuration, e.g. layer=22,cpu-freq=800,edge-accelerator=std,server-accelerator=false")
    .option("--current <dim=value,...>", "the configuration the device runs now: switches (CPU frequency, accelerator, GPU clock) are counted from it (default: nothing runs yet, every switch counted)")
    .option("--server-down", "decide as the daemon does while the server is out (all-on-device configurations only)")
    .option("--json", "print JSON")
    .action(
      run(async (raw: unknown) => {
        await decide(DecideOptions.parse(raw));
      }),
    );
}
