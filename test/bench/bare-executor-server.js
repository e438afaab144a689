#!/usr/bin/env node
// The floor bench:daemon compares the daemon with (not a test, not a product): a bare HTTP
// handler that does only what any process in front of the split executor must do for one
// request: read the Open Inference Protocol body, run the SplitExecutor (head here, tail on the
// server), encode the answer. No decision, queue, energy window, estimator, metric or log. Its
// cost over calling the executor in the caller's process is what this machine charges for one
// more process and HTTP hop in the path; the daemon's cost over it is the daemon's own.
//
//   node test/bench/bare-executor-server.js SERVER_URL CUT   (prints its URL on the first line)
import { createServer } from "node:http";
import * as ort from "onnxruntime-node";
import { analyzeModel, decodeInferRequest, encodeInferResponse, loadModel, parseCodec, SplitExecutor, TailClient, zooPath } from "../../dist/index.js";

const [serverUrl, cut] = process.argv.slice(2);
const a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
const client = new TailClient({ url: serverUrl });
const exec = await SplitExecutor.open(a, { cut: Number(cut), codec: parseCodec("raw"), tail: { kind: "remote", client, model: "model" } });

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      const d = decodeInferRequest(new Uint8Array(Buffer.concat(chunks)), req.headers, { maxTensorBytes: 1 << 24, maxTensors: 4 });
      const feeds = Object.fromEntries(d.inputs.map((t) => [t.name, new ort.Tensor("float32", t.data, t.shape)]));
      const r = await exec.run(feeds);
      const outputs = Object.entries(r.outputs).map(([name, t]) => ({ name, datatype: "FP32", shape: [...t.dims], data: t.data }));
      const e = encodeInferResponse({ model_name: "tiny_cnn", model_version: "1", outputs, parameters: { latency_ms: r.timings.totalMs } }, { binaryOutputs: "all" });
      const body = Buffer.concat(Array.isArray(e.body) ? e.body : [e.body]);
      const headers = Object.fromEntries(Object.entries(e.headers).filter(([k]) => k.toLowerCase() !== "content-length"));
      res.writeHead(200, { ...headers, "Content-Length": String(body.length) });
      res.end(body);
    } catch (err) {
      res.writeHead(500, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: err.message }));
    }
  });
});
server.listen(0, "127.0.0.1", () => console.log(`http://127.0.0.1:${server.address().port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
