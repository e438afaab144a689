/**
 * DynaSplit's static baselines (May et al., 2024: "latency" and "energy"), fixed points of the
 * pareto FRONT chosen once, when the policy is built, and run for every request:
 *
 *   static-fastest      the front sorted by mean latency ascending, the first (ties: lower
 *                       energy, then the file's order)
 *   static-min-energy   the front sorted by energy ascending, the first (ties: higher accuracy,
 *                       then lower latency, then the file's order: DynaSplit's ordering)
 *
 * Each then behaves as `static` with that configuration (staticConfig.ts: predicted under the
 * current link for the report, infeasible when the prediction exceeds the deadline, and the
 * all-on-device fallback while the server is down).
 */
import type { LoadedParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import type { Policy } from "../policy.js";
import { byEnergy, prepareCandidates } from "./candidates.js";
import type { PolicyOptions } from "./policyOptions.js";
import { staticConfig } from "./staticConfig.js";

function fixed(name: string, file: LoadedParetoFile, opts: PolicyOptions, pick: (file: LoadedParetoFile) => number): Policy {
  if (file.doc.front.length === 0) throw new UsageError(`policy ${name}: the pareto file's front is empty (nothing met its constraints); optimize again with looser constraints`);
  const entry = file.doc.front[pick(file)]!;
  const inner = staticConfig(file, { ...opts, config: entry.config });
  return { name, candidates: inner.candidates, decide: (request, state) => inner.decide(request, state) };
}

/** The index of the front's fastest configuration (mean latency; ties: lower energy, then order). */
export function fastestOfFront(file: LoadedParetoFile): number {
  const f = file.doc.front;
  let best = 0;
  for (let i = 1; i < f.length; i++) {
    const a = f[i]!;
    const b = f[best]!;
    if (a.latencyMs < b.latencyMs || (a.latencyMs === b.latencyMs && a.energyJ.total < b.energyJ.total)) best = i;
  }
  return best;
}

/** The index of the front's lowest-energy configuration (DynaSplit's ordering). */
export function minEnergyOfFront(file: LoadedParetoFile): number {
  const cands = prepareCandidates(file.doc.front, file.doc);
  return byEnergy(cands, cands.map((_, i) => i))[0]!;
}

export function staticFastest(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  return fixed("static-fastest", file, opts, fastestOfFront);
}

export function staticMinEnergy(file: LoadedParetoFile, opts: PolicyOptions): Policy {
  return fixed("static-min-energy", file, opts, minEnergyOfFront);
}
