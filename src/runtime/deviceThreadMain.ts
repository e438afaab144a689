/**
 * The device thread's side (see deviceThread.ts): sessions by number, made by the session
 * factory; requests answered one at a time in arrival order, outputs moved back.
 */
import { parentPort } from "node:worker_threads";
import type * as ort from "onnxruntime-node";
import { SplitwattError } from "../errors.js";
import { fromWire, toWire, transferables, type DeviceReply, type DeviceRequest, type WireTensor } from "./deviceThread.js";
import { createSession } from "./sessionFactory.js";

const port = parentPort;
if (port === null) throw new Error("deviceThreadMain runs as a worker thread (new DeviceThread())");

const sessions = new Map<number, ort.InferenceSession>();
let nextSession = 1;

async function handle(m: DeviceRequest): Promise<{ reply: DeviceReply; transfer: ArrayBuffer[] }> {
  switch (m.op) {
    case "open": {
      const s = await createSession(m.model, m.req);
      const id = nextSession++;
      sessions.set(id, s);
      return { reply: { id: m.id, ok: true, session: id, inputNames: [...s.inputNames], outputNames: [...s.outputNames] }, transfer: [] };
    }
    case "run": {
      const s = sessions.get(m.session);
      if (s === undefined) throw new Error(`device session ${m.session} is not open`);
      const feeds = Object.fromEntries(Object.entries(m.feeds).map(([n, w]) => [n, fromWire(w)]));
      const out = await s.run(feeds);
      const outputs: Record<string, WireTensor> = Object.fromEntries(Object.entries(out).map(([n, t]) => [n, toWire(t as ort.Tensor)]));
      return { reply: { id: m.id, ok: true, outputs }, transfer: transferables(outputs) };
    }
    case "release": {
      const s = sessions.get(m.session);
      sessions.delete(m.session);
      await s?.release();
      return { reply: { id: m.id, ok: true }, transfer: [] };
    }
  }
}

// one request at a time, in order: the device runs one job at once, as the daemon's queue does
let chain: Promise<void> = Promise.resolve();
port.on("message", (m: DeviceRequest) => {
  chain = chain.then(async () => {
    try {
      const { reply, transfer } = await handle(m);
      port.postMessage(reply, transfer);
    } catch (e) {
      const error = { code: e instanceof SplitwattError ? e.code : null, message: e instanceof Error ? e.message : String(e) };
      port.postMessage({ id: m.id, ok: false, error } satisfies DeviceReply);
    }
  });
});
