/**
 * `splitwatt` (the default policy): the least expected energy that meets the deadline with the
 * target probability, over every configuration of the file's ARCHIVE (a configuration off the
 * front under the conditions it was measured in can be the best under today's), each
 * re-predicted under the current link and server load by the cost model.
 *
 * Per request with deadline D, for each configuration c (only those with accuracy >= the
 * request's minAccuracy when it gives one; only all-on-device ones while the server is down):
 *
 *   prediction  = the cost model's rule (predictTotals on constants computed once per file),
 *                 unknown link figures taken as c was measured
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
import { costTotals } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, frequencyDimension, joules, ms, noCandidate, predictionOf, prepareCandidates, prob, totalsFor } from "./candidates.js";
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
  const t = costTotals();
  // the current configuration is usually one of the entries' own config objects (the daemon passes
  // the last decision's): found by identity, else by its canonical key
  const byObject = new Map<Config, number>(cands.map((c, i) => [c.entry.config, i]));
  let memoConfig: Config | null = null;
  let memoIndex = -1;
  const indexOf = (config: Config): number => {
    const i = byObject.get(config);
    if (i !== undefined) return i;
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
      const link = state.link;
      const current = state.current;
      const currentIndex = current === null ? -1 : indexOf(current);
      const currentFreq = current === null || freqDim === null ? undefined : current[freqDim];
      // a switch: a frequency dimension, and the candidate's value differs from the current one (unknown before the first request)
      const anySwitch = freqDim !== null;

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
        totalsFor(c, link, t);
        const sw = anySwitch && (current === null || c.freq !== currentFreq);
        const extraMs = sw ? switchCost.timeMs : 0;
        const e = t.energyJ + (sw ? switchCost.energyJ : 0);
        const lat = t.latencyMs + extraMs;
        const p = meetProbability(c.entry.latency.samples, t.shiftMs, t.latencyMs, extraMs, c.spreadMs, d, rule);
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
      const switched = anySwitch && (current === null || c.freq !== currentFreq) && (switchCost.timeMs > 0 || switchCost.energyJ > 0);
      return {
        entry: c.entry,
        index,
        predicted: predictionOf(c, totalsFor(c, link, t)),
        probability,
        feasible: best >= 0,
        reason,
        switchCost: switched ? { ...switchCost } : null,
      };
    },
  };
}
