/**
 * A live benchmark's way to a splitwatt daemon (a URL, or the in-process one): readiness, the
 * status (which model and front it runs, its energy source), the model's inputs from its
 * metadata, and infer with `deadline_ms` and `policy` (Open Inference Protocol, binary tensors,
 * keep-alive). A daemon that cannot be reached, wants a token or is not a splitwatt daemon is a
 * one-line user error naming what to do.
 */
import { Pool } from "undici";
import { z } from "zod";
import { MalformedError, UnreachableError, UsageError } from "../errors.js";
import { seededFloats } from "../runtime/syntheticInputs.js";
import { timeoutSignal } from "../transport/timeoutSignal.js";
import { allocateTypedArray, DATATYPES, encodeInferRequest, isDatatype, type FixedDatatype, type OipTensor } from "../transport/oip/index.js";

/** What the benchmark reads of GET /v1/status. */
const statusSchema = z.object({
  model: z.object({ name: z.string().min(1), spec: z.string(), sha256: z.string() }),
  front: z.object({ path: z.string(), configurations: z.number() }).partial().optional(),
  energy: z.object({ device: z.union([z.string(), z.array(z.string())]), estimated: z.boolean(), board: z.string().nullable().optional(), meter: z.string().nullable().optional() }).partial().optional(),
  server: z.object({ url: z.string().optional() }).nullable().optional(),
});
export type DaemonStatus = z.infer<typeof statusSchema>;

const metadataSchema = z.object({ inputs: z.array(z.object({ name: z.string().min(1), datatype: z.string(), shape: z.array(z.number().int()) })).min(1) });

export type InferOutcome = { ok: true; parameters: unknown } | { ok: false; status: number; message: string };

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

function errorCode(err: unknown): string {
  const own = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown } }).cause?.code;
  return typeof cause === "string" ? cause : typeof own === "string" ? own : "";
}

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === "string") return j.error;
  } catch {
    // not JSON
  }
  return text.slice(0, 200).replace(/\s+/g, " ");
}

export class LiveDaemonClient {
  private readonly pool: Pool;
  private readonly base: URL;

  private constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {
    this.base = new URL(url);
    this.pool = new Pool(this.base.origin, { connections: 2, keepAliveTimeout: 30_000, pipelining: 1 });
  }

  /** Connect and check the daemon is ready (one line, exit 2, when it is not there). */
  static async open(url: string, opts: { token?: string | undefined } = {}): Promise<LiveDaemonClient> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new UsageError(`--daemon ${url} is not a URL: give the URL splitwatt daemon printed, e.g. http://127.0.0.1:8001, or --daemon alone for an in-process one`);
    }
    if (parsed.protocol !== "http:") throw new UsageError(`--daemon ${url}: only http:// daemons are supported by bench; give its http URL (splitwatt daemon listens on http unless given --tls-cert)`);
    const c = new LiveDaemonClient(url, opts.token);
    try {
      const r = await c.get("/v2/health/ready");
      if (r.status !== 200) throw new UsageError(`the daemon at ${url} is not ready (${r.status}: ${errorText(r.text)}): wait until it has started, or restart it`);
      return c;
    } catch (err) {
      await c.close();
      throw err;
    }
  }

  private path(p: string): string {
    return `${this.base.pathname.replace(/\/+$/, "")}${p}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token === undefined ? {} : { authorization: `Bearer ${this.token}` }), ...extra };
  }

  private unreachable(err: unknown): unknown {
    const code = errorCode(err);
    if (!UNREACHABLE.has(code) && !(err instanceof TypeError)) return err;
    return new UnreachableError(
      `cannot reach the daemon at ${this.url} (${code || (err as Error).message}): start it with splitwatt daemon (it prints its URL), check the host and port, or give --daemon without a URL for an in-process one`,
      { cause: err },
    );
  }

  private async get(p: string): Promise<{ status: number; text: string }> {
    try {
      const r = await this.pool.request({ method: "GET", path: this.path(p), headers: this.headers(), headersTimeout: 10_000, bodyTimeout: 10_000 });
      const text = await r.body.text();
      if (r.statusCode === 401) throw new UsageError(`the daemon at ${this.url} wants a bearer token: set SPLITWATT_TOKEN to the daemon's --token`);
      return { status: r.statusCode, text };
    } catch (err) {
      throw this.unreachable(err);
    }
  }

  private async getJson(p: string, what: string): Promise<unknown> {
    const r = await this.get(p);
    if (r.status !== 200) throw new UsageError(`the daemon at ${this.url} answered ${r.status} to ${p} (${errorText(r.text)}): is it a splitwatt daemon?`);
    try {
      return JSON.parse(r.text);
    } catch {
      throw new UsageError(`the daemon at ${this.url} sent ${what} that is not JSON: is it a splitwatt daemon?`);
    }
  }

  /** GET /v1/status: which model and front it runs, its device energy source. */
  async status(): Promise<DaemonStatus> {
    const r = statusSchema.safeParse(await this.getJson("/v1/status", "a status"));
    if (!r.success) throw new UsageError(`the status of ${this.url} lacks what a splitwatt daemon says (${r.error.issues[0]?.path.join(".") ?? "status"}): is it a splitwatt daemon?`);
    return r.data;
  }

  /**
   * The model's inputs from its metadata, one item each (symbolic dimensions as 1): seeded
   * uniform floats in [-1, 1) for floating inputs, zeros for the others.
   */
  async inputs(model: string, seed: number): Promise<OipTensor[]> {
    const r = metadataSchema.safeParse(await this.getJson(`/v2/models/${encodeURIComponent(model)}`, "model metadata"));
    if (!r.success) throw new UsageError(`the metadata of model ${model} at ${this.url} lists no inputs: is it a splitwatt daemon?`);
    return r.data.inputs.map((t, i) => {
      const dt = t.datatype;
      if (!isDatatype(dt) || dt === "BYTES") throw new UsageError(`model ${model}'s input ${t.name} is ${dt}: bench sends numeric tensors only`);
      const shape = t.shape.map((d) => (d > 0 ? d : 1));
      const n = shape.reduce((a, b) => a * b, 1);
      if (n * DATATYPES[dt].size > 256 << 20) throw new UsageError(`model ${model}'s input ${t.name} of shape [${shape.join(",")}] is over 256 MiB: bench sends one item per request`);
      const data = dt === "FP32" ? seededFloats(n, seed * 7919 + i) : dt === "FP64" ? Float64Array.from(seededFloats(n, seed * 7919 + i)) : allocateTypedArray(dt as FixedDatatype, n);
      return { name: t.name, datatype: dt, shape, data };
    });
  }

  /**
   * One request with the given scheduling parameters. An error status is returned (the caller
   * counts it); not reaching the daemon throws an UnreachableError, an abort the signal's reason.
   */
  async infer(model: string, inputs: OipTensor[], parameters: Record<string, string | number>, opts: { signal?: AbortSignal | undefined; timeoutMs: number }): Promise<InferOutcome> {
    const req = encodeInferRequest({ inputs, parameters }, { binary: true });
    const chunks = Array.isArray(req.body) ? req.body : [req.body];
    const timeoutMs = Math.ceil(opts.timeoutMs);
    const guard = timeoutSignal(opts.signal, timeoutMs);
    const signal = guard.signal;
    let r;
    let text: string;
    try {
      r = await this.pool.request({
        method: "POST",
        path: this.path(`/v2/models/${encodeURIComponent(model)}/infer`),
        headers: this.headers(req.headers),
        body: chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal,
      });
      text = await r.body.text();
    } catch (err) {
      if (opts.signal?.aborted === true) throw opts.signal.reason;
      if (guard.timedOut()) return { ok: false, status: 0, message: `no answer within ${timeoutMs} ms` };
      throw this.unreachable(err);
    } finally {
      guard.dispose();
    }
    if (r.statusCode !== 200) return { ok: false, status: r.statusCode, message: errorText(text) };
    try {
      return { ok: true, parameters: (JSON.parse(text) as { parameters?: unknown }).parameters };
    } catch {
      throw new MalformedError(`the daemon at ${this.url} answered an infer request with a body that is not JSON: is it a splitwatt daemon?`);
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}
