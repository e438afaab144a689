/**
 * `splitwatt` (the default policy): the least expected energy that meets the deadline with the
 * target probability, over every configuration of the file's ARCHIVE (a configuration off the
 * front under the conditions it was measured in can be the best under today's), each
 * re-predicted under the current link and server load by the cost model.
 *
 * Per request with deadline D, for each configuration c (only those with accuracy >= the
 * request's minAccuracy when it gives one; only all-on-device ones while the server is down):
 *
 *   prediction  = costModel.predictCore(c, link), unknown link figures taken as c was measured
 *   switch      = c's CPU frequency differs from the current configuration's (or nothing runs
 *                 yet): the switch's time is added to every latency sample, its energy to E
 *   E(c)        = predicted total energy + switch energy
 *   P(c)        = meetProbability(predicted samples + switch time, D)   (meetProbability.ts:
 *                 the empirical share, guarded by a fitted normal tail below 1/(1 - target)
 *                 samples)
 *
 *   eligible    = { c : P(c) >= target }
 *   best        = argmin E over eligible (ties: higher P, then lower predicted latency)
 *   hysteresis  : the current configuration, when it is eligible, is kept unless best saves
 *                 more than `hysteresis` (a fraction) of its expected energy
 *   none eligible: the most likely to meet D (highest P; ties: lower predicted latency, then
 *                 lower E), and the decision is marked infeasible
 *
 * So a configuration below the target is never chosen while one at or above it exists.
 */
import { canonicalConfigKey, type Config } from "../../contracts/measurement.js";
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { predict, predictCore } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, frequencyDimension, fullLink, joules, linkFor, ms, noCandidate, prepareCandidates, prob } from "./candidates.js";
import { meetProbability } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

export function splitwatt(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc);
  const all = cands.map((_, i) => i);
  const keyIndex = new Map(cands.map((c, i) => [c.key, i]));
  const freqDim = frequencyDimension(doc.space);
  const rule = probabilityRule(opts);
  const { target, hysteresis, switchCost } = opts;
  // memo of the last current configuration's index (the daemon passes the same object until it switches)
  let memoConfig: Config | null = null;
  let memoIndex = -1;
  const indexOf = (config: Config): number => {
    if (config !== memoConfig) {
      memoConfig = config;
      memoIndex = keyIndex.get(canonicalConfigKey(config)) ?? -1;
    }
    return memoIndex;
  };

  return {
    name: "splitwatt",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      const minAccuracy = request.minAccuracy;
      const full = fullLink(state.link);
      const current = state.current;
      const currentIndex = current === null ? -1 : indexOf(current);
      const currentFreq = current === null || freqDim === null ? undefined : current[freqDim];
      const switches = (i: number): boolean => freqDim !== null && (current === null || cands[i]!.freq !== currentFreq);

      let considered = 0;
      let eligible = 0;
      let best = -1;
      let bestE = Number.POSITIVE_INFINITY;
      let bestP = -1;
      let bestMs = Number.POSITIVE_INFINITY;
      let likely = -1;
      let likelyP = -1;
      let likelyMs = Number.POSITIVE_INFINITY;
      let likelyE = Number.POSITIVE_INFINITY;
      let currentE = Number.NaN;
      let currentP = -1;
      for (let i = 0; i < cands.length; i++) {
        const c = cands[i]!;
        if ((!state.serverUp && !c.local) || !accurateEnough(c, minAccuracy)) continue;
        considered++;
        const core = predictCore(c.entry, full ?? linkFor(c, state.link));
        const sw = switches(i);
        const extraMs = sw ? switchCost.timeMs : 0;
        const e = core.energyJ.total + (sw ? switchCost.energyJ : 0);
        const lat = core.latencyMs + extraMs;
        const p = meetProbability(c.entry.latency.samples, core.shiftMs, core.latencyMs, extraMs, c.spreadMs, d, rule);
        if (i === currentIndex) {
          currentE = e;
          currentP = p;
        }
        if (p >= target) {
          eligible++;
          if (e < bestE || (e === bestE && (p > bestP || (p === bestP && lat < bestMs)))) {
            best = i;
            bestE = e;
            bestP = p;
            bestMs = lat;
          }
        }
        if (p > likelyP || (p === likelyP && (lat < likelyMs || (lat === likelyMs && e < likelyE)))) {
          likely = i;
          likelyP = p;
          likelyMs = lat;
          likelyE = e;
        }
      }
      if (considered === 0) throw noCandidate("splitwatt", cands, all, minAccuracy, state.serverUp);

      const down = state.serverUp ? "" : "server down, all-on-device only: ";
      let index: number;
      let probability: number;
      let reason: string;
      if (best < 0) {
        index = likely;
        probability = likelyP;
        reason = `${down}no configuration meets ${ms(d)} with P >= ${target}: the most likely (P ${prob(likelyP)}, predicted ${ms(likelyMs)})`;
      } else if (currentP >= target && currentIndex !== best && bestE >= currentE * (1 - hysteresis)) {
        index = currentIndex;
        probability = currentP;
        const saves = currentE > 0 ? (1 - bestE / currentE) * 100 : 0;
        reason = `${down}kept the current configuration (P ${prob(currentP)} >= ${target}, ${joules(currentE)}): the best saves ${saves.toFixed(1)}%, not more than ${(hysteresis * 100).toFixed(1)}%`;
      } else {
        index = best;
        probability = bestP;
        reason = `${down}lowest expected energy (${joules(bestE)}) with P ${prob(bestP)} >= ${target} of meeting ${ms(d)}; ${eligible} of ${considered} configurations qualify`;
      }
      const c = cands[index]!;
      return {
        entry: c.entry,
        index,
        predicted: predict(c.entry, full ?? linkFor(c, state.link)),
        probability,
        feasible: best >= 0,
        reason,
        switchCost: switches(index) ? { ...switchCost } : null,
      };
    },
  };
}
