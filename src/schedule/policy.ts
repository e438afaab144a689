/**
 * The interface every online policy (and benchmark strategy) implements: given one request and
 * the state of the world, pick a configuration. Policies are pure: state and clock are passed
 * in, so the daemon (real clock, live estimates) and the replay simulator (simulated clock,
 * traces) run the same code. A policy is built once per pareto file (its candidates are fixed,
 * precomputed at construction) and `decide` is called per request; it must be fast (the
 * daemon's budget is tens of microseconds for hundreds of candidates).
 */
import type { Config } from "../contracts/measurement.js";
import type { ParetoEntry } from "../contracts/paretoFile.js";
import type { LinkState, Prediction } from "../predict/costModel.js";

/** One request, as a policy sees it. */
export interface PolicyRequest {
  /** the request's latency deadline, ms from its arrival */
  deadlineMs: number;
  /** the lowest acceptable accuracy (a fraction), if any */
  minAccuracy?: number | undefined;
}

/**
 * The link and the server's queue as known now. A figure that is null (or absent) is unknown:
 * each configuration is then predicted under the figure it was measured with (its pareto entry's
 * conditions). A full `LinkState` is one; so is a `LinkEstimator`'s state, whose figures turn
 * null when they go stale.
 */
export interface KnownLink {
  /** uplink bandwidth, Mbit/s (> 0) */
  bandwidthMbps?: number | null | undefined;
  /** round trip added per request, ms */
  rttMs?: number | null | undefined;
  /** the server's queue wait, ms */
  serverWaitMs?: number | null | undefined;
  /** the radio's power while sending / receiving, W; absent: the record's */
  radio?: LinkState["radio"];
  /** the device's head time now over as measured (the daemon's DeviceSpeed); null or absent: as measured */
  headScale?: number | null | undefined;
  /**
   * how much the device's head times vary now, as a fraction of their mean (DeviceSpeed's
   * coefficient of variation); null or absent: as the measured samples vary
   */
  headCv?: number | null | undefined;
  /** how much the link's bandwidth varies now (sd / mean of the estimator's samples); null or absent: as the samples vary */
  bandwidthCv?: number | null | undefined;
}

/** What a policy knows of the world when it decides. */
export interface PolicyState {
  /** now, ms, on the caller's clock (monotonic in the daemon, simulated in replay) */
  nowMs: number;
  /** the current estimates of the link and the server's queue (a full LinkState, or figures left unknown) */
  link: KnownLink;
  /** false while the server is out (circuit breaker open): only configurations that send nothing may be chosen */
  serverUp: boolean;
  /** the configuration the device runs now (switching costs, hysteresis); null before the first request */
  current: Config | null;
  /**
   * the device's own recent runs of all-on-device configurations, by localRunKey (the daemon's
   * LocalRuns, fresh and with enough runs only); absent: every configuration is priced from the front
   */
  observedLocal?: ReadonlyMap<string, ObservedRuns> | undefined;
}

/** A configuration's recent runs on this device, as the policies read them (estimators/localRuns.ts). */
export interface ObservedRuns {
  /** ascending run times, ms */
  samplesMs: readonly number[];
  meanMs: number;
  /** sample standard deviation, ms */
  spreadMs: number;
}

export interface Decision {
  /** the chosen candidate */
  entry: ParetoEntry;
  /** its index in the policy's candidates */
  index: number;
  /** its latency and energy under the state (as measured, for policies that do not predict) */
  predicted: Prediction;
  /** the predicted probability of meeting the deadline */
  probability: number;
  /** false when no candidate was expected to meet the deadline (the decision is then the fastest) */
  feasible: boolean;
  /** why, in one line (for logs, /v1/status and `splitwatt decide`) */
  reason: string;
  /**
   * the switches the decision implies (from `state.current`: CPU frequency, accelerator, GPU
   * clock; policies/switchPricing.ts), counted in `probability` (and by splitwatt in the energy
   * it compares) but not in `predicted` (which is the configuration's own); null or absent when
   * there is none, it costs nothing, or the policy does not count switches
   */
  switchCost?: SwitchParts | null;
}

/** What a switch to the chosen configuration adds (policies/switchPricing.ts). */
export interface SwitchParts {
  /** the total time added to the request, ms */
  timeMs: number;
  /** the total energy added, J */
  energyJ: number;
  /** the CPU-frequency switch's time, ms (0: none) */
  cpuFreqMs: number;
  /** the accelerator switch's time, ms (0: none) */
  acceleratorMs: number;
  /** the GPU-clock switch's time, ms (0: none) */
  gpuFreqMs: number;
  /** parts whose cost was not measured, counted as a CPU-frequency switch */
  assumed: Array<"accelerator" | "gpuFreq">;
}

export interface Policy {
  readonly name: string;
  /** the configurations this policy chooses among, fixed at construction */
  readonly candidates: readonly ParetoEntry[];
  decide(request: PolicyRequest, state: PolicyState): Decision;
}
