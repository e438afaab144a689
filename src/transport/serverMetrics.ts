import { Counter, Gauge, Histogram, Registry } from "prom-client";

/** Prometheus metrics of one tail server (its own registry: several servers may share a process). */
export function serverMetrics() {
  const registry = new Registry();
  const requests = new Counter({ name: "splitwatt_requests_total", help: "HTTP requests by route and status", labelNames: ["route", "status"], registers: [registry] });
  const inferDuration = new Histogram({
    name: "splitwatt_infer_duration_seconds",
    help: "Time from request received to response sent for infer calls, by model",
    labelNames: ["model"],
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10],
    registers: [registry],
  });
  const computeDuration = new Histogram({
    name: "splitwatt_compute_duration_seconds",
    help: "onnxruntime run time of infer calls, by model",
    labelNames: ["model"],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
    registers: [registry],
  });
  const queueDepth = new Gauge({ name: "splitwatt_queue_depth", help: "Requests waiting for a free slot", registers: [registry] });
  const inFlight = new Gauge({ name: "splitwatt_in_flight", help: "Requests running", registers: [registry] });
  const errors = new Counter({ name: "splitwatt_errors_total", help: "Failed requests by status", labelNames: ["status"], registers: [registry] });
  const bytesIn = new Counter({ name: "splitwatt_request_bytes_total", help: "Request body bytes received", registers: [registry] });
  return { registry, requests, inferDuration, computeDuration, queueDepth, inFlight, errors, bytesIn };
}

export type ServerMetrics = ReturnType<typeof serverMetrics>;
