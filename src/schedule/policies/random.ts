/**
 * `random`: a configuration of the pareto FRONT drawn uniformly for every request (a baseline
 * that knows the front but not the deadline). Pure: the draw is a hash of the options' seed,
 * the request's arrival time (state.nowMs) and its deadline, so the same request at the same
 * time gets the same configuration and no state is kept. While the server is down: DynaSplit's
 * rule over the all-on-device configurations (candidates.ts firstWithinDeadline), as the
 * other policies do. The decision is marked infeasible when its predicted mean latency exceeds
 * the deadline.
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { costTotals, type Prediction } from "../../predict/costModel.js";
import { byEnergy, firstWithinDeadline, frozen, LinkMemo, ms, noCandidate, predictionOf, prepareCandidates, prob, probabilityFor, totalsFor } from "./candidates.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";
import { fmix32 } from "../../fmix32.js";

const bits = new Float64Array(1);
const words = new Uint32Array(bits.buffer);

/** A uniform draw in [0, 1) from (seed, a, b): deterministic, no state. */
export function hashUniform(seed: number, a: number, b: number): number {
  let h = fmix32(seed >>> 0);
  bits[0] = a;
  h = fmix32(h ^ (words[0] as number));
  h = fmix32(h ^ (words[1] as number));
  bits[0] = b;
  h = fmix32(h ^ (words[0] as number));
  h = fmix32(h ^ (words[1] as number));
  return h / 4294967296;
}

export function random(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  if (doc.front.length === 0) throw new UsageError("policy random: the pareto file's front is empty (nothing met its constraints); optimize again with looser constraints");
  const front = prepareCandidates(doc.front, doc);
  const keys = new Set(front.map((c) => c.key));
  const cands = [...front, ...prepareCandidates(doc.archive, doc).filter((c) => c.local && !keys.has(c.key))];
  const localOrder = byEnergy(cands, cands.map((_, i) => i).filter((i) => cands[i]!.local));
  const rule = probabilityRule(opts);
  const seed = opts.seed;
  const t = costTotals();
  const allFront = front.map((_, i) => i);
  // predictions per candidate, kept until the link changes
  const memo = new LinkMemo();
  let predictions: ({ p: Prediction; shift: number; latency: number } | undefined)[] = [];

  return {
    name: "random",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      let index: number;
      let why: string;
      if (!state.serverUp) {
        const pick = firstWithinDeadline(cands, localOrder, d, request.minAccuracy, false);
        if (pick === null) throw noCandidate("random", cands, localOrder, request.minAccuracy, false);
        index = pick.index;
        why = "server down: lowest-energy all-on-device configuration within the deadline (else the fastest)";
      } else {
        const eligible = request.minAccuracy === undefined ? allFront : allFront.filter((i) => (cands[i]!.accuracy ?? -1) >= (request.minAccuracy as number));
        if (eligible.length === 0) throw noCandidate("random", cands, allFront, request.minAccuracy, true);
        index = eligible[Math.floor(hashUniform(seed, state.nowMs, d) * eligible.length)]!;
        why = `drawn uniformly from ${eligible.length} front configurations`;
      }
      const c = cands[index]!;
      if (memo.changed(state.link)) predictions = new Array(cands.length);
      let kept = predictions[index];
      if (kept === undefined) {
        totalsFor(c, state.link, t);
        kept = { p: frozen(predictionOf(c, t)), shift: t.shiftMs, latency: t.latencyMs };
        predictions[index] = kept;
      }
      const predicted = kept.p;
      const probability = probabilityFor(c, kept.shift, kept.latency, 0, d, rule, state.link, predicted.breakdownMs);
      const feasible = predicted.latencyMs <= d;
      return { entry: c.entry, index, predicted, probability, feasible, reason: `${why} (predicted ${ms(predicted.latencyMs)}, P ${prob(probability)})`, switchCost: null };
    },
  };
}
