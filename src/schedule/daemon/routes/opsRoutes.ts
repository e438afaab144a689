/** Operations: `GET /v1/status` (JSON) and `GET /metrics` (Prometheus text). */
import { sendResponse } from "../../../transport/http/sendResponse.js";
import type { DaemonContext } from "../daemonContext.js";
import type { Route } from "../router.js";

export function opsRoutes(d: DaemonContext): Route[] {
  return [
    { name: "status", methods: ["GET"], pattern: /^\/v1\/status$/, auth: true, handle: async ({ res }) => sendResponse(res, 200, JSON.stringify(d.status(), null, 2)) },
    {
      name: "metrics",
      methods: ["GET"],
      pattern: /^\/metrics$/,
      auth: true,
      handle: async ({ res }) => sendResponse(res, 200, Buffer.from(await d.metrics.registry.metrics()), { "Content-Type": d.metrics.registry.contentType }),
    },
  ];
}
