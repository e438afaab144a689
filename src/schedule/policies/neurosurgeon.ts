/**
 * `neurosurgeon`: Neurosurgeon's objective (Kang et al., 2017): the configuration with the
 * lowest predicted mean latency under the current bandwidth and server load, over the file's
 * archive (ties: the lower predicted energy). The deadline does not enter the choice; the
 * decision is marked infeasible when even that latency exceeds it. Filters as every policy:
 * the request's minAccuracy, and only all-on-device configurations while the server is down.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { costTotals, type Prediction } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, frozen, LinkMemo, ms, noCandidate, predictionOf, prepareCandidates, prob, totalsFor } from "./candidates.js";
import { meetProbability } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function neurosurgeon(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc);
  const all = cands.map((_, i) => i);
  const rule = probabilityRule(opts);
  const t = costTotals();
  const memo = new LinkMemo();
  let chosen = -1;
  let chosenMs = 0;
  let chosenShift = 0;
  let chosenLatency = 0;
  let chosenPrediction: Prediction | null = null;

  return {
    name: "neurosurgeon",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      // the choice does not depend on the deadline: kept until the link, server state or accuracy floor change
      if (memo.changed(state.link, state.serverUp, request.minAccuracy)) {
        let best = -1;
        let bestMs = Number.POSITIVE_INFINITY;
        let bestE = Number.POSITIVE_INFINITY;
        for (let i = 0; i < cands.length; i++) {
          const c = cands[i]!;
          if ((!state.serverUp && !c.local) || !accurateEnough(c, request.minAccuracy)) continue;
          totalsFor(c, state.link, t);
          if (t.latencyMs < bestMs || (t.latencyMs === bestMs && t.energyJ < bestE)) {
            best = i;
            bestMs = t.latencyMs;
            bestE = t.energyJ;
          }
        }
        chosen = best;
        if (best >= 0) {
          totalsFor(cands[best]!, state.link, t);
          chosenMs = bestMs;
          chosenShift = t.shiftMs;
          chosenLatency = t.latencyMs;
          chosenPrediction = frozen(predictionOf(cands[best]!, t));
        }
      }
      const best = chosen;
      if (best < 0) throw noCandidate("neurosurgeon", cands, all, request.minAccuracy, state.serverUp);
      const bestMs = chosenMs;
      const c = cands[best]!;
      const predicted = chosenPrediction as Prediction;
      const probability = meetProbability(c.entry.latency.samples, chosenShift, chosenLatency, 0, c.spreadMs, d, rule);
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
