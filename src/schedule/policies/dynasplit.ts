/**
 * `dynasplit`: DynaSplit's published online rule (May et al., 2024), exactly. The pareto
 * FRONT sorted by energy ascending (ties: higher accuracy first); the first configuration
 * whose mean latency as measured offline is within the deadline; if none, the fastest (lowest
 * mean latency). Nothing is predicted: the decision's prediction is the measurement.
 *
 * Beyond the published rule: a request's `minAccuracy` skips configurations below it (or of
 * unknown accuracy), and while the server is down the same rule runs over the configurations
 * that run all on the device (the front's, and the archive's when the front has none of its
 * own, so a request still gets an answer).
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { asMeasured, byEnergy, firstWithinDeadline, frozen, ms, noCandidate, prepareCandidates, prob } from "./candidates.js";
import { meetProbability } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function dynasplit(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const front = prepareCandidates(doc.front, doc);
  const frontKeys = new Set(front.map((c) => c.key));
  const extra = prepareCandidates(doc.archive, doc).filter((c) => c.local && !frontKeys.has(c.key));
  const cands = [...front, ...extra];
  const frontOrder = byEnergy(cands, doc.front.map((_, i) => i));
  const frontLocal = frontOrder.filter((i) => cands[i]!.local);
  // the front's own all-on-device configurations when it has any, else the archive's
  const localOrder = frontLocal.length > 0 ? frontLocal : byEnergy(cands, extra.map((_, j) => doc.front.length + j));
  const predictions = cands.map((c) => frozen(asMeasured(c.entry)));
  const rule = probabilityRule(opts);

  return {
    name: "dynasplit",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      const pick = firstWithinDeadline(cands, state.serverUp ? frontOrder : localOrder, d, request.minAccuracy, state.serverUp);
      if (pick === null) throw noCandidate("dynasplit", cands, state.serverUp ? frontOrder : localOrder, request.minAccuracy, state.serverUp);
      const c = cands[pick.index]!;
      const predicted = predictions[pick.index]!;
      const probability = meetProbability(c.entry.latency.samples, 0, c.entry.latencyMs, 0, c.spreadMs, d, rule);
      const where = state.serverUp ? "front configuration" : "all-on-device configuration (server down)";
      const reason = pick.feasible
        ? `lowest-energy ${where} whose mean latency ${ms(c.entry.latencyMs)} is within ${ms(d)} (P ${prob(probability)})`
        : `no ${where} has a mean latency within ${ms(d)}: the fastest (${ms(c.entry.latencyMs)})`;
      return { entry: c.entry, index: pick.index, predicted, probability, feasible: pick.feasible, reason, switchCost: null };
    },
  };
}
