/**
 * What a live benchmark keeps of a daemon's answer: the Open Inference Protocol response
 * `parameters` the daemon writes (src/schedule/daemon/outcome.ts, outcomeParameters) checked and
 * read, and the source label of a strategy's energy figures.
 *
 *   config, config_key      the configuration that ran (its JSON, its canonical key)
 *   latency_ms              from the request's arrival at the daemon to its result
 *   deadline_met, feasible, fallback
 *   energy_j, energy_<part>_j, energy_<part>_source   (part: device, network, server; a figure
 *                           is left out while unknown, e.g. an external meter's still pending)
 */
import { z } from "zod";
import type { SourceLabel } from "../contracts/benchResults.js";
import { canonicalConfigKey, configSchema, type Config } from "../contracts/measurement.js";
import { MalformedError } from "../errors.js";

export interface LiveAnswer {
  config: Config;
  configKey: string;
  latencyMs: number;
  deadlineMet: boolean;
  feasible: boolean;
  fallback: boolean;
  /** NaN where the daemon gave no figure */
  energyJ: number;
  deviceJ: number;
  networkJ: number;
  serverJ: number;
  /** the sources of the parts it gave, e.g. ["estimate"] */
  sources: string[];
}

const figure = z.number().nonnegative().optional();
const source = z.string().min(1).optional();

const parametersSchema = z.object({
  config: z.string().min(1),
  config_key: z.string().min(1),
  latency_ms: z.number().nonnegative(),
  deadline_met: z.boolean(),
  feasible: z.boolean(),
  fallback: z.boolean(),
  energy_j: figure,
  energy_device_j: figure,
  energy_network_j: figure,
  energy_server_j: figure,
  energy_device_source: source,
  energy_network_source: source,
  energy_server_source: source,
});

/** Read a daemon's answer parameters; a MalformedError saying what is missing when they are not a splitwatt daemon's. */
export function liveAnswer(parameters: unknown): LiveAnswer {
  const r = parametersSchema.safeParse(parameters ?? {});
  if (!r.success) {
    const i = r.error.issues[0];
    throw new MalformedError(`the answer's parameters lack what a splitwatt daemon sends (${i ? `${i.path.join(".") || "parameters"}: ${i.message}` : "invalid"}): is the URL a splitwatt daemon?`);
  }
  const p = r.data;
  let config: Config;
  let key: string;
  try {
    config = configSchema.parse(JSON.parse(p.config));
    key = canonicalConfigKey(config);
  } catch {
    throw new MalformedError(`the answer's config parameter is not a configuration object: ${p.config.slice(0, 80)}`);
  }
  if (key !== p.config_key) throw new MalformedError(`the answer's config_key ${p.config_key} is not its config's key ${key}`);
  const nan = (x: number | undefined): number => x ?? Number.NaN;
  return {
    config,
    configKey: p.config_key,
    latencyMs: p.latency_ms,
    deadlineMet: p.deadline_met,
    feasible: p.feasible,
    fallback: p.fallback,
    energyJ: nan(p.energy_j),
    deviceJ: nan(p.energy_device_j),
    networkJ: nan(p.energy_network_j),
    serverJ: nan(p.energy_server_j),
    sources: [p.energy_device_source, p.energy_network_source, p.energy_server_source].filter((s): s is string => s !== undefined),
  };
}

/** Sources that stand for a power model rather than a counter or meter. */
const MODELLED = new Set(["estimate", "node"]);

/**
 * The label of a live strategy's energy figures: `estimate` when any part came from a power
 * model (`estimate`, or `node` accounting of the server), else `measured` (counters and meters:
 * rapl, hwmon, nvml, ina3221, meter, ...). No sources at all (no answer): `estimate`, the
 * cautious one.
 */
export function liveSourceLabel(sources: Iterable<string>): SourceLabel {
  let any = false;
  for (const s of sources) {
    any = true;
    if (MODELLED.has(s)) return "estimate";
  }
  return any ? "measured" : "estimate";
}
