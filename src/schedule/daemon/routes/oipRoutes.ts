/**
 * The Open Inference Protocol on the device side (KServe v2 REST, JSON or binary tensors): health,
 * server and model metadata, and infer with `parameters` deadline_ms (required unless the daemon
 * has a default), min_accuracy and policy; the answer is the model's outputs plus parameters
 * saying what happened (outcome.ts).
 */
import { HttpError } from "../../../transport/http/httpError.js";
import { sendResponse } from "../../../transport/http/sendResponse.js";
import { checkInputs, decodeInputs } from "../../../transport/inputCheck.js";
import { binaryOutputs, decodeInferRequest, encodeInferResponse, ortToDatatype, type OipTensor, type TypedArray } from "../../../transport/oip/index.js";
import { metaJson } from "../../../transport/tailModels.js";
import type { DaemonContext } from "../daemonContext.js";
import { outcomeParameters } from "../outcome.js";
import { requestParams } from "../requestParams.js";
import type { Route, RouteContext } from "../router.js";

/** The parameters that steer scheduling (left out of what counts as unknown). */
const SCHEDULING = new Set(["deadline_ms", "min_accuracy", "policy", "binary_data_output"]);

export function oipRoutes(d: DaemonContext): Route[] {
  const known = (name: string): void => {
    if (name !== d.name) throw new HttpError(404, `unknown model "${name}": this daemon serves "${d.name}" (/v2/models/${d.name}/infer)`);
  };
  const version = (v: string | undefined): void => {
    if (v !== undefined && v !== "" && v !== "1") throw new HttpError(404, `model "${d.name}" has only version 1`);
  };
  return [
    { name: "health", methods: ["GET"], pattern: /^\/v2\/health\/live$/, auth: false, handle: async ({ res }) => sendResponse(res, 200, "{}") },
    {
      name: "health",
      methods: ["GET"],
      pattern: /^\/v2\/health\/ready$/,
      auth: false,
      handle: async ({ res }) => {
        if (!d.ready()) throw new HttpError(503, "not ready: the daemon is starting or shutting down");
        sendResponse(res, 200, "{}");
      },
    },
    {
      name: "server",
      methods: ["GET"],
      pattern: /^\/v2$/,
      auth: true,
      handle: async ({ res }) => sendResponse(res, 200, JSON.stringify({ name: "splitwatt-daemon", version: "0.1.0", extensions: ["binary_tensor_data", "splitwatt_schedule"] })),
    },
    {
      name: "model",
      methods: ["GET"],
      pattern: /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready)?$/,
      auth: true,
      handle: async ({ res, params }) => {
        known(params[0] as string);
        version(params[1]);
        if (params[2] === "/ready") {
          if (!d.ready()) throw new HttpError(503, `model "${d.name}" is not ready`);
          return sendResponse(res, 200, "{}");
        }
        sendResponse(res, 200, JSON.stringify({ ...metaJson(d.name, d.meta), parameters: { deadline_ms: "required unless the daemon has a default", min_accuracy: "optional", policy: "optional" } }));
      },
    },
    {
      name: "infer",
      methods: ["POST"],
      pattern: /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?\/infer$/,
      auth: true,
      handle: (ctx) => infer(d, ctx, known, version),
    },
  ];
}

async function infer(d: DaemonContext, { req, res, params }: RouteContext, known: (n: string) => void, version: (v: string | undefined) => void): Promise<void> {
  known(params[0] as string);
  version(params[1]);
  const arrivalMs = d.admit();
  const body = await d.readBody(req);
  const decoded = decodeInferRequest(body, req.headers, { maxTensorBytes: d.maxBodyBytes, maxTensors: 64 });
  const p = decoded.parameters ?? {};
  const unknown = Object.keys(p).filter((k) => !SCHEDULING.has(k));
  if (unknown.length > 0) throw new HttpError(400, `unknown request parameter ${unknown.map((k) => `"${k}"`).join(", ")}: this daemon takes deadline_ms, min_accuracy and policy`);
  const rp = requestParams((k) => p[k], d.paramDefaults, "parameters");
  const feeds = decodeInputs(checkInputs(d.name, d.meta, decoded, d.maxBodyBytes));
  const o = await d.run(feeds, rp, arrivalMs, req, res);
  const wanted = decoded.outputs?.map((x) => x.name) ?? d.meta.outputs.map((x) => x.name);
  const tensors: OipTensor[] = wanted.map((n) => {
    const t = o.outputs[n];
    if (t === undefined) throw new HttpError(400, `model "${d.name}" has no output "${n}"; it has ${d.meta.outputs.map((x) => x.name).join(", ")}`);
    return { name: n, datatype: ortToDatatype(t.type) ?? "FP32", shape: [...t.dims], data: t.data as TypedArray };
  });
  const encoded = encodeInferResponse(
    { model_name: d.name, model_version: "1", ...(decoded.id === undefined ? {} : { id: decoded.id }), outputs: tensors, parameters: outcomeParameters(o) },
    { binaryOutputs: binaryOutputs(decoded, wanted) },
  );
  sendResponse(res, 200, encoded.body, encoded.headers);
}
