/**
 * `neurosurgeon`: Neurosurgeon's objective (Kang et al., 2017): the configuration with the
 * lowest predicted mean latency under the current bandwidth and server load, over the file's
 * archive (ties: the lower predicted energy). The deadline does not enter the choice; the
 * decision is marked infeasible when even that latency exceeds it. Filters as every policy:
 * the request's minAccuracy, and only all-on-device configurations while the server is down.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, LinkPredictions, ms, noCandidate, prepareCandidates, prob } from "./candidates.js";
import { meetProbability } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function neurosurgeon(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc);
  const memo = new LinkPredictions(cands);
  const all = cands.map((_, i) => i);
  const rule = probabilityRule(opts);

  return {
    name: "neurosurgeon",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      const cores = memo.cores(state.link);
      let best = -1;
      let bestMs = Number.POSITIVE_INFINITY;
      let bestE = Number.POSITIVE_INFINITY;
      for (let i = 0; i < cands.length; i++) {
        const c = cands[i]!;
        if ((!state.serverUp && !c.local) || !accurateEnough(c, request.minAccuracy)) continue;
        const core = cores[i]!;
        if (core.latencyMs < bestMs || (core.latencyMs === bestMs && core.energyJ.total < bestE)) {
          best = i;
          bestMs = core.latencyMs;
          bestE = core.energyJ.total;
        }
      }
      if (best < 0) throw noCandidate("neurosurgeon", cands, all, request.minAccuracy, state.serverUp);
      const c = cands[best]!;
      const predicted = memo.prediction(best, state.link);
      const probability = meetProbability(predicted.samplesMs, 0, predicted.latencyMs, 0, c.spreadMs, d, rule);
      const down = state.serverUp ? "" : "server down, all-on-device only: ";
      return {
        entry: c.entry,
        index: best,
        predicted,
        probability,
        feasible: bestMs <= d,
        reason: `${down}lowest predicted mean latency (${ms(bestMs)}${bestMs <= d ? "" : `, beyond ${ms(d)}`}, P ${prob(probability)})`,
        switchCost: null,
      };
    },
  };
}
