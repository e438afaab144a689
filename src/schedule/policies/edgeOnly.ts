/**
 * `edge-only`: the lowest-energy configuration that runs all on the device (placement.ts),
 * whatever the deadline and the link (nothing is sent, so nothing changes with them); ties:
 * higher accuracy, then lower latency. The request's minAccuracy skips those below it. The
 * decision is marked infeasible when its mean latency exceeds the deadline.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { predict } from "../../predict/costModel.js";
import { accurateEnough, byEnergy, frozen, ms, noCandidate, prepareCandidates, prob } from "./candidates.js";
import { meetProbability } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function edgeOnly(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc).filter((c) => c.local);
  if (cands.length === 0) throw new UsageError("policy edge-only: the pareto file has no all-on-device configuration (the last cut); optimize with it in the space, or choose another policy");
  const order = byEnergy(cands, cands.map((_, i) => i));
  // nothing crosses the link: the cost model predicts the measurement under any conditions
  const predictions = cands.map((c) => frozen(predict(c.entry, { bandwidthMbps: 1, rttMs: 0, serverWaitMs: 0 })));
  const rule = probabilityRule(opts);

  return {
    name: "edge-only",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      const index = order.find((i) => accurateEnough(cands[i]!, request.minAccuracy));
      if (index === undefined) throw noCandidate("edge-only", cands, order, request.minAccuracy, state.serverUp);
      const c = cands[index]!;
      const probability = meetProbability(c.entry.latency.samples, 0, c.entry.latencyMs, 0, c.spreadMs, d, rule);
      const feasible = c.entry.latencyMs <= d;
      return {
        entry: c.entry,
        index,
        predicted: predictions[index]!,
        probability,
        feasible,
        reason: `lowest-energy all-on-device configuration (mean ${ms(c.entry.latencyMs)}${feasible ? "" : `, beyond ${ms(d)}`}, P ${prob(probability)})`,
        switchCost: null,
      };
    },
  };
}
