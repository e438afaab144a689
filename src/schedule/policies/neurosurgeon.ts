/**
 * `neurosurgeon`: Neurosurgeon's objective (Kang et al., 2017): the configuration with the
 * lowest predicted mean latency under the current bandwidth and server load, over the file's
 * archive (ties: the lower predicted energy). The latency it compares counts the switch a
 * candidate implies from the configuration running now (CPU frequency, accelerator, GPU clock:
 * switchPricing.ts), so a configuration that is faster once loaded but takes seconds to switch
 * to is not the latency-optimal one for this request. The deadline does not enter the choice;
 * the decision is marked infeasible when even that latency exceeds it. Filters as every policy:
 * the request's minAccuracy, and only all-on-device configurations while the server is down.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { costTotals, type Prediction } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, frozen, LinkMemo, ms, noCandidate, predictionOf, prepareCandidates, prob, probabilityFor, totalsFor } from "./candidates.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";
import { SwitchPricing, switchNote } from "./switchPricing.js";

export function neurosurgeon(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc);
  const all = cands.map((_, i) => i);
  const rule = probabilityRule(opts);
  const t = costTotals();
  const memo = new LinkMemo();
  const pricing = new SwitchPricing(doc.archive, doc.space, opts);
  const n = cands.length;
  // per link: every candidate's predicted mean latency and energy
  const latencyMs = new Float64Array(n);
  const energyJ = new Float64Array(n);
  const eligible = new Uint8Array(n);
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
      // the choice does not depend on the deadline: kept until the link, server state, accuracy floor or the current configuration's switch prices change
      const linkChanged = memo.changed(state.link, state.serverUp, request.minAccuracy);
      if (linkChanged) {
        for (let i = 0; i < n; i++) {
          const c = cands[i]!;
          eligible[i] = (state.serverUp || c.local) && accurateEnough(c, request.minAccuracy) ? 1 : 0;
          totalsFor(c, state.link, t);
          latencyMs[i] = t.latencyMs;
          energyJ[i] = t.energyJ;
        }
      }
      const pricesChanged = pricing.from(state.current);
      if (linkChanged || pricesChanged) {
        let best = -1;
        let bestMs = Number.POSITIVE_INFINITY;
        let bestE = Number.POSITIVE_INFINITY;
        for (let i = 0; i < n; i++) {
          if (eligible[i] === 0) continue;
          const lat = latencyMs[i]! + pricing.timeMs(i);
          const e = energyJ[i]! + pricing.energyJ(i);
          if (lat < bestMs || (lat === bestMs && e < bestE)) {
            best = i;
            bestMs = lat;
            bestE = e;
          }
        }
        const previous = chosen;
        chosen = best;
        if (best >= 0) {
          chosenMs = bestMs;
          if (linkChanged || best !== previous || chosenPrediction === null) {
            totalsFor(cands[best]!, state.link, t);
            chosenShift = t.shiftMs;
            chosenLatency = t.latencyMs;
            chosenPrediction = frozen(predictionOf(cands[best]!, t));
          }
        }
      }
      const best = chosen;
      if (best < 0) throw noCandidate("neurosurgeon", cands, all, request.minAccuracy, state.serverUp);
      const bestMs = chosenMs;
      const c = cands[best]!;
      const predicted = chosenPrediction as Prediction;
      const switchCost = pricing.parts(best);
      const probability = probabilityFor(c, chosenShift, chosenLatency, switchCost?.timeMs ?? 0, d, rule, state.link, predicted.breakdownMs);
      const down = state.serverUp ? "" : "server down, all-on-device only: ";
      return {
        entry: c.entry,
        index: best,
        predicted,
        probability,
        feasible: bestMs <= d,
        reason: `${down}lowest predicted mean latency (${ms(bestMs)}${bestMs <= d ? "" : `, beyond ${ms(d)}`}, P ${prob(probability)})${switchNote(switchCost)}`,
        switchCost,
      };
    },
  };
}
