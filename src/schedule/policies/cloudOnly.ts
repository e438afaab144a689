/**
 * `cloud-only`: the lowest-energy configuration that runs all on the server (the split
 * dimension at 0, placement.ts), its energy predicted under the current link and server load
 * (ties: higher accuracy, then lower predicted latency). The deadline does not enter the choice;
 * the decision is marked infeasible when the predicted mean latency exceeds it. While the server
 * is down: DynaSplit's rule over the all-on-device configurations (candidates.ts
 * firstWithinDeadline), so the request is still answered.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import { costTotals, type Prediction } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, byEnergy, firstWithinDeadline, frozen, joules, LinkMemo, ms, noCandidate, predictionOf, prepareCandidates, prob, probabilityFor, totalsFor } from "./candidates.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function cloudOnly(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const prepared = prepareCandidates(doc.archive, doc);
  const server = prepared.filter((c) => c.placement === "server");
  if (server.length === 0) throw new UsageError("policy cloud-only: the pareto file has no all-on-server configuration (split or layer 0); optimize with it in the space, or choose another policy");
  const cands = [...server, ...prepared.filter((c) => c.local)];
  const serverIdx = server.map((_, i) => i);
  const localOrder = byEnergy(cands, cands.map((_, i) => i).filter((i) => cands[i]!.local));
  const rule = probabilityRule(opts);
  const memo = new LinkMemo();
  let chosen = -1;
  let chosenE = 0;
  let chosenShift = 0;
  let chosenLatency = 0;
  let chosenPrediction: Prediction | null = null;
  const t = costTotals();

  return {
    name: "cloud-only",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      if (!state.serverUp) {
        const pick = firstWithinDeadline(cands, localOrder, d, request.minAccuracy, false);
        if (pick === null) throw noCandidate("cloud-only", cands, localOrder, request.minAccuracy, false);
        const c = cands[pick.index]!;
        totalsFor(c, state.link, t);
        const predicted = predictionOf(c, t);
        const probability = probabilityFor(c, t.shiftMs, t.latencyMs, 0, d, rule, state.link, { head: t.headMs, transfer: t.transferMs });
        return {
          entry: c.entry,
          index: pick.index,
          predicted,
          probability,
          feasible: pick.feasible,
          reason: `server down: ${pick.feasible ? "lowest-energy all-on-device configuration within the deadline" : "no all-on-device configuration within the deadline, the fastest"} (${ms(c.entry.latencyMs)})`,
          switchCost: null,
        };
      }
      // the choice does not depend on the deadline: kept until the link or accuracy floor change
      if (memo.changed(state.link, true, request.minAccuracy)) {
        let best = -1;
        let bestE = Number.POSITIVE_INFINITY;
        let bestAcc = -1;
        let bestMs = Number.POSITIVE_INFINITY;
        for (const i of serverIdx) {
          const c = cands[i]!;
          if (!accurateEnough(c, request.minAccuracy)) continue;
          totalsFor(c, state.link, t);
          const e = t.energyJ;
          const acc = c.accuracy ?? -1;
          if (e < bestE || (e === bestE && (acc > bestAcc || (acc === bestAcc && t.latencyMs < bestMs)))) {
            best = i;
            bestE = e;
            bestAcc = acc;
            bestMs = t.latencyMs;
          }
        }
        chosen = best;
        if (best >= 0) {
          totalsFor(cands[best]!, state.link, t);
          chosenE = bestE;
          chosenShift = t.shiftMs;
          chosenLatency = t.latencyMs;
          chosenPrediction = frozen(predictionOf(cands[best]!, t));
        }
      }
      const best = chosen;
      if (best < 0) throw noCandidate("cloud-only", cands, serverIdx, request.minAccuracy, true);
      const bestE = chosenE;
      const c = cands[best]!;
      const predicted = chosenPrediction as Prediction;
      const probability = probabilityFor(c, chosenShift, chosenLatency, 0, d, rule, state.link, predicted.breakdownMs);
      return {
        entry: c.entry,
        index: best,
        predicted,
        probability,
        feasible: predicted.latencyMs <= d,
        reason: `lowest-energy all-on-server configuration (${joules(bestE)}, predicted ${ms(predicted.latencyMs)}${predicted.latencyMs <= d ? "" : `, beyond ${ms(d)}`}, P ${prob(probability)})`,
        switchCost: null,
      };
    },
  };
}
