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
 *   switch      = what moving to c from the current configuration adds (switchPricing.ts): the
 *                 CPU frequency's, the accelerator's (the head's device target) and the GPU
 *                 clock's switch, each only when it changes (everything before the first
 *                 request); an unmeasured part counts as a CPU-frequency switch and is named
 *   E(c)        = predicted total energy + switch energy
 *   P(c)        = meetProbability(predicted samples + switch time, D)   (meetProbability.ts:
 *                 the empirical share, guarded by a fitted normal tail below 1/(1 - target)
 *                 samples; when the daemon knows how much heads and the link vary now
 *                 (KnownLink.headCv, bandwidthCv), the tail of the samples' spread widened by
 *                 those parts of c's prediction, at any number of samples: candidates.ts spreadOf)
 *   observed    : an all-on-device c the device has run lately (PolicyState.observedLocal, the
 *                 daemon's LocalRuns: at least 10 runs, the newest under a minute old) is
 *                 predicted at the mean of those runs (its energy as the front measured it) and
 *                 P(c) = meetProbability(those runs + switch time, D): what this device does
 *                 now, not what the front saw
 *
 *   eligible    = { c : P(c) >= target }
 *   best        = argmin E over eligible (ties: higher P, then lower predicted latency)
 *   hysteresis  : the current configuration, when it is eligible, is kept unless best saves
 *                 more than `hysteresis` (a fraction) of its expected energy
 *   none eligible: the most likely to meet D (highest P; ties: lower predicted latency, then
 *                 lower E), and the decision is marked infeasible
 *
 * So a configuration below the target is never chosen while one at or above it exists.
 *
 * How (the same answer, fewer evaluations; test/unit/policyMemo.test.ts): the predicted totals
 * are kept per link; the scan goes up the candidates by predicted energy (a heap built per
 * decision while the link changes, indexHeap.ts; a sorted order once the same link comes again)
 * and stops at the first candidate whose predicted energy exceeds the best eligible one's (a
 * switch only adds energy), so P is counted only for the cheaper ones. A candidate is skipped
 * without counting its samples when its k-th smallest predicted sample misses D (k the fewest of
 * its n samples with k / n >= target: the empirical share, which bounds P, is then below the
 * target), or when it has fewer samples than minSamples and its fitted normal tail is below the
 * target at D (P is at most that tail). When none qualifies the scan has seen them all and kept
 * the most likely of those it counted; only the skipped ones are counted then.
 */
import { canonicalConfigKey, type Config } from "../../contracts/measurement.js";
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { costTotals } from "../../predict/costModel.js";
import type { Decision, KnownLink, ObservedRuns, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { accurateEnough, joules, LinkMemo, ms, noCandidate, observedOf, observedPrediction, predictionOf, prepareCandidates, prob, probabilityWith, spreadOf, totalsFor, type Candidate } from "./candidates.js";
import { IndexHeap } from "./indexHeap.js";
import { meetProbability, normalCdf } from "./meetProbability.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";
import { SwitchPricing, switchNote } from "./switchPricing.js";

/**
 * A z below which normalCdf stays under `target`: the point where it reaches the target (by
 * bisection on normalCdf itself), less a margin far wider than its approximation error.
 */
export function zBelowTarget(target: number): number {
  let lo = -40;
  let hi = 40;
  for (let k = 0; k < 200 && hi - lo > 1e-12; k++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) >= target) hi = mid;
    else lo = mid;
  }
  return lo - 1e-3;
}

export function splitwatt(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  const cands = prepareCandidates(doc.archive, doc);
  const all = cands.map((_, i) => i);
  const keyIndex = new Map(cands.map((c, i) => [c.key, i]));
  const rule = probabilityRule(opts);
  const { target, hysteresis } = opts;
  const t = costTotals();
  // what a switch from the current configuration adds to each candidate
  const pricing = new SwitchPricing(doc.archive, doc.space, opts);
  // per link: every candidate's predicted totals and the candidates by predicted energy, recomputed
  // only when the link's figures change (the daemon's estimates move slowly; a replay holds them for a
  // whole trace step)
  const n = cands.length;
  const energyJ = new Float64Array(n);
  const latencyMs = new Float64Array(n);
  const shiftMs = new Float64Array(n);
  const headMs = new Float64Array(n);
  const transferMs = new Float64Array(n);
  const identity = Int32Array.from(all);
  // the all-on-device candidates, and the device's own runs of each as this decision sees them (null: none)
  const localIndices = all.filter((i) => cands[i]!.runKey !== null);
  const observedRuns: Array<ObservedRuns | null> = cands.map(() => null);
  let order = identity;
  let sorted = false;
  // the candidates by predicted energy, one at a time, for a link seen once (no full sort)
  const heap = new IndexHeap(energyJ);
  // the candidates a decision skipped without counting P (by their target sample or fitted tail; counted only when none qualifies)
  const skipped = new Int32Array(n);
  const memo = new LinkMemo();
  /** Recompute the totals when the link changed; sort by energy once the same link comes twice (a link that changes every time never pays for the sort). */
  const refresh = (link: KnownLink): void => {
    if (!memo.changed(link)) {
      if (!sorted) {
        order = Int32Array.from(all).sort((a, b) => energyJ[a]! - energyJ[b]! || a - b);
        sorted = true;
      }
      return;
    }
    for (let i = 0; i < n; i++) {
      totalsFor(cands[i]!, link, t);
      energyJ[i] = t.energyJ;
      latencyMs[i] = t.latencyMs;
      shiftMs[i] = t.shiftMs;
      headMs[i] = t.headMs;
      transferMs[i] = t.transferMs;
    }
    order = identity;
    sorted = false;
  };
  // P <= the empirical share, which reaches the target only if the k-th smallest predicted sample
  // is within the deadline, k the fewest of the n samples with k / n >= target: that sample per
  // candidate (NaN: no such bound, no samples or a target of 0), checked in O(1) before counting
  const targetSample = Float64Array.from(cands, (c) => {
    const xs = c.entry.latency.samples;
    const len = xs.length;
    if (len === 0) return Number.NaN;
    let k = Math.min(len, Math.max(0, Math.ceil(target * len)));
    while (k > 0 && (k - 1) / len >= target) k--;
    while (k < len && k / len < target) k++;
    return k === 0 ? Number.NaN : xs[k - 1]!;
  });
  /** false when candidate i's P is below the target for sure (its measured samples, moved as meetProbability moves them) */
  const reachable = (i: number, extraMs: number, deadlineMs: number): boolean => {
    const x = targetSample[i]!;
    return Number.isNaN(x) || Math.max(0, x + shiftMs[i]!) + extraMs <= deadlineMs;
  };
  // below this z the fitted normal tail is under the target, so P (at most that tail) is too
  const zFloor = zBelowTarget(target);
  /** cheap and safe: with fewer samples than minSamples, P <= the fitted tail, which is below the target here */
  const tailBelowTarget = (c: Candidate, spread: { spreadMs: number; tail: boolean }, meanMs: number, deadlineMs: number): boolean => {
    if (c.entry.latency.samples.length >= rule.minSamples && !spread.tail) return false;
    const sd = Math.max(spread.spreadMs, rule.cvFloor * meanMs);
    return sd > 0 && (deadlineMs - meanMs) / sd < zFloor;
  };
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
      pricing.from(current);

      refresh(link);
      const passes = (c: Candidate): boolean => (state.serverUp || c.local) && accurateEnough(c, minAccuracy);
      const spread = (i: number): { spreadMs: number; tail: boolean } => spreadOf(cands[i]!, headMs[i]!, transferMs[i]!, link);
      // an all-on-device configuration the device has run enough lately is priced from those runs (looked up once per decision)
      for (const i of localIndices) observedRuns[i] = observedOf(cands[i]!, state);
      const observed = (i: number): ObservedRuns | null => observedRuns[i]!;
      const latencyOf = (i: number, extraMs: number): number => (observed(i)?.meanMs ?? latencyMs[i]!) + extraMs;
      const probabilityOf = (i: number, extraMs: number, sp = spread(i)): number => {
        const o = observed(i);
        if (o !== null) return meetProbability(o.samplesMs, 0, o.meanMs, extraMs, o.spreadMs, d, rule);
        return probabilityWith(cands[i]!, shiftMs[i]!, latencyMs[i]!, extraMs, d, rule, sp);
      };

      let considered = 0;
      let skippedN = 0;
      // the most likely to meet the deadline (highest P; ties: lower predicted latency, lower E, lower index), for when none qualifies
      let likely = -1;
      let likelyP = -1;
      let likelyMs = Number.POSITIVE_INFINITY;
      let likelyE = Number.POSITIVE_INFINITY;
      const moreLikely = (i: number, p: number, lat: number, e: number): boolean =>
        p > likelyP || (p === likelyP && (lat < likelyMs || (lat === likelyMs && (e < likelyE || (e === likelyE && i < likely)))));
      let best = -1;
      let bestE = Number.POSITIVE_INFINITY;
      let bestP = -1;
      let bestMs = Number.POSITIVE_INFINITY;
      let currentE = Number.NaN;
      let currentP = -1;
      let currentSeen = false;
      // up the candidates by predicted energy: the sorted order once the link came before, else the
      // heap; in file order when none can qualify but the current or observed ones (P is counted
      // for those alone, the early stop would save nothing)
      let mode = sorted ? 0 : 2;
      if (!sorted) {
        let open = false;
        for (let i = 0; i < n && !open; i++) open = i !== currentIndex && observedRuns[i] === null && passes(cands[i]!) && reachable(i, pricing.timeMs(i), d);
        if (open) heap.reset();
        else mode = 1;
      }
      for (let k = 0; k < n; k++) {
        const i = mode === 0 ? order[k]! : mode === 1 ? k : heap.next();
        const c = cands[i]!;
        if (!passes(c)) continue;
        considered++;
        // every later candidate's energy is at least its predicted energy, which exceeds the best's
        if (mode !== 1 && best >= 0 && energyJ[i]! > bestE) break;
        const extraMs = pricing.timeMs(i);
        const e = energyJ[i]! + pricing.energyJ(i);
        const lat = latencyOf(i, extraMs);
        if (i !== currentIndex && observed(i) === null && !reachable(i, extraMs, d)) {
          skipped[skippedN++] = i;
          continue;
        }
        const sp = spread(i);
        if (i !== currentIndex && observed(i) === null && tailBelowTarget(c, sp, lat, d)) {
          skipped[skippedN++] = i;
          continue;
        }
        const p = probabilityOf(i, extraMs, sp);
        if (i === currentIndex) {
          currentE = e;
          currentP = p;
          currentSeen = true;
        }
        // ties go to the lower index, so the answer does not depend on the scan's order
        if (p >= target && (e < bestE || (e === bestE && (p > bestP || (p === bestP && (lat < bestMs || (lat === bestMs && i < best))))))) {
          best = i;
          bestE = e;
          bestP = p;
          bestMs = lat;
        }
        if (best < 0 && moreLikely(i, p, lat, e)) {
          likely = i;
          likelyP = p;
          likelyMs = lat;
          likelyE = e;
        }
      }
      if (currentIndex >= 0 && !currentSeen && passes(cands[currentIndex]!)) {
        currentE = energyJ[currentIndex]! + pricing.energyJ(currentIndex);
        currentP = probabilityOf(currentIndex, pricing.timeMs(currentIndex));
      }
      // none qualifies: the scan saw every candidate (no early stop without a best) and kept the
      // most likely of those it counted; the ones it skipped are counted now
      if (best < 0) {
        for (let k = 0; k < skippedN; k++) {
          const i = skipped[k]!;
          const extraMs = pricing.timeMs(i);
          const e = energyJ[i]! + pricing.energyJ(i);
          const lat = latencyOf(i, extraMs);
          const p = probabilityOf(i, extraMs);
          if (moreLikely(i, p, lat, e)) {
            likely = i;
            likelyP = p;
            likelyMs = lat;
            likelyE = e;
          }
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
        reason = `${down}lowest expected energy (${joules(bestE)}) with P ${prob(bestP)} >= ${target} of meeting ${ms(d)}`;
      }
      const c = cands[index]!;
      const switchCost = pricing.parts(index);
      const o = observed(index);
      return {
        entry: c.entry,
        index,
        predicted: o === null ? predictionOf(c, totalsFor(c, link, t)) : observedPrediction(predictionOf(c, totalsFor(c, link, t)), o),
        probability,
        feasible: best >= 0,
        reason: reason + (o === null ? "" : `; priced from the device's last ${o.samplesMs.length} runs of it`) + switchNote(switchCost),
        switchCost,
      };
    },
  };
}
