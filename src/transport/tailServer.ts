import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { WebGpuAdapter } from "../contracts/measurement.js";
import { UsageError } from "../errors.js";
import { executionTargetName } from "../runtime/executionTarget.js";
import { Admission, OverloadedError, type LoadSignal } from "./admission.js";
import { ByteBudget } from "./byteBudget.js";
import { answerError, BEARER_CHALLENGE, bearerAuth, clientErrorAnswer, closeHttp, contentLength, HttpError, listenHttp, readBody, sendResponse } from "./http/index.js";
import { checkInputs, decodeInputs, type CheckedInput } from "./inputCheck.js";
import { binaryOutputs, decodeInferRequest, encodeInferResponse, ortToDatatype, type OipTensor, type TypedArray } from "./oip/index.js";
import { serverMetrics, type ServerMetrics } from "./serverMetrics.js";
import { ortMessage } from "../model/ortMessage.js";
import { TailBatcher, type BatchAnswer } from "./tailBatcher.js";
import { metaJson, ModelNotFoundError, TailModels, type ModelMeta, type TailModelsOptions } from "./tailModels.js";

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
  /** largest request body (default 64 MiB): 413 beyond; also the largest tensor a codec may decode to */
  maxBodyBytes?: number | undefined;
  /**
   * request-body bytes held in memory across all connections (default max(256 MiB, maxBodyBytes)):
   * a request whose body does not fit is answered 503 + Retry-After before its body is read
   */
  maxBufferBytes?: number | undefined;
  /** time to receive a whole request, headers and body (default 30 s): 408 beyond (slow clients) */
  requestTimeoutMs?: number | undefined;
  /** per-request timeout from the body's arrival to the response (default 30 s): 504 beyond */
  timeoutMs?: number | undefined;
  /**
   * the server's own energy source: each inference's compute window is measured and reported
   * (energy_j, energy_source). Give only measured sources, never an estimate: a client estimates
   * better from its own power model than from a server guessing.
   */
  energy?: ServerEnergySource | undefined;
  /** structured JSON log lines (one object per line), or null for none */
  log?: ((record: Record<string, unknown>) => void) | null | undefined;
  /**
   * server-side batching (tailBatcher.ts): requests for the same tail run together, at most
   * this many rows (default 1: no batching). Only models whose inputs and outputs all keep a
   * symbolic batch dimension are batched.
   */
  maxBatch?: number | undefined;
  /** how long a partial batch waits for more requests, ms (default 0: what is queued when a slot is free) */
  maxQueueDelayMs?: number | undefined;
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
  /**
   * from the whole request body's arrival to the outputs being ready (decoding, the admission
   * queue and the compute; the body's upload is the link's time, and response encoding is not included)
   */
  serverMs: "server_time_ms",
  /** the onnxruntime run alone */
  computeMs: "compute_time_ms",
  /** J the server's energy source measured over the compute window (servers with an energy source only) */
  energyJ: "energy_j",
  /** which source: rapl, hwmon, nvml, ina3221, ... */
  energySource: "energy_source",
  /** batching servers: rows in the batch the request ran in (compute_time_ms and energy_j are its share) */
  batchSize: "batch_size",
  /** batching servers: the whole batch's onnxruntime time */
  batchComputeMs: "batch_compute_time_ms",
} as const;

export { MAX_DRAIN_BYTES } from "./http/index.js";

/** The Open Inference Protocol tail server (KServe v2 REST + Triton's binary tensor data extension). */
export class TailServer {
  readonly models: TailModels;
  readonly metrics: ServerMetrics;
  private readonly admission: Admission;
  private readonly budget: ByteBudget;
  private readonly maxBodyBytes: number;
  private server: Server | undefined;
  private readonly authorized: (req: IncomingMessage) => boolean;
  private notReadyLogged = false;
  private readonly batcher: TailBatcher | null;
  private readonly batchable = new Map<string, boolean>();

  constructor(readonly opts: TailServerOptions) {
    this.models = new TailModels(opts);
    this.metrics = serverMetrics();
    this.admission = new Admission(opts.maxConcurrent ?? 2, opts.maxQueue ?? 64);
    this.maxBodyBytes = opts.maxBodyBytes ?? 64 << 20;
    this.budget = new ByteBudget(opts.maxBufferBytes ?? Math.max(256 << 20, this.maxBodyBytes));
    if (this.budget.limitBytes < this.maxBodyBytes) {
      throw new UsageError(`the buffer budget (${this.budget.limitBytes} bytes) is smaller than the largest body (${this.maxBodyBytes} bytes): raise --max-buffer-mb or lower --max-body-mb`);
    }
    this.authorized = bearerAuth(opts.token);
    const maxBatch = opts.maxBatch ?? 1;
    this.batcher =
      maxBatch > 1
        ? new TailBatcher({ maxBatch, maxQueueDelayMs: opts.maxQueueDelayMs ?? 0 }, this.admission, async (name, feeds) => {
            const meter = this.opts.energy;
            const mark = meter?.mark();
            const r = await this.models.run(name, feeds);
            return { ...r, energy: meter === undefined ? null : meter.since(mark as never) };
          })
        : null;
  }

  /** The load signal: the admission's, with the requests waiting for a batch counted as queued. */
  load(): LoadSignal {
    const l = this.admission.load();
    return this.batcher === null ? l : { ...l, queueDepth: l.queueDepth + this.batcher.pending() };
  }

  /** Listen; resolves with the base URL (http(s)://host:port). */
  async listen(): Promise<string> {
    const { server, url } = await listenHttp({ host: this.opts.host, port: this.opts.port ?? 8000, tls: this.opts.tls, requestTimeoutMs: this.opts.requestTimeoutMs }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => this.fail(res, req, err));
    });
    this.server = server;
    return url;
  }

  async close(): Promise<void> {
    if (this.server !== undefined) await closeHttp(this.server);
    await this.models.close();
  }

  private log(record: Record<string, unknown>): void {
    this.opts.log?.({ time: new Date().toISOString(), ...record });
  }

  private send(res: ServerResponse, status: number, body: Uint8Array | Uint8Array[] | string, headers: Record<string, string> = {}): void {
    sendResponse(res, status, body, headers);
  }

  private fail(res: ServerResponse, req: IncomingMessage, err: unknown): void {
    let status = 500;
    let headers: Record<string, string> = {};
    // what the client sees of a failure that is not its own: never the server's paths or internals
    let message = "internal error while serving this request (the server log has the details)";
    const known = clientErrorAnswer(err);
    if (known !== null) {
      ({ status, headers, message } = known);
    } else if (err instanceof ModelNotFoundError) {
      status = 404;
      message = err.message;
    } else if (err instanceof OverloadedError) {
      status = 503;
      headers = { "Retry-After": String(err.retryAfterS) };
      message = `server overloaded (${err.reason}): retry after ${err.retryAfterS} s`;
    } else {
      // clients get the neutral message; the details (which may hold server paths) go to the log
      this.log({ level: "error", msg: "request failed", path: req.url, error: ortMessage(err) });
    }
    this.metrics.errors.inc({ status: String(status) });
    answerError(req, res, status, message, { ...headers, ...loadHeaders(this.admission.load()) });
  }

  /** The body (after admission), counted in the metrics. */
  private async readBody(req: IncomingMessage, declared: number | null, hold: (bytes: number) => void): Promise<Uint8Array> {
    const body = await readBody(req, { declared, maxBodyBytes: this.maxBodyBytes, hold });
    this.metrics.bytesIn.inc(body.byteLength);
    return body;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const route = routeOf(path);
    res.once("finish", () => this.metrics.requests.inc({ route, status: String(res.statusCode) }));
    if (path === "/v2/health/live") return this.send(res, 200, "{}");
    if (path === "/v2/health/ready") {
      // ready = every model can be resolved, parsed and loaded (checked once, memoized)
      try {
        await this.models.checkAll();
      } catch (err) {
        if (!this.notReadyLogged) this.log({ level: "error", msg: "not ready", error: (err as Error).message.split("\n")[0] });
        this.notReadyLogged = true;
        throw new HttpError(503, "not ready: a model cannot be loaded (the server log has the details)");
      }
      return this.send(res, 200, "{}");
    }
    if (!this.authorized(req)) throw new HttpError(401, "missing or wrong bearer token: send Authorization: Bearer <token>", { ...BEARER_CHALLENGE });
    if (path === "/metrics") {
      const l = this.load();
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
    let name: string;
    try {
      name = decodeURIComponent(m[1] as string);
    } catch {
      throw new HttpError(400, `the model name in ${path.slice(0, 80)} is not valid percent-encoding: encode it with encodeURIComponent`);
    }
    const version = m[2];
    if (version !== undefined && version !== "1") throw new ModelNotFoundError(`model "${name}" has only version 1`);
    const action = m[3];
    if (action === "/infer") {
      if (req.method !== "POST") throw new HttpError(405, "infer takes POST", { Allow: "POST" });
      return this.infer(req, res, name);
    }
    if (req.method !== "GET") throw new HttpError(405, `${path} takes GET`, { Allow: "GET" });
    const meta = await this.modelCall(name, () => this.models.metadata(name));
    if (action === "/ready") {
      await this.modelCall(name, () => this.models.loadable(this.models.parseName(name)[0]));
      return this.send(res, 200, "{}");
    }
    return this.send(res, 200, JSON.stringify(metaJson(name, meta)));
  }

  /** Whether requests for this model may be batched: every input and output has a symbolic first dimension and no other. */
  private isBatchable(meta: ModelMeta): boolean {
    let b = this.batchable.get(meta.name);
    if (b === undefined) {
      b = [...meta.inputs, ...meta.outputs].every((t) => t.shape[0] === -1 && t.shape.slice(1).every((d) => d !== -1));
      this.batchable.set(meta.name, b);
    }
    return b;
  }

  /**
   * A TailModels call for `name`. A failure that is not the client's (a model that cannot be
   * resolved, parsed or loaded) is logged in full and answered with a neutral message: server
   * paths never go into HTTP bodies.
   */
  private async modelCall<T>(name: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof ModelNotFoundError || err instanceof HttpError) throw err;
      this.log({ level: "error", msg: "model unavailable", model: name, error: (err as Error).message.split("\n")[0] });
      throw new HttpError(500, `model "${name}" cannot be loaded on this server (the server log has the details)`);
    }
  }

  private async infer(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    // everything that needs no body first: the model (404), the declared size (413), a place (503)
    const meta = await this.modelCall(name, () => this.models.metadata(name));
    const declared = contentLength(req);
    if (declared !== null && declared > this.maxBodyBytes) {
      throw new HttpError(413, `request body of ${declared} bytes is over this server's limit of ${this.maxBodyBytes} bytes`);
    }
    const ticket = this.admission.enter();
    let held = 0;
    const hold = (bytes: number): void => {
      if (!this.budget.tryTake(bytes)) throw new OverloadedError(this.admission.retryAfterS(), "too many request bytes in flight");
      held += bytes;
    };
    const done = (): void => {
      ticket.leave();
      this.budget.give(held);
      held = 0;
    };
    let handedOff = false;
    const timeoutMs = this.opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (declared !== null) hold(declared);
      const body = await this.readBody(req, declared, hold);
      // the server's time starts once the whole body is in: receiving it is the link's time
      const t0 = performance.now();
      const decoded = decodeInferRequest(body, req.headers, { maxTensorBytes: this.maxBodyBytes, maxTensors: 64 });
      // names, types, shapes and decoded sizes against the model before anything is decoded
      const inputs = checkInputs(name, meta, decoded, this.maxBodyBytes);
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new HttpError(504, `inference took longer than this server's ${timeoutMs} ms timeout`)), timeoutMs);
      });
      let computeMs = 0;
      // set inside the admission callback (a holder: TypeScript does not see the callback's assignment)
      const measured: { energy: { deviceJ: number; source: string } | null; batch: BatchAnswer | null } = { energy: null, batch: null };
      const work =
        this.batcher !== null && this.isBatchable(meta) && inputs.every((i) => i.shape[0] === inputs[0]?.shape[0])
          ? // the ticket's place is kept until the batch has run; the batch takes one slot for all its requests
            this.batcher.submit({ name, rows: inputs[0]?.shape[0] ?? 1, signature: signatureOf(inputs), decode: () => decodeInputs(inputs) }).then((b) => {
              measured.batch = b;
              measured.energy = b.energy;
              computeMs = b.computeMs;
              return b.outputs;
            })
          : ticket.run(async () => {
              const feeds = decodeInputs(inputs);
              const meter = this.opts.energy;
              const mark = meter?.mark();
              const r = await this.models.run(name, feeds);
              if (meter !== undefined) measured.energy = meter.since(mark as never);
              computeMs = r.computeMs;
              return r.outputs;
            });
      // the place and the body's bytes are given back when the inference really ends (a 504 does not stop it)
      handedOff = true;
      work.then(done, done);
      const outputs = await Promise.race([work, timeout]);
      const wanted = decoded.outputs?.map((o) => o.name) ?? Object.keys(outputs);
      const tensors: OipTensor[] = wanted.map((n) => {
        const t = outputs[n];
        if (t === undefined) throw new HttpError(400, `model "${name}" has no output "${n}"; it has ${Object.keys(outputs).join(", ")}`);
        return { name: n, datatype: ortToDatatype(t.type) ?? "FP32", shape: [...t.dims], data: t.data as TypedArray };
      });
      const load = this.load();
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
            ...(measured.batch === null
              ? {}
              : { [LOAD_PARAMS.batchSize]: measured.batch.batchRows, [LOAD_PARAMS.batchComputeMs]: Math.round(measured.batch.batchComputeMs * 1000) / 1000 }),
          },
        },
        { binaryOutputs: binaryOutputs(decoded, wanted) },
      );
      this.metrics.inferDuration.observe({ model: name }, serverMs / 1000);
      this.metrics.computeDuration.observe({ model: name }, computeMs / 1000);
      this.send(res, 200, encoded.body, { ...encoded.headers, ...loadHeaders(load), "X-Splitwatt-Server-Ms": String(serverMs) });
    } finally {
      clearTimeout(timer);
      if (!handedOff) done();
    }
  }
}

/** What must agree for requests to batch together: each input's name, type and dimensions after the first. */
function signatureOf(inputs: CheckedInput[]): string {
  return inputs
    .map((i) => `${i.tensor.name}:${i.ortType}:${i.shape.slice(1).join(",")}`)
    .sort()
    .join(";");
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
