/**
 * The options every policy takes (one schema: the daemon's YAML and `splitwatt decide` reuse
 * it); a policy reads the ones that concern it.
 */
import { z } from "zod";
import { configSchema } from "../../contracts/measurement.js";
import { samplesForTarget, type ProbabilityRule } from "./meetProbability.js";

export const policyOptionsSchema = z.strictObject({
  /** splitwatt: the probability of meeting the deadline a choice must reach */
  target: z.number().gt(0, "target is a probability in (0, 1), e.g. 0.99").lt(1, "target is a probability in (0, 1), e.g. 0.99").default(0.99),
  /** below this many latency samples the fitted normal tail guards the empirical probability (default 1 / (1 - target), 100 at 0.99) */
  minSamples: z.number().int().positive().optional(),
  /**
   * floor of the fitted tail's standard deviation, as a fraction of the mean latency (default
   * 0.01; DynaSplit's VGG16 pool, where configurations were run more than once, shows a median
   * run-to-run spread of 1.7%)
   */
  cvFloor: z.number().min(0).max(1).default(0.01),
  /** splitwatt: keep the current configuration unless another saves more than this fraction of its expected energy */
  hysteresis: z.number().min(0).lt(1).default(0.05),
  /** splitwatt: time and energy of one CPU-frequency switch (the daemon measures it) */
  switchCost: z.strictObject({ timeMs: z.number().nonnegative(), energyJ: z.number().nonnegative() }).default({ timeMs: 0, energyJ: 0 }),
  /** random: seed of its draws (the same seed, arrival time and deadline give the same choice) */
  seed: z.number().int().min(0).max(0xffffffff).default(1),
  /** static: the configuration, as an object or as `dim=value,dim=value` */
  config: z.union([z.string().min(1), configSchema]).optional(),
});
export type PolicyOptionsInput = z.input<typeof policyOptionsSchema>;
export type PolicyOptions = z.output<typeof policyOptionsSchema>;

/** The probability rule the options give. */
export function probabilityRule(o: PolicyOptions): ProbabilityRule {
  return { minSamples: o.minSamples ?? samplesForTarget(o.target), cvFloor: o.cvFloor };
}
