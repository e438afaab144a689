/**
 * The daemon's Prometheus metrics (its own registry, base units, checked by `promtool check
 * metrics` in the tests). Gauges of state that lives elsewhere (breaker, queue, estimates,
 * frequency) are read at scrape time through `collect`; an estimate that is unknown is NaN.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

export interface MetricsSources {
  breakerValue: () => number;
  breakerTrips: () => number;
  queueDepth: () => number;
  queueRunning: () => number;
  bandwidthMbps: () => number | null;
  rttMs: () => number | null;
  serverWaitMs: () => number | null;
  /** the device's head time now over as measured (DeviceSpeed) */
  headScale: () => number;
  /** how much heads vary now (coefficient of variation; null: unknown) */
  headCv: () => number | null;
  cpuFreqMHz: () => number | null;
  gpuFreqMHz: () => number | null;
  ready: () => boolean;
}

const LATENCY_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10];
const ENERGY_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

export function daemonMetrics(src: MetricsSources) {
  const registry = new Registry();
  const r = [registry];
  const nanOr = (v: number | null): number => (v === null ? Number.NaN : v);
  const requests = new Counter({ name: "splitwatt_daemon_requests_total", help: "HTTP requests by route and status", labelNames: ["route", "status"], registers: r });
  const decisions = new Counter({ name: "splitwatt_daemon_decisions_total", help: "Requests answered, by policy and the configuration it chose (canonical key)", labelNames: ["policy", "config"], registers: r });
  const deadlines = new Counter({ name: "splitwatt_daemon_deadline_total", help: "Answered requests by policy and whether their deadline was met (hit) or not (miss)", labelNames: ["policy", "result"], registers: r });
  const infeasible = new Counter({ name: "splitwatt_daemon_infeasible_total", help: "Requests no configuration was predicted to meet, by policy and what was done (ran the fastest, or rejected)", labelNames: ["policy", "action"], registers: r });
  const latency = new Histogram({ name: "splitwatt_daemon_latency_seconds", help: "Time from a request's arrival to its result, by policy", labelNames: ["policy"], buckets: LATENCY_BUCKETS, registers: r });
  const energy = new Histogram({ name: "splitwatt_daemon_energy_joules", help: "Energy per request by part (device, network, server) and the source of the figure", labelNames: ["part", "source"], buckets: ENERGY_BUCKETS, registers: r });
  const fallbacks = new Counter({ name: "splitwatt_daemon_fallbacks_total", help: "Requests answered from the device instead of the tail server, by reason", labelNames: ["reason"], registers: r });
  const switches = new Counter({ name: "splitwatt_daemon_frequency_switches_total", help: "CPU frequency switches", registers: r });
  const switchTime = new Histogram({ name: "splitwatt_daemon_frequency_switch_seconds", help: "Time of one CPU frequency switch (writes and read-back)", buckets: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05], registers: r });
  const acceleratorSwitches = new Counter({ name: "splitwatt_daemon_accelerator_switches_total", help: "Head runs on another device target than the previous head run, by the target switched to", labelNames: ["target"], registers: r });
  const acceleratorSwitchTime = new Histogram({
    name: "splitwatt_daemon_accelerator_switch_seconds",
    help: "What the first head run after an accelerator switch took beyond that head's steady time (heads stay loaded), by target",
    labelNames: ["target"],
    buckets: [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5],
    registers: r,
  });
  const gpuSwitches = new Counter({ name: "splitwatt_daemon_gpu_frequency_switches_total", help: "GPU clock changes", registers: r });
  const gpuSwitchTime = new Histogram({ name: "splitwatt_daemon_gpu_frequency_switch_seconds", help: "Time of one GPU clock change (writes and read-back)", buckets: [0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.05], registers: r });
  const queueRejected = new Counter({ name: "splitwatt_daemon_queue_rejected_total", help: "Requests refused with 429 because the device queue was full", registers: r });
  const streamItems = new Counter({ name: "splitwatt_daemon_stream_items_total", help: "Items of infer-batch and stream requests by result: ok, fallback (tail run on the device after a server failure), failed", labelNames: ["result"], registers: r });
  const probes = new Counter({ name: "splitwatt_daemon_probes_total", help: "Probes of the tail server by kind (rtt, bandwidth, readmission) and outcome", labelNames: ["kind", "outcome"], registers: r });
  new Gauge({ name: "splitwatt_daemon_ready", help: "1 when the heads are loaded and the daemon serves", registers: r, collect() { this.set(src.ready() ? 1 : 0); } });
  new Gauge({ name: "splitwatt_daemon_breaker_state", help: "The tail server's circuit breaker: 0 closed, 1 half-open, 2 open", registers: r, collect() { this.set(src.breakerValue()); } });
  new Gauge({ name: "splitwatt_daemon_breaker_trips", help: "Times the circuit breaker opened since start", registers: r, collect() { this.set(src.breakerTrips()); } });
  new Gauge({ name: "splitwatt_daemon_queue_depth", help: "Head executions waiting in the device queue", registers: r, collect() { this.set(src.queueDepth()); } });
  new Gauge({ name: "splitwatt_daemon_queue_running", help: "Head executions running", registers: r, collect() { this.set(src.queueRunning()); } });
  new Gauge({ name: "splitwatt_daemon_bandwidth_estimate_bytes_per_second", help: "Uplink bandwidth estimate (NaN: unknown)", registers: r, collect() { const v = src.bandwidthMbps(); this.set(v === null ? Number.NaN : (v * 1e6) / 8); } });
  new Gauge({ name: "splitwatt_daemon_rtt_estimate_seconds", help: "Round-trip estimate (NaN: unknown)", registers: r, collect() { const v = src.rttMs(); this.set(v === null ? Number.NaN : v / 1000); } });
  new Gauge({ name: "splitwatt_daemon_server_wait_estimate_seconds", help: "The tail server's queue wait estimate (NaN: unknown)", registers: r, collect() { const v = src.serverWaitMs(); this.set(v === null ? Number.NaN : v / 1000); } });
  new Gauge({ name: "splitwatt_daemon_head_time_scale", help: "The device's head time now over as measured in the front (1: as measured)", registers: r, collect() { this.set(src.headScale()); } });
  new Gauge({ name: "splitwatt_daemon_head_time_cv", help: "How much the device's head times vary now: standard deviation over mean of recent heads' ratios to the front (NaN: unknown)", registers: r, collect() { this.set(nanOr(src.headCv())); } });
  new Gauge({ name: "splitwatt_daemon_cpu_frequency_hertz", help: "CPU frequency the daemon applied (NaN: not controlled or not set yet)", registers: r, collect() { this.set(nanOr(src.cpuFreqMHz()) * 1e6); } });
  new Gauge({ name: "splitwatt_daemon_gpu_frequency_hertz", help: "GPU clock the daemon applied (NaN: not controlled or not set yet)", registers: r, collect() { this.set(nanOr(src.gpuFreqMHz()) * 1e6); } });
  return { registry, requests, decisions, deadlines, infeasible, latency, energy, fallbacks, switches, switchTime, acceleratorSwitches, acceleratorSwitchTime, gpuSwitches, gpuSwitchTime, queueRejected, probes, streamItems };
}

export type DaemonMetrics = ReturnType<typeof daemonMetrics>;
