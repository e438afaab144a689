import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import * as ort from "onnxruntime-node";
import type { WebGpuAdapter } from "../contracts/measurement.js";
import { executionTargetName } from "../runtime/executionTarget.js";
import { CodecError } from "./codecs/codecError.js";
import { decodeTensor } from "./codecs/codecs.js";
import { Admission, OverloadedError, type LoadSignal } from "./admission.js";
import {
  binaryOutputs,
  datatypeToOrt,
  decodeInferRequest,
  encodeInferResponse,
  errorBody,
  OipError,
  ortToDatatype,
  type DecodedRequest,
  type OipTensor,
  type TypedArray,
} from "./oip/index.js";
import { serverMetrics, type ServerMetrics } from "./serverMetrics.js";
import { ModelNotFoundError, TailModels, type TailModelsOptions } from "./tailModels.js";

export interface TailServerOptions extends TailModelsOptions {
  host?: string | undefined;
  port?: number | undefined;
  /** bearer token every request must carry (except /v2/health/*) */
  token?: string | undefined;
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined;
  /** requests run at once (default: 2) */
  maxConcurrent?: number | undefined;
  /** requests waiting beyond that before 503 (default 64) */
  maxQueue?: number | undefined;
  /** largest request body (default 64 MiB): 413 beyond */
  maxBodyBytes?: number | undefined;
  /** per-request timeout from admission to response (default 30 s): 504 beyond */
  timeoutMs?: number | undefined;
  /**
   * the server's own energy source: each inference's compute window is measured and reported
   * (energy_j, energy_source). Give only measured sources, never an estimate: a client estimates
   * better from its own power model than from a server guessing.
   */
  energy?: ServerEnergySource | undefined;
  /** structured JSON log lines (one object per line), or null for none */
  log?: ((record: Record<string, unknown>) => void) | null | undefined;
  /** the GPU adapter tails run on (target webgpu: the probe's), reported in the server metadata; null or absent on a CPU target */
  adapter?: WebGpuAdapter | null | undefined;
}

/** What the server needs of an energy meter (src/hw/energyMeter.ts's EnergyMeter fits). */
export interface ServerEnergySource {
  mark(): unknown;
  since(mark: never): { deviceJ: number; source: string };
}

/** Load, echoed in every infer response's parameters and headers. */
export const LOAD_PARAMS = {
  queueDepth: "queue_depth",
  inFlight: "in_flight",
  estimatedWaitMs: "estimated_wait_ms",
  /** from the request's arrival to the outputs being ready (response encoding not included) */
  serverMs: "server_time_ms",
  /** the onnxruntime run alone */
  computeMs: "compute_time_ms",
  /** J the server's energy source measured over the compute window (servers with an energy source only) */
  energyJ: "energy_j",
  /** which source: rapl, hwmon, nvml, ina3221, ... */
  energySource: "energy_source",
} as const;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The Open Inference Protocol tail server (KServe v2 REST + Triton's binary tensor data extension). */
export class TailServer {
  readonly models: TailModels;
  readonly metrics: ServerMetrics;
  private readonly admission: Admission;
  private server: Server | undefined;
  private readonly token: Buffer | undefined;

  constructor(readonly opts: TailServerOptions) {
    this.models = new TailModels(opts);
    this.metrics = serverMetrics();
    this.admission = new Admission(opts.maxConcurrent ?? 2, opts.maxQueue ?? 64);
    this.token = opts.token === undefined ? undefined : Buffer.from(opts.token);
  }

  load(): LoadSignal {
    return this.admission.load();
  }

  /** Listen; resolves with the base URL (http(s)://host:port). */
  async listen(): Promise<string> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, req, err));
    };
    this.server = this.opts.tls === undefined ? createHttpServer({ keepAliveTimeout: 30_000 }, handler) : createHttpsServer({ ...this.opts.tls, keepAliveTimeout: 30_000 }, handler);
    this.server.headersTimeout = 30_000;
    const host = this.opts.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.server?.once("error", reject);
      this.server?.listen(this.opts.port ?? 8000, host, () => resolve());
    });
    const a = this.server.address() as AddressInfo;
    const h = a.family === "IPv6" ? `[${a.address}]` : a.address;
    return `${this.opts.tls === undefined ? "http" : "https"}://${h}:${a.port}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s !== undefined) {
      await new Promise<void>((resolve) => {
        s.close(() => resolve());
        s.closeIdleConnections();
      });
    }
    await this.models.close();
  }

  private log(record: Record<string, unknown>): void {
    this.opts.log?.({ time: new Date().toISOString(), ...record });
  }

  private authorized(req: IncomingMessage): boolean {
    if (this.token === undefined) return true;
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (m === null) return false;
    const given = Buffer.from(m[1] as string);
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  private send(res: ServerResponse, status: number, body: Uint8Array | Uint8Array[] | string, headers: Record<string, string> = {}): void {
    const chunks = typeof body === "string" ? [Buffer.from(body)] : Array.isArray(body) ? body : [body];
    const length = chunks.reduce((n, c) => n + c.length, 0);
    res.writeHead(status, { "Content-Length": String(length), ...(typeof body === "string" ? { "Content-Type": "application/json" } : {}), ...headers });
    if (chunks.length === 1) res.end(chunks[0]);
    else {
      res.cork();
      for (const c of chunks) res.write(c);
      res.uncork();
      res.end();
    }
  }

  private fail(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    let status = 500;
    let headers: Record<string, string> = {};
    let message = "internal error";
    if (err instanceof HttpError) {
      status = err.status;
      headers = err.headers;
      message = err.message;
    } else if (err instanceof OipError) {
      status = err.status;
      message = err.message;
    } else if (err instanceof CodecError) {
      status = 400;
      message = err.message;
    } else if (err instanceof ModelNotFoundError) {
      status = 404;
      message = err.message;
    } else if (err instanceof OverloadedError) {
      status = 503;
      headers = { "Retry-After": String(err.retryAfterS) };
      message = "server overloaded: queue full, retry later";
    } else {
      message = err instanceof Error ? err.message.split("\n")[0] ?? message : String(err);
      this.log({ level: "error", msg: "request failed", path: req.url, error: message });
    }
    this.metrics.errors.inc({ status: String(status) });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const load = this.admission.load();
    this.send(res, status, Buffer.from(errorBody(message)), { "Content-Type": "application/json", ...headers, ...loadHeaders(load) });
  }

  private async readBody(req: IncomingMessage): Promise<Uint8Array> {
    const limit = this.opts.maxBodyBytes ?? 64 << 20;
    const declared = Number(req.headers["content-length"] ?? "0");
    if (declared > limit) {
      req.resume();
      throw new HttpError(413, `request body of ${declared} bytes is over this server's limit of ${limit} bytes`, { Connection: "close" });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > limit) throw new HttpError(413, `request body is over this server's limit of ${limit} bytes`, { Connection: "close" });
      chunks.push(c as Buffer);
    }
    this.metrics.bytesIn.inc(size);
    const b = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const route = routeOf(path);
    res.once("finish", () => this.metrics.requests.inc({ route, status: String(res.statusCode) }));
    if (path === "/v2/health/live") return this.send(res, 200, "{}");
    if (path === "/v2/health/ready") return this.send(res, 200, "{}");
    if (!this.authorized(req)) throw new HttpError(401, "missing or wrong bearer token: send Authorization: Bearer <token>", { "WWW-Authenticate": 'Bearer realm="splitwatt"' });
    if (path === "/metrics") {
      const l = this.admission.load();
      this.metrics.queueDepth.set(l.queueDepth);
      this.metrics.inFlight.set(l.inFlight);
      return this.send(res, 200, Buffer.from(await this.metrics.registry.metrics()), { "Content-Type": this.metrics.registry.contentType });
    }
    if (path === "/v2") {
      // splitwatt_target: where this server runs tails (`target`) and on which GPU adapter (`adapter`, null on a CPU target)
      return this.send(
        res,
        200,
        JSON.stringify({
          name: "splitwatt",
          version: "0.1.0",
          extensions: ["binary_tensor_data", "splitwatt_codecs", "splitwatt_load", "splitwatt_target"],
          target: executionTargetName(this.opts.target ?? { kind: "cpu", threads: 0 }),
          adapter: this.opts.adapter ?? null,
        }),
      );
    }
    const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(path);
    if (m === null) throw new HttpError(404, `no such endpoint: ${req.method} ${path}`);
    const name = decodeURIComponent(m[1] as string);
    const version = m[2];
    if (version !== undefined && version !== "1") throw new ModelNotFoundError(`model "${name}" has only version 1`);
    const action = m[3];
    if (action === "/infer") {
      if (req.method !== "POST") throw new HttpError(405, "infer takes POST", { Allow: "POST" });
      return this.infer(req, res, name);
    }
    if (req.method !== "GET") throw new HttpError(405, `${path} takes GET`, { Allow: "GET" });
    const meta = await this.models.metadata(name);
    if (action === "/ready") return this.send(res, 200, "{}");
    return this.send(
      res,
      200,
      JSON.stringify({
        name,
        versions: ["1"],
        platform: "onnxruntime_onnx",
        inputs: meta.inputs.map((t) => ({ name: t.name, datatype: ortToDatatype(t.dtype) ?? "FP32", shape: t.shape })),
        outputs: meta.outputs.map((t) => ({ name: t.name, datatype: ortToDatatype(t.dtype) ?? "FP32", shape: t.shape })),
      }),
    );
  }

  private async infer(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    const t0 = performance.now();
    this.models.parseName(name); // 404 before reading a large body
    const body = await this.readBody(req);
    const decoded = decodeInferRequest(body, req.headers, { maxTensorBytes: this.opts.maxBodyBytes ?? 64 << 20, maxTensors: 64 });
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HttpError(504, `inference took longer than this server's ${timeoutMs} ms timeout`)), timeoutMs);
    });
    let computeMs = 0;
    // set inside the admission callback (a holder: TypeScript does not see the callback's assignment)
    const measured: { energy: { deviceJ: number; source: string } | null } = { energy: null };
    try {
      const outputs = await Promise.race([
        this.admission.run(async () => {
          const feeds = await this.feeds(name, decoded);
          const meter = this.opts.energy;
          const mark = meter?.mark();
          const r = await this.models.run(name, feeds);
          if (meter !== undefined) measured.energy = meter.since(mark as never);
          computeMs = r.computeMs;
          return r.outputs;
        }),
        timeout,
      ]);
      const wanted = decoded.outputs?.map((o) => o.name) ?? Object.keys(outputs);
      const tensors: OipTensor[] = wanted.map((n) => {
        const t = outputs[n];
        if (t === undefined) throw new HttpError(400, `model "${name}" has no output "${n}"; it has ${Object.keys(outputs).join(", ")}`);
        return { name: n, datatype: ortToDatatype(t.type) ?? "FP32", shape: [...t.dims], data: t.data as TypedArray };
      });
      const load = this.admission.load();
      const serverMs = Math.round((performance.now() - t0) * 1000) / 1000;
      const encoded = encodeInferResponse(
        {
          model_name: name,
          model_version: "1",
          ...(decoded.id === undefined ? {} : { id: decoded.id }),
          outputs: tensors,
          parameters: {
            [LOAD_PARAMS.queueDepth]: load.queueDepth,
            [LOAD_PARAMS.inFlight]: load.inFlight,
            [LOAD_PARAMS.estimatedWaitMs]: load.estimatedWaitMs,
            [LOAD_PARAMS.serverMs]: serverMs,
            [LOAD_PARAMS.computeMs]: Math.round(computeMs * 1000) / 1000,
            ...(measured.energy === null ? {} : { [LOAD_PARAMS.energyJ]: measured.energy.deviceJ, [LOAD_PARAMS.energySource]: measured.energy.source }),
          },
        },
        { binaryOutputs: binaryOutputs(decoded, wanted) },
      );
      this.metrics.inferDuration.observe({ model: name }, serverMs / 1000);
      this.metrics.computeDuration.observe({ model: name }, computeMs / 1000);
      this.send(res, 200, encoded.body, { ...encoded.headers, ...loadHeaders(load), "X-Splitwatt-Server-Ms": String(serverMs) });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Request tensors -> onnxruntime feeds, decoding splitwatt codecs (sw_codec) on the way. */
  private async feeds(name: string, decoded: DecodedRequest): Promise<Record<string, ort.Tensor>> {
    const meta = await this.models.metadata(name);
    const feeds: Record<string, ort.Tensor> = {};
    for (const t of decoded.inputs) {
      const want = meta.inputs.find((i) => i.name === t.name);
      if (want === undefined) throw new HttpError(400, `model "${name}" has no input "${t.name}"; it takes ${meta.inputs.map((i) => i.name).join(", ")}`);
      const coded = (t.parameters?.sw_codec ?? "raw") !== "raw" || (t.parameters?.sw_compression ?? "none") !== "none";
      const view = t.data as TypedArray;
      const shape = coded ? payloadShape(t) : t.shape;
      const data = coded ? decodeTensor(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), String(t.parameters?.sw_datatype ?? t.datatype), shape, t.parameters ?? {}) : view;
      const ortType = coded ? "float32" : datatypeToOrt(t.datatype);
      if (ortType !== want.dtype) throw new HttpError(400, `input "${t.name}" of "${name}" is ${want.dtype}, got ${coded ? "a float32 codec" : t.datatype}`);
      if (shape.length !== want.shape.length || shape.some((d, i) => want.shape[i] !== -1 && want.shape[i] !== d)) {
        throw new HttpError(400, `input "${t.name}" of "${name}" has shape [${want.shape.join(",")}] (-1 = any), got [${shape.join(",")}]`);
      }
      feeds[t.name] = new ort.Tensor(ortType as "float32", data as Float32Array, shape);
    }
    for (const i of meta.inputs) if (feeds[i.name] === undefined) throw new HttpError(400, `input "${i.name}" of "${name}" is missing`);
    return feeds;
  }
}

/** The shape of a compressed payload, from its sw_shape parameter (the wire shape is [bytes]). */
function payloadShape(t: OipTensor): number[] {
  const raw = t.parameters?.sw_shape;
  if (raw === undefined) return t.shape;
  let shape: unknown;
  try {
    shape = JSON.parse(String(raw));
  } catch {
    shape = null;
  }
  if (!Array.isArray(shape) || shape.length > 16 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new HttpError(400, `input "${t.name}": sw_shape must be a JSON array of non-negative integers, got ${String(raw).slice(0, 60)}`);
  }
  return shape as number[];
}

function routeOf(path: string): string {
  if (path.startsWith("/v2/health")) return "health";
  if (path.endsWith("/infer")) return "infer";
  if (path === "/metrics") return "metrics";
  if (path.startsWith("/v2/models")) return "model";
  return path === "/v2" ? "server" : "other";
}

function loadHeaders(l: LoadSignal): Record<string, string> {
  return {
    "X-Splitwatt-Queue-Depth": String(l.queueDepth),
    "X-Splitwatt-In-Flight": String(l.inFlight),
    "X-Splitwatt-Estimated-Wait-Ms": String(l.estimatedWaitMs),
  };
}
