import { setTimeout as sleepMs } from "node:timers/promises";
import { Pool, errors as undiciErrors } from "undici";
import { SplitwattError, UnreachableError, UsageError } from "../errors.js";
import { webgpuAdapterSchema, type WebGpuAdapter } from "../contracts/measurement.js";
import type { LoadSignal } from "./admission.js";
import { encodeTensor, type CodecSpec } from "./codecs/codecs.js";
import { decodeInferResponse, encodeInferRequest, type OipTensor } from "./oip/index.js";
import { LOAD_PARAMS } from "./tailServer.js";
import { timeoutSignal } from "./timeoutSignal.js";
import { TokenBucket } from "./tokenBucket.js";

/** A tail server answered with an error status (4xx/5xx); `message` is its `error` text. */
export class TailServerError extends SplitwattError {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterS: number | null = null,
  ) {
    super("E_IO", `tail server answered ${status}: ${message}`, { exitCode: status >= 500 ? 1 : 2 });
  }
}

export interface TailClientOptions {
  /** base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  token?: string | undefined;
  /** default per-request timeout (default 30 s) */
  timeoutMs?: number | undefined;
  /** keep-alive connections (default 4) */
  connections?: number | undefined;
  /** CA certificate(s) to trust for https:// (PEM), e.g. a self-signed server's */
  ca?: string | Buffer | undefined;
  /**
   * Emulate a slow link inside the client (when the kernel cannot shape, see linkEmulation.ts):
   * each request waits its body's upload time at uplinkMbps (a token bucket shared by all
   * requests of this client, so concurrent requests queue) plus rttMs, and each response its
   * download time at downlinkMbps. The wait happens around a fast local transfer, so it adds to
   * it rather than replacing it; InferResult.shapedMs reports it.
   */
  shape?: LinkShape | undefined;
}

export interface LinkShape {
  /** null: the uplink is not shaped here (e.g. the kernel shapes it) */
  uplinkMbps: number | null;
  downlinkMbps: number | null;
  /** added once per request (default 0) */
  rttMs?: number | undefined;
}

export interface InferOptions {
  /** binary tensor data extension (default true) */
  binary?: boolean | undefined;
  /** encode FP32 inputs with this codec (splitwatt servers only) */
  codec?: CodecSpec | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /** outputs to ask for (default all) */
  outputs?: string[] | undefined;
}

export interface InferResult {
  outputs: Record<string, OipTensor>;
  /** request body bytes (headers excluded) */
  bytesSent: number;
  bytesReceived: number;
  /** wall time of the call */
  totalMs: number;
  /** server's own time (server_time_ms), null for servers that do not report it */
  serverMs: number | null;
  /** totalMs - serverMs: the network and protocol share, for the bandwidth estimator */
  transferMs: number | null;
  /** the server's onnxruntime time (compute_time_ms), null when not reported */
  computeMs: number | null;
  /** the server's load (splitwatt servers), else null */
  load: LoadSignal | null;
  /** delay the client added to emulate `shape` (upload + RTT + download), ms; part of totalMs; 0 unshaped */
  shapedMs: number;
  /** of shapedMs, the time actually spent in the emulated RTT (a late timer on a busy machine included), ms */
  rttSleptMs: number;
  /** energy the server measured over its compute window (energy_j), J; null when it reports none */
  serverEnergyJ: number | null;
  /** the source of serverEnergyJ (energy_source), e.g. rapl */
  serverEnergySource: string | null;
  /** a batching server: rows in the batch this request ran in (batch_size); null otherwise */
  batchSize: number | null;
}

const RETRYABLE = new Set(["ECONNRESET", "ECONNREFUSED", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
/** Failures to reach a server at all: refused, reset, unknown host, no route, connect timeout */
const UNREACHABLE = new Set([...RETRYABLE, "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN", "ETIMEDOUT", "UND_ERR_CONNECT_TIMEOUT"]);

/**
 * A connection-level failure as the one-line user error it is (the server's URL is the user's,
 * and so is keeping that server up); anything else is returned unchanged.
 */
export function connectionError(err: unknown, url: URL, retried = false): unknown {
  if (err instanceof SplitwattError) return err;
  const code = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown } }).cause;
  const c = typeof code === "string" && code !== "UND_ERR_SOCKET" ? code : typeof cause?.code === "string" ? cause.code : typeof code === "string" ? code : "";
  if (UNREACHABLE.has(c)) {
    const what =
      c === "ECONNREFUSED"
        ? "connection refused"
        : c === "ENOTFOUND" || c === "EAI_AGAIN"
          ? "unknown host"
          : c === "ETIMEDOUT" || c === "UND_ERR_CONNECT_TIMEOUT"
            ? "connect timed out"
            : c === "EHOSTUNREACH" || c === "ENETUNREACH" || c === "EHOSTDOWN"
              ? "no route to the host"
              : "the server closed the connection";
    return new UnreachableError(
      `cannot reach the tail server at ${url.origin} (${what}, ${c}${retried ? ", also on a retry" : ""}): check that \`splitwatt serve\` is running there and did not crash (its log), and that the host and port are right and reachable`,
      { cause: err },
    );
  }
  if (/CERT|SELF_SIGNED|ERR_TLS|ERR_SSL/.test(c)) {
    return new UnreachableError(`TLS to the tail server at ${url.origin} failed (${c}): give the server's CA certificate (ca), or check its certificate's host name`, { cause: err });
  }
  return err;
}

/** Keep-alive Open Inference Protocol client with timeouts, cancellation and per-request byte counts. */
export class TailClient {
  private readonly pool: Pool;
  private readonly base: URL;
  private shaper: { up: TokenBucket | null; down: TokenBucket | null; rttMs: number } | null;

  constructor(private readonly opts: TailClientOptions) {
    this.base = new URL(opts.url);
    this.shaper = opts.shape === undefined ? null : shaper(opts.shape);
    this.pool = new Pool(this.base.origin, {
      connections: opts.connections ?? 4,
      keepAliveTimeout: 30_000,
      pipelining: 1,
      ...(opts.ca === undefined ? {} : { connect: { ca: opts.ca } }),
    });
  }

  /**
   * Change the emulated link from the next request on (undefined: no longer shaped); requests
   * already waiting on the old buckets finish at the old rate. A benchmark stepping a bandwidth
   * trace calls it (`splitwatt bench --daemon` with app shaping).
   */
  setShape(shape: LinkShape | undefined): void {
    this.shaper = shape === undefined ? null : shaper(shape);
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.opts.token === undefined ? {} : { authorization: `Bearer ${this.opts.token}` }), ...extra };
  }

  private path(p: string): string {
    return `${this.base.pathname.replace(/\/+$/, "")}${p}`;
  }

  async ready(): Promise<boolean> {
    try {
      const r = await this.pool.request({ method: "GET", path: this.path("/v2/health/ready"), headers: this.headers(), headersTimeout: 5_000, bodyTimeout: 5_000 });
      await r.body.dump();
      return r.statusCode === 200;
    } catch {
      return false;
    }
  }

  /**
   * The round trip of a GET /v2/health/live, ms: the quickest of `n` (the others waited for a
   * busy CPU, not for the network). Health requests are not shaped: the RTT this client adds
   * when it emulates a link is `emulatedRttMs`. Null when the server does not answer.
   */
  async ping(n = 5): Promise<number | null> {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      try {
        const r = await this.pool.request({ method: "GET", path: this.path("/v2/health/live"), headers: this.headers(), headersTimeout: 5_000, bodyTimeout: 5_000 });
        await r.body.dump();
      } catch {
        return null;
      }
      times.push(performance.now() - t0);
    }
    return Math.min(...times);
  }

  /** The RTT this client adds to every infer request when it emulates a link, ms (0 otherwise). */
  get emulatedRttMs(): number {
    return this.shaper?.rttMs ?? 0;
  }

  /**
   * The server metadata (GET /v2). A splitwatt server also says where it runs tails (`target`,
   * e.g. "cpu", "webgpu") and on which GPU adapter (`adapter`, null on a CPU target); other
   * Open Inference Protocol servers leave both out (null here).
   */
  async serverInfo(): Promise<{ name: string | null; target: string | null; adapter: WebGpuAdapter | null }> {
    const r = await this.pool.request({ method: "GET", path: this.path("/v2"), headers: this.headers() });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new TailServerError(r.statusCode, errorText(text));
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null) body = parsed as Record<string, unknown>;
    } catch {
      // not JSON: nothing known
    }
    const adapter = webgpuAdapterSchema.safeParse(body.adapter);
    return { name: typeof body.name === "string" ? body.name : null, target: typeof body.target === "string" ? body.target : null, adapter: adapter.success ? adapter.data : null };
  }

  async metadata(model: string): Promise<unknown> {
    const r = await this.pool.request({ method: "GET", path: this.path(`/v2/models/${encodeURIComponent(model)}`), headers: this.headers() }).catch((err: unknown) => {
      throw connectionError(err, this.base);
    });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new TailServerError(r.statusCode, errorText(text));
    return JSON.parse(text);
  }

  async infer(model: string, inputs: OipTensor[], opts: InferOptions = {}): Promise<InferResult> {
    const tensors = opts.codec === undefined ? inputs : inputs.map((t) => (t.datatype === "FP32" ? codecTensor(t, opts.codec as CodecSpec) : t));
    const binary = opts.binary ?? true;
    const req = encodeInferRequest(
      { inputs: tensors, ...(opts.outputs === undefined ? {} : { outputs: opts.outputs.map((name) => ({ name, binary })) }), ...(binary ? { parameters: { binary_data_output: true } } : {}) },
      { binary },
    );
    const chunks = Array.isArray(req.body) ? req.body : [req.body];
    const bytesSent = chunks.reduce((n, c) => n + c.length, 0);
    const timeoutMs = opts.timeoutMs ?? this.opts.timeoutMs ?? 30_000;
    for (let attempt = 0; ; attempt++) {
      const t0 = performance.now();
      // undici's own timers are coarse: enforce the timeout with an abort signal as well
      const guard = timeoutSignal(opts.signal, timeoutMs);
      const signal = guard.signal;
      let shapedMs = 0;
      let rttSleptMs = 0;
      try {
        if (this.shaper !== null) {
          if (this.shaper.up !== null) shapedMs += await this.shaper.up.take(bytesSent, signal);
          if (this.shaper.rttMs > 0) {
            const s0 = performance.now();
            await sleepMs(this.shaper.rttMs, undefined, { signal });
            rttSleptMs = performance.now() - s0;
            shapedMs += this.shaper.rttMs;
          }
        }
        const r = await this.pool.request({
          method: "POST",
          path: this.path(`/v2/models/${encodeURIComponent(model)}/infer`),
          headers: this.headers(req.headers),
          body: chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks),
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
          signal,
        });
        const buf = new Uint8Array(await r.body.arrayBuffer());
        if (this.shaper?.down != null) shapedMs += await this.shaper.down.take(buf.length, signal);
        const totalMs = performance.now() - t0;
        if (r.statusCode !== 200) {
          const retry = r.headers["retry-after"];
          throw new TailServerError(r.statusCode, errorText(new TextDecoder().decode(buf)), retry === undefined ? null : Number(retry));
        }
        const res = decodeInferResponse(buf, r.headers, { maxTensorBytes: 1 << 30, maxTensors: 1024 });
        const p = res.parameters ?? {};
        const serverMs = typeof p[LOAD_PARAMS.serverMs] === "number" ? (p[LOAD_PARAMS.serverMs] as number) : null;
        const load =
          typeof p[LOAD_PARAMS.queueDepth] === "number"
            ? { queueDepth: p[LOAD_PARAMS.queueDepth] as number, inFlight: Number(p[LOAD_PARAMS.inFlight] ?? 0), estimatedWaitMs: Number(p[LOAD_PARAMS.estimatedWaitMs] ?? 0) }
            : null;
        return {
          outputs: Object.fromEntries(res.outputs.map((o) => [o.name, o])),
          bytesSent,
          bytesReceived: buf.length,
          totalMs,
          serverMs,
          transferMs: serverMs === null ? null : Math.max(0, totalMs - serverMs),
          computeMs: typeof p[LOAD_PARAMS.computeMs] === "number" ? (p[LOAD_PARAMS.computeMs] as number) : null,
          load,
          shapedMs,
          rttSleptMs,
          serverEnergyJ: typeof p[LOAD_PARAMS.energyJ] === "number" ? (p[LOAD_PARAMS.energyJ] as number) : null,
          serverEnergySource: typeof p[LOAD_PARAMS.energySource] === "string" ? (p[LOAD_PARAMS.energySource] as string) : null,
          batchSize: typeof p[LOAD_PARAMS.batchSize] === "number" ? (p[LOAD_PARAMS.batchSize] as number) : null,
        };
      } catch (err) {
        // aborted by the caller (an interrupt): its reason, not the timer's bare AbortError
        if (opts.signal?.aborted === true && opts.signal.reason instanceof Error) throw opts.signal.reason;
        const code = (err as { code?: string }).code ?? "";
        // A server restart drops kept-alive sockets: retry once on a fresh connection.
        if (attempt === 0 && RETRYABLE.has(code) && opts.signal?.aborted !== true) continue;
        if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || (guard.timedOut() && opts.signal?.aborted !== true)) {
          throw new TailServerError(504, `no answer within ${timeoutMs} ms`);
        }
        throw connectionError(err, this.base, attempt > 0);
      } finally {
        guard.dispose();
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/**
 * Token buckets for a link shape. The burst is 1 ms worth of bytes (at least one 1500-byte
 * frame): a request after an idle spell saves at most that, so each transfer takes about
 * bytes / rate, as on the emulated link.
 */
function shaper(shape: LinkShape): { up: TokenBucket | null; down: TokenBucket | null; rttMs: number } {
  const bucket = (mbps: number | null, what: string): TokenBucket | null => {
    if (mbps === null) return null;
    if (!(mbps > 0) || !Number.isFinite(mbps)) throw new UsageError(`link shape ${what} must be a positive number of Mbit/s, got ${mbps}: take it from the network profile`);
    const rateBytesPerS = (mbps * 1e6) / 8;
    return new TokenBucket({ rateBytesPerS, burstBytes: Math.max(1500, rateBytesPerS / 1000) });
  };
  const rttMs = shape.rttMs ?? 0;
  if (!(rttMs >= 0) || !Number.isFinite(rttMs)) throw new UsageError(`link shape rttMs must be a non-negative number of ms, got ${rttMs}`);
  return { up: bucket(shape.uplinkMbps, "uplinkMbps"), down: bucket(shape.downlinkMbps, "downlinkMbps"), rttMs };
}

function errorText(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    return typeof j.error === "string" ? j.error : text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}

/**
 * An FP32 tensor encoded with a codec, its parameters telling the server how to decode it.
 * Compressed payloads travel as UINT8 [bytes] (so the protocol's size checks hold) with the
 * payload's datatype and shape in sw_datatype / sw_shape.
 */
export function codecTensor(t: OipTensor, spec: CodecSpec): OipTensor {
  const e = encodeTensor(t.data as Float32Array, t.shape, spec);
  const parameters = { ...(t.parameters ?? {}), ...e.parameters };
  if (spec.compression === "none") {
    const b = e.bytes;
    const data = e.datatype === "FP32" ? new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) : e.datatype === "FP16" ? new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2) : new Int8Array(b.buffer, b.byteOffset, b.byteLength);
    return { name: t.name, datatype: e.datatype, shape: e.shape, data, parameters };
  }
  return { name: t.name, datatype: "UINT8", shape: [e.bytes.length], data: e.bytes, parameters: { ...parameters, sw_datatype: e.datatype, sw_shape: JSON.stringify(e.shape) } };
}
