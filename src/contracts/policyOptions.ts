/**
 * The options every online policy takes (one schema: the daemon's YAML, its request handling
 * and `splitwatt decide` reuse it); a policy reads the ones that concern it.
 * `policyOptionsInputSchema` checks them as given (nothing defaulted: a daemon tells what the
 * user set from what it may measure itself), `policyOptionsSchema` applies the defaults.
 */
import { z } from "zod";
import { configSchema } from "./measurement.js";

const probability = "target is a probability in (0, 1), e.g. 0.99";

const shape = {
  /** splitwatt: the probability of meeting the deadline a choice must reach (default 0.99) */
  target: z.number().gt(0, probability).lt(1, probability),
  /** below this many latency samples the fitted normal tail guards the empirical probability (default 1 / (1 - target), 100 at 0.99) */
  minSamples: z.number().int().positive(),
  /**
   * floor of the fitted tail's standard deviation, as a fraction of the mean latency (default
   * 0.01; DynaSplit's VGG16 pool, where configurations were run more than once, shows a median
   * run-to-run spread of 1.7%)
   */
  cvFloor: z.number().min(0).max(1),
  /** splitwatt: keep the current configuration unless another saves more than this fraction of its expected energy (default 0.05) */
  hysteresis: z.number().min(0).lt(1),
  /** splitwatt: time and energy of one CPU-frequency switch (default none; the daemon measures it) */
  switchCost: z.strictObject({ timeMs: z.number().nonnegative(), energyJ: z.number().nonnegative() }),
  /** random: seed of its draws (the same seed, arrival time and deadline give the same choice; default 1) */
  seed: z.number().int().min(0).max(0xffffffff),
  /** static: the configuration, as an object or as `dim=value,dim=value` */
  config: z.union([z.string().min(1), configSchema]),
};

/** The options as given: every key optional, none defaulted. */
export const policyOptionsInputSchema = z.strictObject(shape).partial();

export const policyOptionsSchema = z.strictObject({
  ...shape,
  target: shape.target.default(0.99),
  minSamples: shape.minSamples.optional(),
  cvFloor: shape.cvFloor.default(0.01),
  hysteresis: shape.hysteresis.default(0.05),
  switchCost: shape.switchCost.default({ timeMs: 0, energyJ: 0 }),
  seed: shape.seed.default(1),
  config: shape.config.optional(),
});
export type PolicyOptionsInput = z.input<typeof policyOptionsSchema>;
export type PolicyOptions = z.output<typeof policyOptionsSchema>;
