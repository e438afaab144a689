/**
 * What the daemon knows of the link and the tail server: uplink bandwidth, round trip and the
 * server's queue wait, each a windowed median (windowedMedian.ts: robust to outliers, follows a
 * step within (window + 1) / 2 observations, decays to its prior or to unknown when stale).
 * Pure: every observation and every read carries the time, on the caller's clock.
 *
 *   bandwidth: one sample per request that sent at least `minBytes`:
 *              bytes x 8 / (transferMs - RTT floor), Mbit/s, where transferMs is the request's
 *              time on the wire (TailClient's InferResult.transferMs = total - server time) and
 *              the RTT floor the smallest probe of the last RTT_FLOOR_MS (a minute) or of the RTT
 *              window, whichever is smaller (and at most the current estimate; its prior, or 0
 *              while unknown). The floor, not the median: a probe slowed by a busy machine, or
 *              queued behind a transfer on a busy link, would otherwise be taken out of every
 *              transfer and the rate would read high; the last minute's, not only the window's:
 *              on a link busy with back-to-back requests every probe of the window can have
 *              waited behind one (the daemon takes one on the idle link at start). A floor below
 *              the RTT now (it rose within the minute) only understates the rate. Requests
 *              whose payload time comes out <= 0 tell nothing. With `followDrops` (default)
 *              the estimate is never above the newest sample while that is fresh: a transfer
 *              slower than the median counts at once (until the next sample), a faster one
 *              only through the median; once stale, the estimate decays as any other.
 *              Deadlines suffer from a rate read high, not from one read low: at a step down
 *              (100 -> 5 Mbit/s) one request is sent at the old rate, not (window + 1) / 2 of
 *              them, and a slow outlier costs one decision on the safe side. `bandwidthCv`,
 *              how much the window's samples vary (sd / mean), prices the spread of a
 *              transfer's time (candidates.ts spreadOf)
 *   RTT:       from probes (observeRtt: e.g. the time of a GET /v2/health/ready)
 *   wait:      the server's own forecast for a new request (estimated_wait_ms), from every
 *              response; the last report's queue_depth, in_flight, server_time_ms and
 *              compute_time_ms are kept for /v1/status
 *
 * `state(nowMs)` is a KnownLink (policy.ts): a figure that is stale past its half-life and has
 * no prior is null, and the policies then predict each configuration under the figure it was
 * measured with. `probeDue` says that no bandwidth sample is younger than `probeAfterMs`: an
 * idle daemon should then send a probe (a request of at least minBytes) to refresh it.
 */
import type { InferResult } from "../../transport/tailClient.js";
import { WindowedMedian } from "./windowedMedian.js";

export interface LinkEstimatorOptions {
  /** bandwidth samples in the median (default 9) */
  window: number;
  /** RTT samples in the median (default 5) */
  rttWindow: number;
  /** server-wait reports in the median (default 3: the queue moves fast) */
  serverWindow: number;
  /** full confidence this long after the newest sample, ms (default 10 s) */
  freshMs: number;
  /** then confidence halves every halfLifeMs (default 20 s) */
  halfLifeMs: number;
  /** a probe is due when no bandwidth sample is younger than this, ms (default 5 s) */
  probeAfterMs: number;
  /** requests smaller than this say nothing of the bandwidth (default 4096 bytes) */
  minBytes: number;
  /** what each figure decays to when stale (default: unknown) */
  prior: { bandwidthMbps?: number | null; rttMs?: number | null; serverWaitMs?: number | null };
  /** the bandwidth estimate is at most the newest sample (default true; see above) */
  followDrops: boolean;
}

export const DEFAULT_LINK_ESTIMATOR: LinkEstimatorOptions = {
  window: 9,
  rttWindow: 5,
  serverWindow: 3,
  freshMs: 10_000,
  halfLifeMs: 20_000,
  probeAfterMs: 5_000,
  minBytes: 4096,
  prior: {},
  followDrops: true,
};

/** The server's load as its last response reported it. */
export interface ServerReport {
  atMs: number;
  queueDepth: number | null;
  inFlight: number | null;
  estimatedWaitMs: number | null;
  serverMs: number | null;
  computeMs: number | null;
}

/** The estimator's state: a KnownLink plus how old and how well-founded each figure is. */
export interface LinkEstimate {
  bandwidthMbps: number | null;
  /** how much the bandwidth samples of the window vary (standard deviation / mean), while fresh and from 3 samples on; else null */
  bandwidthCv: number | null;
  rttMs: number | null;
  serverWaitMs: number | null;
  /** ms since each figure's newest sample (null: never observed) */
  ageMs: { bandwidth: number | null; rtt: number | null; server: number | null };
  /** samples in each figure's window */
  samples: { bandwidth: number; rtt: number; server: number };
  /** 1 while fresh, halving every half-life after */
  confidence: { bandwidth: number; rtt: number; server: number };
  /** the last load report, null before the first */
  server: ServerReport | null;
  /** no bandwidth sample younger than probeAfterMs: send an idle probe */
  probeDue: boolean;
}

/** One request's transfer, as the estimator needs it. */
export interface TransferObservation {
  atMs: number;
  /** request body bytes sent */
  bytes: number;
  /** time on the wire: total - server time, ms */
  transferMs: number;
}

/** How far back the bandwidth's RTT floor looks for the smallest probe, ms (see above). */
export const RTT_FLOOR_MS = 60_000;

export class LinkEstimator {
  readonly options: LinkEstimatorOptions;
  private readonly bandwidth: WindowedMedian;
  private readonly rtt: WindowedMedian;
  /** the probes of the last RTT_FLOOR_MS that no later probe undercuts: times ascending, values ascending (its first is their minimum) */
  private readonly rttLows: Array<{ atMs: number; rttMs: number }> = [];
  private readonly wait: WindowedMedian;
  private lastReport: ServerReport | null = null;
  private lastBandwidthAtMs = Number.NEGATIVE_INFINITY;

  constructor(opts: Partial<LinkEstimatorOptions> = {}) {
    const o = { ...DEFAULT_LINK_ESTIMATOR, ...opts, prior: { ...DEFAULT_LINK_ESTIMATOR.prior, ...opts.prior } };
    this.options = o;
    const rule = (prior: number | null | undefined, blend: "linear" | "geometric") => ({ freshMs: o.freshMs, halfLifeMs: o.halfLifeMs, prior: prior ?? null, blend });
    this.bandwidth = new WindowedMedian(o.window, rule(o.prior.bandwidthMbps, "geometric"));
    this.rtt = new WindowedMedian(o.rttWindow, rule(o.prior.rttMs, "linear"));
    this.wait = new WindowedMedian(o.serverWindow, rule(o.prior.serverWaitMs, "linear"));
  }

  /** A request's bytes and time on the wire; returns the bandwidth sample taken, Mbit/s, or null when it says nothing. */
  observeTransfer(o: TransferObservation): number | null {
    if (!(o.bytes >= this.options.minBytes) || !Number.isFinite(o.transferMs)) return null;
    const current = this.rtt.estimate(o.atMs).value;
    const floor = current === null ? 0 : Math.min(current, this.rtt.min() ?? current, this.recentLowestRtt(o.atMs) ?? current);
    const payloadMs = o.transferMs - floor;
    if (!(payloadMs > 0)) return null;
    const mbps = (o.bytes * 8) / (payloadMs * 1000);
    this.bandwidth.observe(o.atMs, mbps);
    if (o.atMs > this.lastBandwidthAtMs) this.lastBandwidthAtMs = o.atMs;
    return mbps;
  }

  /** A round trip measured by a probe, ms. */
  observeRtt(atMs: number, rttMs: number): void {
    if (!(rttMs >= 0)) return;
    this.rtt.observe(atMs, rttMs);
    const lows = this.rttLows;
    while (lows.length > 0 && lows[lows.length - 1]!.rttMs >= rttMs) lows.pop();
    lows.push({ atMs, rttMs });
  }

  /** The smallest probe of the last RTT_FLOOR_MS before `nowMs`, null when none. */
  private recentLowestRtt(nowMs: number): number | null {
    const lows = this.rttLows;
    while (lows.length > 0 && lows[0]!.atMs < nowMs - RTT_FLOOR_MS) lows.shift();
    return lows.length === 0 ? null : lows[0]!.rttMs;
  }

  /** The load a tail server reported (LOAD_PARAMS of src/transport/tailServer.ts). */
  observeServer(atMs: number, r: Partial<Omit<ServerReport, "atMs">>): void {
    this.lastReport = {
      atMs,
      queueDepth: r.queueDepth ?? null,
      inFlight: r.inFlight ?? null,
      estimatedWaitMs: r.estimatedWaitMs ?? null,
      serverMs: r.serverMs ?? null,
      computeMs: r.computeMs ?? null,
    };
    if (r.estimatedWaitMs !== undefined && r.estimatedWaitMs !== null && r.estimatedWaitMs >= 0) this.wait.observe(atMs, r.estimatedWaitMs);
  }

  /** Everything one TailClient answer tells: its transfer and the server's load. */
  observeResponse(atMs: number, r: Pick<InferResult, "bytesSent" | "transferMs" | "serverMs" | "computeMs" | "load">): void {
    if (r.transferMs !== null) this.observeTransfer({ atMs, bytes: r.bytesSent, transferMs: r.transferMs });
    if (r.load !== null || r.serverMs !== null) {
      this.observeServer(atMs, {
        queueDepth: r.load?.queueDepth ?? null,
        inFlight: r.load?.inFlight ?? null,
        estimatedWaitMs: r.load?.estimatedWaitMs ?? null,
        serverMs: r.serverMs,
        computeMs: r.computeMs,
      });
    }
  }

  state(nowMs: number): LinkEstimate {
    const bw = this.bandwidth.estimate(nowMs);
    const rtt = this.rtt.estimate(nowMs);
    const wait = this.wait.estimate(nowMs);
    const newest = this.bandwidth.newest();
    return {
      bandwidthMbps: this.options.followDrops && bw.confidence === 1 && bw.value !== null && newest !== null ? Math.min(bw.value, newest) : bw.value,
      bandwidthCv: bw.confidence === 1 ? this.bandwidth.cv(3) : null,
      rttMs: rtt.value,
      serverWaitMs: wait.value,
      ageMs: { bandwidth: bw.ageMs, rtt: rtt.ageMs, server: wait.ageMs },
      samples: { bandwidth: bw.samples, rtt: rtt.samples, server: wait.samples },
      confidence: { bandwidth: bw.confidence, rtt: rtt.confidence, server: wait.confidence },
      server: this.lastReport === null ? null : { ...this.lastReport },
      probeDue: nowMs - this.lastBandwidthAtMs >= this.options.probeAfterMs,
    };
  }
}
