/**
 * Image requests: `POST /v1/models/<name>/classify?deadline_ms=...[&min_accuracy=...][&policy=...]`
 * with a PNG or JPEG body, for models with a registered preprocessing (imageInput.ts); the
 * answer is JSON: the class and its score plus what happened (outcome.ts).
 */
import * as ort from "onnxruntime-node";
import { ImageInputError } from "../../../model/imageInput.js";
import { HttpError } from "../../../transport/http/httpError.js";
import { sendResponse } from "../../../transport/http/sendResponse.js";
import type { DaemonContext } from "../daemonContext.js";
import { outcomeJson } from "../outcome.js";
import { requestParams } from "../requestParams.js";
import type { Route } from "../router.js";

const QUERY = new Set(["deadline_ms", "min_accuracy", "policy"]);

export function classifyRoute(d: DaemonContext): Route {
  return {
    name: "classify",
    methods: ["POST"],
    pattern: /^\/v1\/models\/([^/]+)\/classify$/,
    auth: true,
    async handle({ req, res, url, params }) {
      if (params[0] !== d.name) throw new HttpError(404, `unknown model "${params[0]}": this daemon serves "${d.name}" (/v1/models/${d.name}/classify)`);
      const image = d.image;
      if (image === null) throw new HttpError(404, `model "${d.name}" has no image preprocessing: send tensors to /v2/models/${d.name}/infer (or start the daemon with preprocess: paddle-cls if it is PaddleOCR's classifier)`);
      const unknown = [...url.searchParams.keys()].filter((k) => !QUERY.has(k));
      if (unknown.length > 0) throw new HttpError(400, `unknown query parameter ${unknown.map((k) => `"${k}"`).join(", ")}: send deadline_ms, min_accuracy and policy`);
      for (const k of QUERY) if (url.searchParams.getAll(k).length > 1) throw new HttpError(400, `query parameter ${k} is given more than once: send it once`);
      const rp = requestParams((k) => url.searchParams.get(k) ?? undefined, d.paramDefaults, "query");
      const arrivalMs = d.admit();
      const body = await d.readBody(req);
      if (body.byteLength === 0) throw new HttpError(400, "the body is empty: send the PNG or JPEG bytes (Content-Type: image/png or image/jpeg)");
      let input: Awaited<ReturnType<typeof image.tensor>>;
      try {
        input = await image.tensor(body);
      } catch (err) {
        if (err instanceof ImageInputError) throw new HttpError(err.status, err.message);
        throw err;
      }
      const inputName = d.meta.inputs[0]?.name as string;
      const o = await d.run({ [inputName]: new ort.Tensor("float32", input.data, image.input.shape) }, rp, arrivalMs, req, res);
      const first = d.meta.outputs[0]?.name as string;
      const out = o.outputs[first];
      if (out === undefined) throw new Error(`the model produced no ${first}`);
      const c = image.classify(out.data as Float32Array);
      sendResponse(res, 200, JSON.stringify({ model: d.name, class: c.label, classIndex: c.index, score: c.score, scores: c.scores, image: { width: input.width, height: input.height, format: input.format }, ...outcomeJson(o) }));
    },
  };
}
