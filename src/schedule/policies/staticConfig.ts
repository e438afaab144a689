/**
 * `static`: one given configuration for every request, predicted under the current link and
 * server load for the report; it must be in the file's archive (an evaluated configuration).
 * The decision is marked infeasible when its predicted mean latency exceeds the deadline. A
 * request whose minAccuracy it does not reach is refused (NoCandidateError). While the server
 * is down and the configuration sends something: DynaSplit's rule over the all-on-device
 * configurations (candidates.ts firstWithinDeadline), so the request is still answered.
 */
import { canonicalConfigKey, type Config, type ConfigValue } from "../../contracts/measurement.js";
import type { LoadedParetoFile, ParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import { costTotals, type Prediction } from "../../predict/costModel.js";
import type { Decision, Policy, PolicyRequest, PolicyState } from "../policy.js";
import { byEnergy, firstWithinDeadline, frozen, LinkMemo, ms, noCandidate, predictionOf, prepareCandidates, prob, probabilityFor, totalsFor } from "./candidates.js";
import { probabilityRule, type PolicyOptions } from "./policyOptions.js";

const show = (c: Config, space: ParetoFile["space"]): string => space.dimensions.map((d) => `${d.name}=${String(c[d.name])}`).join(",");

/** `dim=value,dim=value` as a configuration of `space` (values matched by their text; booleans in any case). */
export function parseConfigSpec(spec: string, space: ParetoFile["space"]): Config {
  const config: Config = {};
  for (const part of spec.split(",").map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf("=");
    if (eq <= 0) throw new UsageError(`configuration "${spec}": "${part}" is not dim=value; write it as ${space.dimensions.map((d) => `${d.name}=${String(d.values[0])}`).join(",")}`);
    const name = part.slice(0, eq).trim();
    const text = part.slice(eq + 1).trim();
    const dim = space.dimensions.find((d) => d.name === name);
    if (dim === undefined) throw new UsageError(`configuration "${spec}": no dimension "${name}"; the file's are ${space.dimensions.map((d) => d.name).join(", ")}`);
    const value = dim.values.find((v: ConfigValue) => (typeof v === "boolean" ? String(v) === text.toLowerCase() : String(v) === text));
    if (value === undefined) throw new UsageError(`configuration "${spec}": ${name}=${text} is not a value of ${name}; use one of ${dim.values.map(String).join(", ")}`);
    config[name] = value;
  }
  const missing = space.dimensions.filter((d) => !(d.name in config)).map((d) => d.name);
  if (missing.length > 0) throw new UsageError(`configuration "${spec}" lacks ${missing.join(", ")}; give every dimension (${space.dimensions.map((d) => d.name).join(", ")})`);
  return config;
}

export function staticConfig(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  const { doc } = file;
  if (opts.config === undefined) throw new UsageError("policy static needs a configuration: give config (e.g. --config layer=22,cpu-freq=800,...) from the file's archive");
  const wanted = typeof opts.config === "string" ? parseConfigSpec(opts.config, doc.space) : opts.config;
  const key = canonicalConfigKey(wanted);
  const prepared = prepareCandidates(doc.archive, doc);
  const own = prepared.find((c) => c.key === key);
  if (own === undefined) {
    const example = doc.front[0] === undefined ? "" : `, e.g. ${show(doc.front[0].config, doc.space)}`;
    throw new UsageError(`policy static: configuration ${show(wanted, doc.space)} is not in the pareto file's archive (${doc.archive.length} evaluated configurations); give one of them${example}`);
  }
  const cands = [own, ...prepared.filter((c) => c.local && c !== own)];
  const localOrder = byEnergy(cands, cands.map((_, i) => i).filter((i) => cands[i]!.local));
  const rule = probabilityRule(opts);
  const t = costTotals();
  const memo = new LinkMemo();
  let ownShift = 0;
  let ownLatency = 0;
  let ownPrediction: Prediction | null = null;

  return {
    name: "static",
    candidates: cands.map((c) => c.entry),
    decide(request: PolicyRequest, state: PolicyState): Decision {
      const d = request.deadlineMs;
      let index = 0;
      let reason: string;
      if (!state.serverUp && !own.local) {
        const pick = firstWithinDeadline(cands, localOrder, d, request.minAccuracy, false);
        if (pick === null) throw noCandidate("static", cands, localOrder, request.minAccuracy, false);
        index = pick.index;
        reason = `server down: ${pick.feasible ? "lowest-energy all-on-device configuration within the deadline" : "no all-on-device configuration within the deadline, the fastest"} instead of the static one`;
      } else {
        if (request.minAccuracy !== undefined && !(own.accuracy !== null && own.accuracy >= request.minAccuracy)) {
          throw noCandidate("static", cands, [0], request.minAccuracy, true);
        }
        reason = "the static configuration";
      }
      const c = cands[index]!;
      let predicted: Prediction;
      let probability: number;
      if (index === 0) {
        // the static configuration's prediction: kept until the link changes
        if (memo.changed(state.link)) {
          totalsFor(c, state.link, t);
          ownShift = t.shiftMs;
          ownLatency = t.latencyMs;
          ownPrediction = frozen(predictionOf(c, t));
        }
        predicted = ownPrediction as Prediction;
        probability = probabilityFor(c, ownShift, ownLatency, 0, d, rule, state.link, predicted.breakdownMs);
      } else {
        totalsFor(c, state.link, t);
        predicted = predictionOf(c, t);
        probability = probabilityFor(c, t.shiftMs, t.latencyMs, 0, d, rule, state.link, { head: t.headMs, transfer: t.transferMs });
      }
      const feasible = predicted.latencyMs <= d;
      return { entry: c.entry, index, predicted, probability, feasible, reason: `${reason} (predicted ${ms(predicted.latencyMs)}${feasible ? "" : `, beyond ${ms(d)}`}, P ${prob(probability)})`, switchCost: null };
    },
  };
}
