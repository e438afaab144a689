/**
 * The evaluator contract between the optimizer and whatever answers for a configuration:
 * a measured pool in replay mode (src/search/poolEvaluator.ts), the profiler backed by a
 * measurement store in live mode.
 */
import type { Config } from "../contracts/measurement.js";
import type { ParetoEntry } from "../contracts/paretoFile.js";

/** Per-inference latency distribution of one configuration, ms; null where unknown. */
export interface LatencyDistribution {
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  /** samples (live: requests; replay: runs) behind the figures */
  n: number;
}

export interface EvaluationResult {
  /** mean per-inference latency, ms */
  latencyMs: number;
  latency: LatencyDistribution;
  /** J per inference (device + network + server as accounted) */
  energyJ: number;
  /** top-1 accuracy as a fraction in [0, 1]; null when not measured */
  accuracy: number | null;
  /** items per second (a stream through the pipeline); absent: 1000 / latencyMs (one at a time) */
  throughputPerS?: number | null | undefined;
  /** true when answered from a cache (a measurement store) rather than measured now */
  cached?: boolean;
  /** the underlying record (e.g. a Measurement), passed through untouched */
  measurement?: unknown;
  /** the configuration's per-part data for the pareto file's front and archive (its config is set by the caller) */
  entry?: Omit<ParetoEntry, "config"> | undefined;
}

/**
 * Evaluate one configuration. Resolve null when it cannot be evaluated (e.g. absent from the
 * pool): that does not use budget and the configuration is never asked for again. Throw to
 * stop the whole run. `signal` aborts a long measurement.
 */
export type Evaluator = (config: Config, context: { signal?: AbortSignal }) => Promise<EvaluationResult | null>;
