/**
 * What the policies share: a pareto entry prepared once for fast decisions (placement,
 * accuracy, CPU frequency, key, the spread of its samples, the conditions it was measured
 * under), the link figures resolved per candidate, the accuracy and server-down filters, and
 * the error when nothing is left to choose from.
 */
import { canonicalConfigKey, type Config, type ConfigValue } from "../../contracts/measurement.js";
import type { ParetoEntry, ParetoFile } from "../../contracts/paretoFile.js";
import { SplitwattError } from "../../errors.js";
import { coreOf, costConstants, measuredBandwidthMbps, predictionOfCore, predictTotals, type CostConstants, type CostTotals, type LinkState, type Prediction } from "../../predict/costModel.js";
import { placementOf, splitAxis, type Placement } from "../placement.js";
import type { KnownLink, ObservedRuns, PolicyState } from "../policy.js";
import { meetProbability, sampleSpreadMs, type ProbabilityRule } from "./meetProbability.js";

/** The dimensions that hold the device's CPU frequency (live, replay). */
export const FREQUENCY_DIMENSIONS = ["cpuFreqMHz", "cpu-freq"] as const;

/** No configuration passes the request's filters (accuracy, server down). The daemon answers 4xx or runs the whole model locally. */
export class NoCandidateError extends SplitwattError {
  constructor(message: string) {
    super("E_NO_CANDIDATE", message, { exitCode: 2 });
  }
}

export interface Candidate {
  entry: ParetoEntry;
  key: string;
  placement: Placement;
  /** all on the device: the only kind allowed while the server is down */
  local: boolean;
  /** localRunKey of the configuration when local (the key of its runs in PolicyState.observedLocal), else null */
  runKey: string | null;
  accuracy: number | null;
  /** the CPU frequency dimension's value, undefined without one */
  freq: ConfigValue | undefined;
  /** standard deviation of the measured latency samples */
  spreadMs: number;
  /** figures the entry was measured under, for link figures that are unknown now */
  measured: { bandwidthMbps: number; rttMs: number; serverWaitMs: number };
  /** the cost model's constants of the entry */
  cost: CostConstants;
}

/** What an all-on-device run does not use: how a cut tensor is encoded and where the tail runs. */
const NOT_LOCAL = new Set(["codec", "serverTarget"]);

/**
 * The key the daemon records an all-on-device configuration's runs under: the canonical key
 * without the dimensions such a run does not use (NOT_LOCAL: it sends nothing, so entries that
 * differ only in them are the same run).
 */
export function localRunKey(config: Config): string {
  const own: Config = {};
  for (const [k, v] of Object.entries(config)) if (!NOT_LOCAL.has(k)) own[k] = v;
  return canonicalConfigKey(own);
}

/**
 * The device's own recent runs of `c` when it runs all on the device and the state has them
 * (PolicyState.observedLocal), else null: the policy then prices `c` from them (their mean, and
 * meetProbability over them) instead of from its pareto samples and the head scale. They are
 * this device's runs of this very configuration, fresh: the head scale's floor of 1 (never
 * faster than the front, for an extrapolation from other heads) does not apply to them.
 */
export function observedOf(c: Candidate, state: PolicyState): ObservedRuns | null {
  if (c.runKey === null || state.observedLocal === undefined) return null;
  return state.observedLocal.get(c.runKey) ?? null;
}

/** `p` (an all-on-device configuration's prediction) with its latency from the device's recent runs `o`: the mean, the samples, the head. */
export function observedPrediction(p: Prediction, o: ObservedRuns): Prediction {
  return { ...p, latencyMs: o.meanMs, samplesMs: [...o.samplesMs], breakdownMs: p.breakdownMs === null ? null : { ...p.breakdownMs, head: o.meanMs } };
}

/** The space's CPU-frequency dimension, or null. */
export function frequencyDimension(space: ParetoFile["space"]): string | null {
  return FREQUENCY_DIMENSIONS.find((n) => space.dimensions.some((d) => d.name === n)) ?? null;
}

/** Prepare `entries` of `doc` (computed once per policy). */
export function prepareCandidates(entries: readonly ParetoEntry[], doc: ParetoFile): Candidate[] {
  const axis = splitAxis(doc.space);
  const freqDim = frequencyDimension(doc.space);
  return entries.map((entry) => {
    const placement = placementOf(entry, axis);
    return {
      entry,
      key: canonicalConfigKey(entry.config),
      placement,
      local: placement === "device",
      runKey: placement === "device" ? localRunKey(entry.config) : null,
      accuracy: entry.accuracy?.value ?? null,
      freq: freqDim === null ? undefined : entry.config[freqDim],
      spreadMs: sampleSpreadMs(entry.latency.samples),
      measured: {
        // no measured bandwidth: the payload time is kept as measured, whatever the rate (costModel)
        bandwidthMbps: measuredBandwidthMbps(entry) ?? Number.POSITIVE_INFINITY,
        rttMs: entry.conditions.rttMs ?? 0,
        serverWaitMs: entry.conditions.serverWaitMs ?? 0,
      },
      cost: costConstants(entry),
    };
  });
}

/** `link` as a LinkState when every figure is known (one then serves every candidate), else null. */
export function fullLink(link: KnownLink): LinkState | null {
  const { bandwidthMbps: bw, rttMs, serverWaitMs } = link;
  if (bw === null || bw === undefined || rttMs === null || rttMs === undefined || serverWaitMs === null || serverWaitMs === undefined) return null;
  return { bandwidthMbps: bw, rttMs, serverWaitMs, radio: link.radio, headScale: link.headScale ?? 1 };
}

/** The LinkState to predict `c` under: the known figures, the measured ones for the rest (what totalsFor does without the object). */
export function linkFor(c: Candidate, link: KnownLink): LinkState {
  return {
    bandwidthMbps: link.bandwidthMbps ?? c.measured.bandwidthMbps,
    rttMs: link.rttMs ?? c.measured.rttMs,
    serverWaitMs: link.serverWaitMs ?? c.measured.serverWaitMs,
    radio: link.radio,
    headScale: link.headScale ?? 1,
  };
}

/** Predict `c` under `link` into `out` (the cost model's rule; figures the link leaves unknown as `c` was measured). */
export function totalsFor(c: Candidate, link: KnownLink, out: CostTotals): CostTotals {
  return predictTotals(c.cost, link.bandwidthMbps ?? c.measured.bandwidthMbps, link.rttMs ?? c.measured.rttMs, link.serverWaitMs ?? c.measured.serverWaitMs, link.radio, out, link.headScale ?? 1);
}

/**
 * The spread to price `c`'s probability with, ms. The measured samples' standard deviation s_m is
 * what the front saw; the daemon sees how much the parts vary now: the heads by `link.headCv`
 * and the link by `link.bandwidthCv` (fractions of their means), of the head and the transfer as
 * predicted now (`headMs`, `transferMs`: a transfer at 5 Mbit/s varies by more ms than the same
 * one at 100). With either known and non-zero, the parts add as independent variances:
 *
 *   spread = sqrt(s_m^2 + (headCv x headMs)^2 + (bandwidthCv x transferMs)^2),   tail = true
 *
 * (the measured spread already holds some of the head's and the link's: counted twice, on the
 * safe side), and meetProbability fits the normal tail at any number of samples. Else s_m.
 */
export function spreadOf(c: Candidate, headMs: number, transferMs: number, link: KnownLink): { spreadMs: number; tail: boolean } {
  const h = (link.headCv ?? 0) * headMs;
  const x = (link.bandwidthCv ?? 0) * transferMs;
  if (!(h > 0) && !(x > 0)) return { spreadMs: c.spreadMs, tail: false };
  return { spreadMs: Math.sqrt(c.spreadMs * c.spreadMs + (h > 0 ? h * h : 0) + (x > 0 ? x * x : 0)), tail: true };
}

/** P(c meets `deadlineMs`) from its predicted samples (shift, mean, extra) and a spread from spreadOf. */
export function probabilityWith(c: Candidate, shiftMs: number, latencyMs: number, extraMs: number, deadlineMs: number, rule: ProbabilityRule, spread: { spreadMs: number; tail: boolean }): number {
  return meetProbability(c.entry.latency.samples, shiftMs, latencyMs, extraMs, spread.spreadMs, deadlineMs, rule, spread.tail);
}

/** probabilityWith, the spread priced for the head and transfer as predicted (`parts`). */
export function probabilityFor(c: Candidate, shiftMs: number, latencyMs: number, extraMs: number, deadlineMs: number, rule: ProbabilityRule, link: KnownLink, parts: { head: number; transfer: number } | null): number {
  return probabilityWith(c, shiftMs, latencyMs, extraMs, deadlineMs, rule, spreadOf(c, parts?.head ?? 0, parts?.transfer ?? 0, link));
}

/** The full prediction of `c` from its totals (as `predict` gives it). */
export function predictionOf(c: Candidate, t: CostTotals): Prediction {
  return predictionOfCore(c.entry, coreOf(c.cost, t));
}

/** Whether `c` passes a request's accuracy floor (an unknown accuracy does not). */
export function accurateEnough(c: Candidate, minAccuracy: number | undefined): boolean {
  return minAccuracy === undefined || (c.accuracy !== null && c.accuracy >= minAccuracy);
}

/** A configuration as measured, for policies that do not predict. */
export function asMeasured(entry: ParetoEntry): Prediction {
  const b = entry.breakdownMs;
  const parts = b.head !== null && b.transfer !== null && b.server !== null;
  return {
    latencyMs: entry.latencyMs,
    samplesMs: entry.latency.samples.length > 0 ? [...entry.latency.samples] : [entry.latencyMs],
    breakdownMs: parts ? { head: b.head ?? 0, encode: b.encode ?? 0, transfer: b.transfer ?? 0, server: b.server ?? 0, decode: b.decode ?? 0 } : null,
    energyJ: { ...entry.energyJ },
    perPart: false,
  };
}

/** Energy ascending, ties: higher accuracy first, then lower latency, then the file's order (DynaSplit's ordering). */
export function byEnergy(cands: readonly Candidate[], indices: readonly number[]): number[] {
  return [...indices].sort((a, b) => {
    const x = cands[a] as Candidate;
    const y = cands[b] as Candidate;
    return x.entry.energyJ.total - y.entry.energyJ.total || (y.accuracy ?? -1) - (x.accuracy ?? -1) || x.entry.latencyMs - y.entry.latencyMs || a - b;
  });
}

/** The one-line error when no candidate passes the filters. */
export function noCandidate(policy: string, cands: readonly Candidate[], pool: readonly number[], minAccuracy: number | undefined, serverUp: boolean): NoCandidateError {
  const within = pool.map((i) => cands[i] as Candidate).filter((c) => serverUp || c.local);
  if (within.length === 0) {
    return new NoCandidateError(
      serverUp
        ? `policy ${policy} has no configuration to choose from`
        : `the server is down and policy ${policy} has no all-on-device configuration to fall back to; add one to the pareto file (optimize with the last cut in the space)`,
    );
  }
  const best = Math.max(...within.map((c) => c.accuracy ?? -1));
  return new NoCandidateError(
    best < 0
      ? `no configuration has a known accuracy, so min accuracy ${minAccuracy} cannot be met; drop min accuracy or optimize with accuracy`
      : `no configuration${serverUp ? "" : " that runs on the device (the server is down)"} reaches accuracy ${minAccuracy} (the best has ${best.toFixed(4)}); ask for ${best.toFixed(4)} or less`,
  );
}

/** Values for the reason lines. */
export const ms = (x: number): string => `${x < 10 ? x.toFixed(2) : x.toFixed(1)} ms`;
export const joules = (x: number): string => `${x < 1 ? x.toPrecision(3) : x.toFixed(2)} J`;
export const prob = (x: number): string => x.toFixed(3);

/**
 * DynaSplit's rule over `ordered` (indices by energy ascending, see byEnergy): the first whose
 * mean latency as measured is within the deadline; if none, the fastest (lowest mean latency,
 * ties: the lower energy). Only candidates passing the accuracy floor, and only all-on-device
 * ones while the server is down. Null when none passes.
 */
export function firstWithinDeadline(
  cands: readonly Candidate[],
  ordered: readonly number[],
  deadlineMs: number,
  minAccuracy: number | undefined,
  serverUp: boolean,
): { index: number; feasible: boolean } | null {
  let fastest = -1;
  let fastestMs = Number.POSITIVE_INFINITY;
  for (const i of ordered) {
    const c = cands[i] as Candidate;
    if ((!serverUp && !c.local) || !accurateEnough(c, minAccuracy)) continue;
    if (c.entry.latencyMs <= deadlineMs) return { index: i, feasible: true };
    if (c.entry.latencyMs < fastestMs) {
      fastestMs = c.entry.latencyMs;
      fastest = i;
    }
  }
  return fastest < 0 ? null : { index: fastest, feasible: false };
}

/** A prediction made once and handed to every decision: frozen, so no caller can change it for the next. */
export function frozen(p: Prediction): Prediction {
  Object.freeze(p.samplesMs);
  if (p.breakdownMs !== null) Object.freeze(p.breakdownMs);
  Object.freeze(p.energyJ);
  return Object.freeze(p);
}

/**
 * The link, server state and accuracy floor a policy last decided under, so what depends only
 * on them (the choice of a policy the deadline does not enter, the chosen configuration's
 * prediction) is reused until one of them changes: a replay holds the link for a whole trace
 * step, the daemon's estimates move slowly. `changed` compares by value and remembers.
 */
export class LinkMemo {
  private bw: unknown = Number.NaN;
  private rtt: unknown = Number.NaN;
  private wait: unknown = Number.NaN;
  private tx: unknown = Number.NaN;
  private rx: unknown = Number.NaN;
  private up: unknown = Number.NaN;
  private acc: unknown = Number.NaN;
  private scale: unknown = Number.NaN;

  changed(link: KnownLink, serverUp = true, minAccuracy?: number): boolean {
    const bw = link.bandwidthMbps ?? null;
    const rtt = link.rttMs ?? null;
    const wait = link.serverWaitMs ?? null;
    const tx = link.radio === undefined ? undefined : (link.radio?.txW ?? null);
    const rx = link.radio === undefined ? undefined : (link.radio?.rxW ?? null);
    const scale = link.headScale ?? 1;
    if (bw === this.bw && rtt === this.rtt && wait === this.wait && tx === this.tx && rx === this.rx && scale === this.scale && serverUp === this.up && minAccuracy === this.acc) return false;
    this.scale = scale;
    this.bw = bw;
    this.rtt = rtt;
    this.wait = wait;
    this.tx = tx;
    this.rx = rx;
    this.up = serverUp;
    this.acc = minAccuracy;
    return true;
  }
}
