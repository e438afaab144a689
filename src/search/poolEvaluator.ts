/**
 * Replay over a measured pool: the search space comes from the pool's config columns and every
 * configuration is answered by the pool's runs of it. With DynaSplit's columns the space is
 * `layer` x `cpu-freq` x `edge-accelerator` x `server-accelerator` under DynaSplit's validity
 * rules (layer 0 = all in the cloud implies edge-accelerator off; the largest layer = all on
 * the edge implies server-accelerator false); valid configurations the pool lacks cannot be
 * evaluated (null) and use no budget.
 *
 * `layer` (a split index) takes every whole number from the pool's smallest to its largest, so
 * a cut the pool never measured is in the space but unevaluable (the ViT pool lacks layer 2);
 * other numeric columns take the values in the pool, ascending; strings and booleans are
 * categorical. A `layer` span of more than MAX_LAYER_SPAN indices is refused: no network has that
 * many cuts, so such a value is a broken column, and filling it would take memory and time in
 * proportion (3e6 indices: hundreds of MB and minutes before the search starts).
 *
 * Per configuration the answer is the mean over its runs: latencyMs = mean of the runs' mean
 * latencies, energyJ = mean of their total energies, accuracy = mean of the accuracies present
 * (null when none); `latency` is the distribution of the runs' mean latencies (p50/p95/p99 by
 * linear interpolation, max) with n = number of runs. Each answer carries its pareto-file entry
 * (contracts/paretoFile.ts `entryOfRuns`): DynaSplit's per-part columns become the breakdown
 * (edge = head, cloud = server, transfer), the tensor size the bytes, and edge / cloud energy
 * the device and server parts.
 */
import { MalformedError, UsageError } from "../errors.js";
import { canonicalConfigKey, type Conditions, type Config, type ConfigValue, type Measurement } from "../contracts/measurement.js";
import { entryOfRuns } from "../contracts/paretoFile.js";
import type { AnchorSpec } from "./anchors.js";
import type { EvaluationResult, Evaluator } from "./evaluator.js";
import { Space, type Dimension } from "./space.js";

export interface PoolReplay {
  space: Space;
  evaluate: Evaluator;
  /** all-on-device / all-on-server anchors when the pool has a `layer` column, else undefined */
  anchors: AnchorSpec | undefined;
  /** per-config answers by canonical config key */
  answers: ReadonlyMap<string, EvaluationResult>;
  /** measured runs (rows) */
  runs: number;
  /** every pool configuration has an accuracy */
  hasAccuracy: boolean;
}

export interface PoolReplayOptions {
  /** a further validity rule of the user's (applied on top of DynaSplit's) */
  restrict?: (config: Config) => boolean;
  /** what is known of the conditions the pool was measured under (recorded in every entry) */
  conditions?: Partial<Conditions>;
}

/** Most split indices a pool's `layer` column may span (largest - smallest + 1). */
export const MAX_LAYER_SPAN = 10_000;

function dimensionOf(name: string, values: readonly ConfigValue[]): Dimension {
  const types = new Set(values.map((v) => typeof v));
  if (types.size > 1) throw new MalformedError(`pool column "${name}" mixes ${[...types].join(" and ")} values; give one type per column`);
  const uniq = [...new Map(values.map((v) => [`${typeof v}:${String(v)}`, v])).values()];
  if (typeof uniq[0] === "number") {
    const sorted = (uniq as number[]).sort((a, b) => a - b);
    const lo = sorted[0] as number;
    const hi = sorted[sorted.length - 1] as number;
    if (name === "layer" && sorted.every(Number.isInteger)) {
      // a split index: every cut from the first to the last exists, measured or not
      if (hi - lo + 1 > MAX_LAYER_SPAN) {
        throw new UsageError(
          `pool column "layer" spans ${lo} to ${hi}: ${hi - lo + 1} split indices, more than the ${MAX_LAYER_SPAN} a replay accepts (every index between the smallest and the largest layer becomes a configuration); a layer is a cut index of the network: check that column`,
        );
      }
      return { name, values: Array.from({ length: hi - lo + 1 }, (_, i) => lo + i), ordered: true };
    }
    return { name, values: sorted, ordered: true };
  }
  if (typeof uniq[0] === "boolean") return { name, values: (uniq as boolean[]).sort((a, b) => Number(a) - Number(b)), ordered: false };
  return { name, values: (uniq as string[]).sort(), ordered: false };
}

export function poolEvaluator(pool: readonly Measurement[], opts: PoolReplayOptions = {}): PoolReplay {
  const first = pool[0];
  if (first === undefined) throw new UsageError("the pool has no measured runs; give a pool with at least one row");
  const dimNames = Object.keys(first.config).sort();
  const byKey = new Map<string, Measurement[]>();
  const valuesByDim = new Map<string, ConfigValue[]>(dimNames.map((d) => [d, []]));
  for (const m of pool) {
    const names = Object.keys(m.config).sort();
    if (names.join("\u0000") !== dimNames.join("\u0000")) {
      throw new MalformedError(`pool runs have different config columns (${dimNames.join(", ")} vs ${names.join(", ")}); give one pool per space`);
    }
    for (const d of dimNames) valuesByDim.get(d)!.push(m.config[d] as ConfigValue);
    const key = canonicalConfigKey(m.config);
    const runs = byKey.get(key) ?? [];
    runs.push(m);
    byKey.set(key, runs);
  }
  // DynaSplit's columns in their natural order first, then any others alphabetically
  const preferred = ["layer", "cpu-freq", "edge-accelerator", "server-accelerator"];
  const ordered = [...preferred.filter((d) => dimNames.includes(d)), ...dimNames.filter((d) => !preferred.includes(d))];
  const dimensions = ordered.map((d) => dimensionOf(d, valuesByDim.get(d)!));

  const layerDim = dimensions.find((d) => d.name === "layer" && d.ordered);
  const firstLayer = layerDim?.values[0];
  const lastLayer = layerDim?.values[layerDim.values.length - 1];
  const edgeValues = dimensions.find((d) => d.name === "edge-accelerator")?.values;
  const serverValues = dimensions.find((d) => d.name === "server-accelerator")?.values;
  const isValid = (c: Config): boolean => {
    if (layerDim !== undefined) {
      if (c.layer === firstLayer && edgeValues?.includes("off") && c["edge-accelerator"] !== "off") return false;
      if (c.layer === lastLayer && serverValues?.includes(false) && c["server-accelerator"] !== false) return false;
    }
    return opts.restrict ? opts.restrict(c) : true;
  };
  const space = new Space(dimensions, isValid);

  const answers = new Map<string, EvaluationResult>();
  let hasAccuracy = true;
  for (const [key, runs] of byKey) {
    if (runs.some((r) => r.energyJ.total === null)) throw new MalformedError(`pool configuration ${key} has a run without total energy; every run needs one`);
    const entry = entryOfRuns(runs, { link: "replay", ...opts.conditions });
    const { config: _config, ...parts } = entry;
    if (entry.accuracy === null) hasAccuracy = false;
    answers.set(key, {
      latencyMs: entry.latencyMs,
      latency: { p50: entry.latency.p50, p95: entry.latency.p95, p99: entry.latency.p99, max: entry.latency.max, n: entry.latency.n },
      energyJ: entry.energyJ.total,
      accuracy: entry.accuracy?.value ?? null,
      measurement: runs,
      entry: parts,
    });
  }

  const anchors: AnchorSpec | undefined =
    layerDim === undefined || firstLayer === undefined || lastLayer === undefined
      ? undefined
      : {
          split: { dimension: "layer", device: lastLayer, server: firstLayer },
          deviceDimensions: ["cpu-freq", "edge-accelerator"].filter((d) => dimNames.includes(d)),
          serverDimensions: ["server-accelerator"].filter((d) => dimNames.includes(d)),
          fill: dimNames.includes("cpu-freq") ? { "cpu-freq": dimensions.find((d) => d.name === "cpu-freq")!.values.at(-1)! } : {},
        };

  const evaluate: Evaluator = async (config) => answers.get(canonicalConfigKey(config)) ?? null;
  return { space, evaluate, anchors, answers, runs: pool.length, hasAccuracy };
}
