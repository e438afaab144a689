/**
 * `http:URL#PATH` (and the `shelly:` / `tasmota:` shorthands): GET the URL every period and take
 * the watts at the dot path of its JSON answer. One keep-alive connection.
 */
import { Pool } from "undici";
import type { MeterSpec } from "../../contracts/meterSpec.js";
import type { MeterOpenOptions } from "./meter.js";
import { MeterTrace } from "./meterTrace.js";
import { PollingMeter } from "./pollingMeter.js";

type HttpSpec = Extract<MeterSpec, { kind: "http" }>;

/** The number at `path` in `json` (numbers index arrays; a numeric string counts), else a one-line reason. */
export function wattsAtPath(json: unknown, path: readonly string[]): number {
  let v: unknown = json;
  for (let i = 0; i < path.length; i++) {
    const key = path[i] as string;
    if (Array.isArray(v) && /^\d+$/.test(key)) v = v[Number(key)];
    else if (v !== null && typeof v === "object" && Object.hasOwn(v, key)) v = (v as Record<string, unknown>)[key];
    else throw new Error(`no "${path.slice(0, i + 1).join(".")}" in the answer`);
  }
  const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : Number.NaN;
  if (!Number.isFinite(n)) throw new Error(`"${path.join(".")}" is ${JSON.stringify(v)?.slice(0, 40)}, not a number of watts`);
  return n;
}

export class HttpMeter extends PollingMeter {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly headers: Record<string, string>;

  constructor(spec: HttpSpec, label: string, opts: MeterOpenOptions) {
    super(spec, label, new MeterTrace(label, opts.onWarning ?? (() => undefined)), opts);
    const url = new URL(spec.url);
    this.path = `${url.pathname}${url.search}`;
    const auth = url.username === "" ? null : `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
    this.headers = { accept: "application/json", ...(auth === null ? {} : { authorization: auth }) };
    this.pool = new Pool(url.origin, { connections: 1, keepAliveTimeout: 30_000, connectTimeout: this.timeoutMs });
    this.start();
  }

  protected async readOnce(signal: AbortSignal): Promise<number> {
    const spec = this.spec as HttpSpec;
    let res;
    try {
      res = await this.pool.request({ method: "GET", path: this.path, headers: this.headers, signal, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new Error(code === "ECONNREFUSED" ? `connection refused by ${new URL(spec.url).host}` : `request failed: ${code ?? (err as Error).message}`);
    }
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode > 299) throw new Error(`HTTP ${res.statusCode} from ${spec.url}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`the answer is not JSON (${JSON.stringify(text.slice(0, 40))})`);
    }
    return wattsAtPath(json, spec.path);
  }

  protected async release(): Promise<void> {
    await this.pool.destroy().catch(() => undefined);
  }
}
