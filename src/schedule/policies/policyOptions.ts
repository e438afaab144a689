/**
 * The policies' options (the schema is a contract: src/contracts/policyOptions.ts) and the
 * probability rule they give.
 */
import type { PolicyOptions } from "../../contracts/policyOptions.js";
import { samplesForTarget, type ProbabilityRule } from "./meetProbability.js";

export { policyOptionsSchema, type PolicyOptions, type PolicyOptionsInput } from "../../contracts/policyOptions.js";

/** The probability rule the options give. */
export function probabilityRule(o: PolicyOptions): ProbabilityRule {
  return { minSamples: o.minSamples ?? samplesForTarget(o.target), cvFloor: o.cvFloor };
}
