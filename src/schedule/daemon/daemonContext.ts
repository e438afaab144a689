/** What the route handlers may use of a running daemon (one interface: routes import nothing of daemon.ts). */
import type { IncomingMessage, ServerResponse } from "node:http";
import type * as ort from "onnxruntime-node";
import type { ImagePreprocessor } from "../../model/imageInput.js";
import type { ModelMeta } from "../../transport/tailModels.js";
import type { DaemonMetrics } from "./daemonMetrics.js";
import type { Outcome } from "./outcome.js";
import type { ParamDefaults, RequestParams } from "./requestParams.js";
import type { StreamSession } from "./streamSession.js";

export interface DaemonContext {
  /** the model's name in the API */
  name: string;
  /** its inputs and outputs */
  meta: ModelMeta;
  /** the image preprocessing of /v1/models/<name>/classify, null when the model takes tensors only */
  image: ImagePreprocessor | null;
  /** largest request body, bytes */
  maxBodyBytes: number;
  paramDefaults: ParamDefaults;
  metrics: DaemonMetrics;
  /** heads loaded and not shutting down */
  ready(): boolean;
  /**
   * Admit a request that will run on the device, before its body is read: 503 while shutting
   * down, 429 + Retry-After while the device queue is full. Returns the request's arrival time.
   */
  admit(): number;
  /** The body, its bytes taken from the daemon's budget (413 over the limit, 503 over the budget). */
  readBody(req: IncomingMessage): Promise<Uint8Array>;
  /**
   * Run one request to its outcome, bounded by its deadline + grace (504 beyond) and cancelled
   * when the client goes away; queue errors become 429 / 503.
   */
  run(feeds: Record<string, ort.Tensor>, params: RequestParams, arrivalMs: number, req: IncomingMessage, res: ServerResponse): Promise<Outcome>;
  /** the JSON of GET /v1/status */
  status(): Record<string, unknown>;
  /** aborted once the daemon starts shutting down (streams stop reading and drain) */
  shutdown: AbortSignal;
  /**
   * Run `f` with a pipeline of its own (an infer-batch or stream request), drained when `f` is
   * done; 503 while shutting down, 429 beyond `stream.maxStreams`. `req`: its body may take as
   * long as the stream lasts (no request timeout).
   */
  withStream<T>(f: (s: StreamSession) => Promise<T>, req?: IncomingMessage): Promise<T>;
  /**
   * Close `req`'s connection lingering (transport/http/lingeringClose.ts) once its answer ends: a
   * stream's client may still be sending then; shutting down waits for it (bounded).
   */
  lingerOnClose(req: IncomingMessage): void;
  /** What a client is told of `err` (status, one-line message, headers); unexpected errors are logged and told as a neutral 500. */
  errorOf(err: unknown, path?: string): { status: number; message: string; headers: Record<string, string> };
}
