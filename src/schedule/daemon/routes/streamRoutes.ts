/**
 * The pipeline endpoints (throughput, no deadlines): each request runs through a pipeline of its
 * own (streamSession.ts) over the daemon's device queue, behind every request with a deadline.
 *
 *   POST /v1/models/<name>/infer-batch   an Open Inference Protocol infer request (JSON or
 *        binary tensors) whose inputs carry N items as N rows of the first dimension; the answer
 *        is the outputs' N rows in input order, and `parameters` with what happened (items,
 *        throughput, configuration, batch sizes, fallbacks, energy per item). Any item that
 *        fails fails the request (the error of the first).
 *   POST /v1/models/<name>/stream        newline-delimited JSON: each line one item, an infer
 *        request of batch 1 (`{"id": "...", "inputs": [...]}`). The answer (200,
 *        application/x-ndjson) is one line per item in input order, each an infer response
 *        (`parameters`: index, latency_ms, fallback) or `{"error", "parameters": {index,
 *        status}}` for an item that could not be run, and a last line `{"summary": {...}}`.
 *        The body is read only as fast as the pipeline takes items (a client that sends faster
 *        is held back by TCP flow control), and answers are written as they are ready: read
 *        the answer while sending. On shutdown the daemon stops reading, finishes every item it
 *        accepted, answers them, and ends with the summary (`interrupted`).
 *
 * Bad requests (unknown model, a query string, a malformed infer-batch body, too many streams,
 * shutting down) are 4xx/5xx with `{"error"}` before anything runs.
 */
import type * as ort from "onnxruntime-node";
import { concatRows, sliceRows } from "../../../runtime/batchRows.js";
import type { Feeds } from "../../../runtime/pipelineExecutor.js";
import type { PipelineResult } from "../../../runtime/pipeline.js";
import { HttpError } from "../../../transport/http/httpError.js";
import { readLines } from "../../../transport/http/readLines.js";
import { sendResponse } from "../../../transport/http/sendResponse.js";
import { checkInputs, decodeInputs } from "../../../transport/inputCheck.js";
import { binaryOutputs, decodeInferRequest, encodeInferResponse, ortToDatatype, type DecodedRequest, type OipTensor, type TypedArray } from "../../../transport/oip/index.js";
import type { ModelMeta } from "../../../transport/tailModels.js";
import type { DaemonContext } from "../daemonContext.js";
import type { Route, RouteContext } from "../router.js";

/** Items of one infer-batch request at most. */
const MAX_ITEMS = 65_536;

export function streamRoutes(d: DaemonContext): Route[] {
  const check = ({ url, params }: RouteContext, endpoint: string): void => {
    if (params[0] !== d.name) throw new HttpError(404, `unknown model "${params[0]}": this daemon serves "${d.name}" (/v1/models/${d.name}/${endpoint})`);
    const keys = [...url.searchParams.keys()];
    if (keys.length > 0) throw new HttpError(400, `unknown query parameter ${keys.map((k) => `"${k}"`).join(", ")}: ${endpoint} takes none (its configuration is the daemon's stream options)`);
  };
  return [
    {
      name: "infer-batch",
      methods: ["POST"],
      pattern: /^\/v1\/models\/([^/]+)\/infer-batch$/,
      auth: true,
      handle: async (ctx) => {
        check(ctx, "infer-batch");
        await inferBatch(d, ctx);
      },
    },
    {
      name: "stream",
      methods: ["POST"],
      pattern: /^\/v1\/models\/([^/]+)\/stream$/,
      auth: true,
      handle: async (ctx) => {
        check(ctx, "stream");
        await stream(d, ctx);
      },
    },
  ];
}

/** The model's inputs with any first dimension (the items), refused for an input without a leading batch-like dimension. */
function itemsMeta(d: DaemonContext): ModelMeta {
  return {
    ...d.meta,
    inputs: d.meta.inputs.map((i) => {
      if (i.shape.length === 0 || (i.shape[0] !== -1 && i.shape[0] !== 1)) {
        throw new HttpError(400, `input "${i.name}" of "${d.name}" has shape [${i.shape.join(",")}], with no batch dimension to carry items: send it to /v2/models/${d.name}/infer`);
      }
      return { ...i, shape: [-1, ...i.shape.slice(1)] };
    }),
  };
}

/** A decoded request's inputs as items (rows of the first dimension, all inputs the same count). */
function itemsOf(d: DaemonContext, decoded: DecodedRequest, what: string): Feeds[] {
  const checked = checkInputs(d.name, itemsMeta(d), decoded, d.maxBodyBytes);
  const counts = [...new Set(checked.map((c) => c.shape[0] as number))];
  if (counts.length !== 1) throw new HttpError(400, `${what}: the inputs have ${counts.join(" and ")} rows; every input needs one row per item`);
  const n = counts[0] as number;
  if (n < 1) throw new HttpError(400, `${what}: no items (the first dimension is 0)`);
  if (n > MAX_ITEMS) throw new HttpError(413, `${what}: ${n} items, over ${MAX_ITEMS}: split it`);
  const feeds = decodeInputs(checked);
  return Array.from({ length: n }, (_, i) => Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, sliceRows(t, i, 1)])));
}

function noParameters(decoded: DecodedRequest, what: string): void {
  const p = Object.keys(decoded.parameters ?? {}).filter((k) => k !== "binary_data_output");
  if (p.length > 0) throw new HttpError(400, `${what}: unknown parameter ${p.map((k) => `"${k}"`).join(", ")}; pipeline requests take none (no deadline: they go behind requests that have one)`);
}

function tensorsOf(d: DaemonContext, outputs: Record<string, ort.Tensor>, wanted: readonly string[]): OipTensor[] {
  return wanted.map((n) => {
    const t = outputs[n];
    if (t === undefined) throw new HttpError(400, `model "${d.name}" has no output "${n}"; it has ${d.meta.outputs.map((x) => x.name).join(", ")}`);
    return { name: n, datatype: ortToDatatype(t.type) ?? "FP32", shape: [...t.dims], data: t.data as TypedArray };
  });
}

async function inferBatch(d: DaemonContext, { req, res }: RouteContext): Promise<void> {
  d.admit();
  const body = await d.readBody(req);
  const decoded = decodeInferRequest(body, req.headers, { maxTensorBytes: d.maxBodyBytes, maxTensors: 64 });
  noParameters(decoded, "infer-batch");
  const items = itemsOf(d, decoded, "infer-batch");
  const wanted = decoded.outputs?.map((x) => x.name) ?? d.meta.outputs.map((x) => x.name);
  for (const n of wanted) if (!d.meta.outputs.some((o) => o.name === n)) throw new HttpError(400, `model "${d.name}" has no output "${n}"; it has ${d.meta.outputs.map((x) => x.name).join(", ")}`);
  await d.withStream(async (s) => {
    const results: Array<Promise<PipelineResult<Feeds>>> = [];
    for (const f of items) results.push((await s.submit(f)).result);
    const settled = await Promise.allSettled(results);
    const bad = settled.find((r) => r.status === "rejected");
    if (bad !== undefined) throw (bad as PromiseRejectedResult).reason;
    const values = settled.map((r) => (r as PromiseFulfilledResult<PipelineResult<Feeds>>).value.value);
    const outputs = Object.fromEntries(wanted.map((n) => [n, concatRows(values.map((v) => v[n] as ort.Tensor))]));
    await s.close();
    const summary = Object.fromEntries(Object.entries(s.summary()).filter(([, v]) => v !== null)) as Record<string, string | number | boolean>;
    const encoded = encodeInferResponse(
      { model_name: d.name, model_version: "1", ...(decoded.id === undefined ? {} : { id: decoded.id }), outputs: tensorsOf(d, outputs, wanted), parameters: summary },
      { binaryOutputs: binaryOutputs(decoded, wanted) },
    );
    sendResponse(res, 200, encoded.body, encoded.headers);
  });
}

/** Wakes whoever waits for a change (the reader and the writer of a stream). */
class Wakeup {
  private waiters: Array<() => void> = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** A line of the answer: the item's result (or error) once it is there. */
interface Pending {
  index: number;
  line: Promise<string>;
}

async function stream(d: DaemonContext, { req, res }: RouteContext): Promise<void> {
  d.admit();
  await d.withStream(async (s) => {
    res.writeHead(200, { "Content-Type": "application/x-ndjson", "Cache-Control": "no-store", Connection: "close" });
    res.flushHeaders();
    const gone = new AbortController();
    const onGone = (): void => {
      if (!res.writableFinished) gone.abort();
    };
    res.once("close", onGone);
    const stop = AbortSignal.any([gone.signal, d.shutdown]);
    const changed = new Wakeup();
    stop.addEventListener("abort", () => changed.wake(), { once: true });
    // answers waiting to be written: bounded, so a client that does not read holds the reading back too
    const window = s.executor.pipeline.capacity.total + 16;
    const pending: Pending[] = [];
    let readerDone = false;
    let framingError: string | null = null;
    const errorLine = (index: number, id: string | undefined, err: unknown): string => {
      const e = d.errorOf(err);
      return JSON.stringify({ ...(id === undefined ? {} : { id }), error: e.message, parameters: { index, status: e.status } });
    };
    const reader = async (): Promise<void> => {
      let index = 0;
      try {
        for await (const bytes of readLines(req, { maxLineBytes: d.maxBodyBytes, signal: stop })) {
          while (pending.length >= window && !stop.aborted) await changed.wait();
          if (stop.aborted) break;
          const i = index++;
          let decoded: DecodedRequest;
          let feeds: Feeds;
          try {
            decoded = decodeInferRequest(bytes, { "content-type": "application/json" }, { maxTensorBytes: d.maxBodyBytes, maxTensors: 64 });
            noParameters(decoded, `line ${i + 1}`);
            const items = itemsOf(d, decoded, `line ${i + 1}`);
            if (items.length !== 1) throw new HttpError(400, `line ${i + 1}: ${items.length} rows; each line is one item (batch 1), or send them together to /v1/models/${d.name}/infer-batch`);
            feeds = items[0] as Feeds;
          } catch (err) {
            pending.push({ index: i, line: Promise.resolve(errorLine(i, undefined, err)) });
            changed.wake();
            continue;
          }
          const id = decoded.id;
          let accepted: Promise<PipelineResult<Feeds>>;
          try {
            accepted = (await s.submit(feeds, stop)).result;
          } catch {
            // not accepted (the daemon is shutting down, or the client went away): not answered
            break;
          }
          const wanted = decoded.outputs?.map((x) => x.name) ?? d.meta.outputs.map((x) => x.name);
          const line = accepted.then(
            (r) =>
              Buffer.from(
                encodeInferResponse(
                  { model_name: d.name, model_version: "1", ...(id === undefined ? {} : { id }), outputs: tensorsOf(d, r.value, wanted), parameters: { index: i, latency_ms: Math.round(r.latencyMs * 1000) / 1000, fallback: r.fallback } },
                  { binaryOutputs: "none" },
                ).body as Uint8Array,
              ).toString(),
            (err: unknown) => errorLine(i, id, err),
          );
          line.catch(() => undefined);
          pending.push({ index: i, line: line.catch((err: unknown) => errorLine(i, id, err)) });
          changed.wake();
        }
      } catch (err) {
        // the body itself is broken (a line over the limit, a connection reset): stop reading
        framingError = d.errorOf(err).message;
      } finally {
        readerDone = true;
        changed.wake();
      }
    };
    const writer = async (): Promise<void> => {
      for (;;) {
        while (pending.length === 0) {
          if (readerDone) return;
          await changed.wait();
        }
        const line = await (pending[0] as Pending).line;
        pending.shift();
        changed.wake();
        if (gone.signal.aborted) continue;
        if (!res.write(`${line}\n`)) await new Promise<void>((resolve) => {
          const done = (): void => {
            res.off("drain", done);
            res.off("close", done);
            resolve();
          };
          res.once("drain", done);
          res.once("close", done);
        });
      }
    };
    await Promise.all([reader(), writer()]);
    res.off("close", onGone);
    // the client may still be sending (the reader stopped early): discard the rest and close lingering,
    // so that no reset cuts the answers and the summary before the client has read them
    if (!req.complete) req.resume();
    d.lingerOnClose(req);
    // every accepted item is answered by now: close() returns at once
    await s.close();
    const notes: string[] = [];
    if (framingError !== null) notes.push(`the stream ended early: ${framingError}`);
    if (d.shutdown.aborted && !gone.signal.aborted) notes.push("interrupted: the daemon is shutting down; every item it accepted was answered, send the rest after a restart");
    const summary = { ...s.summary(notes), interrupted: d.shutdown.aborted };
    if (!gone.signal.aborted) res.end(`${JSON.stringify({ summary })}\n`);
  }, req);
}
