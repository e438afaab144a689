/**
 * The policies by name: `createPolicy(name, file, options)` builds one over a loaded pareto
 * file (its candidates precomputed). Version-1 files lack per-part data and the archive, so
 * only the policies that need neither (`dynasplit`, `static` and the benchmark baselines `static-fastest`, `static-min-energy`, `random`) accept them.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import type { Policy } from "../policy.js";
import { cloudOnly } from "./cloudOnly.js";
import { dynasplit } from "./dynasplit.js";
import { edgeOnly } from "./edgeOnly.js";
import { neurosurgeon } from "./neurosurgeon.js";
import { policyOptionsSchema, type PolicyOptions, type PolicyOptionsInput } from "./policyOptions.js";
import { splitwatt } from "./splitwatt.js";
import { random } from "./random.js";
import { staticConfig } from "./staticConfig.js";
import { staticFastest, staticMinEnergy } from "./staticFront.js";

export const POLICY_NAMES = ["splitwatt", "dynasplit", "neurosurgeon", "edge-only", "cloud-only", "static", "static-fastest", "static-min-energy", "random"] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];
export const DEFAULT_POLICY: PolicyName = "splitwatt";
/** the policies a version-1 pareto file supports */
export const V1_POLICIES: readonly PolicyName[] = ["dynasplit", "static"];
/** the benchmark baselines, which need only the front, so a version-1 file serves them too */
const V1_BASELINES: readonly PolicyName[] = ["static-fastest", "static-min-energy", "random"];

const BUILDERS: Record<PolicyName, (file: LoadedParetoFile, opts: PolicyOptions) => Policy> = {
  splitwatt,
  dynasplit,
  neurosurgeon,
  "edge-only": edgeOnly,
  "cloud-only": cloudOnly,
  static: staticConfig,
  "static-fastest": staticFastest,
  "static-min-energy": staticMinEnergy,
  random,
};

/** Whether `name` is a policy name. */
export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/** Build policy `name` over `file`; a one-line UsageError for an unknown name, bad options, or a policy the file cannot support. */
export function createPolicy(name: string, file: LoadedParetoFile, opts: PolicyOptionsInput = {}): Policy {
  if (!isPolicyName(name)) throw new UsageError(`unknown policy "${name}"; use one of ${POLICY_NAMES.join(", ")}`);
  if (file.fileVersion === 1 && !V1_POLICIES.includes(name) && !V1_BASELINES.includes(name)) {
    throw new UsageError(
      `policy ${name} needs the per-part data (breakdown, bytes, conditions) and archive of a version-2 pareto file, and this one is version 1; use ${V1_POLICIES.join(" or ")}, or run splitwatt optimize again to write version 2`,
    );
  }
  const parsed = policyOptionsSchema.safeParse(opts);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`policy options: ${issue ? `${issue.path.join(".") || "(options)"}: ${issue.message}` : "invalid"}`);
  }
  return BUILDERS[name](file, parsed.data);
}

export { localRunKey, NoCandidateError } from "./candidates.js";
export { meetProbability, normalCdf, samplesForTarget, type ProbabilityRule } from "./meetProbability.js";
export { policyOptionsSchema, probabilityRule, type PolicyOptions, type PolicyOptionsInput } from "./policyOptions.js";
export { parseConfigSpec } from "./staticConfig.js";
