/**
 * The daemon's endpoints as a table: each route a method list, a path pattern, whether it needs
 * the bearer token, and a handler. Endpoints are added by adding a route module to the table
 * (daemon.ts); a handler throws HttpError (or a SplitwattError the daemon maps) for 4xx/5xx.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../../transport/http/httpError.js";

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** the pattern's capture groups, percent-decoded */
  params: string[];
}

export interface Route {
  /** the metrics label */
  name: string;
  methods: readonly string[];
  pattern: RegExp;
  /** false for the health endpoints (no token needed) */
  auth: boolean;
  handle(ctx: RouteContext): Promise<void>;
}

/** The route of `path`, its decoded captures, or an HttpError (404, 405, 400 for bad percent-encoding). */
export function matchRoute(routes: readonly Route[], method: string, path: string): { route: Route; params: string[] } {
  let allowed: string[] = [];
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m === null) continue;
    if (!route.methods.includes(method)) {
      allowed = [...allowed, ...route.methods];
      continue;
    }
    const params = m.slice(1).map((g) => {
      try {
        return decodeURIComponent(g ?? "");
      } catch {
        throw new HttpError(400, `${path.slice(0, 80)} is not valid percent-encoding: encode names with encodeURIComponent`);
      }
    });
    return { route, params };
  }
  if (allowed.length > 0) throw new HttpError(405, `${path} takes ${[...new Set(allowed)].join(", ")}`, { Allow: [...new Set(allowed)].join(", ") });
  throw new HttpError(404, `no such endpoint: ${method} ${path.slice(0, 120)}; this daemon serves /v2/models/<model>/infer, /v1/models/<model>/classify, /v1/models/<model>/infer-batch, /v1/models/<model>/stream, /v2/health/live|ready, /v2/models/<model>, /v1/status and /metrics`);
}
