/**
 * The device thread: onnxruntime sessions that run on a worker thread of this process, so the
 * event loop stays free while a head computes.
 *
 * onnxruntime-node's `run` returns a Promise but computes on the calling thread (1.30 defers the
 * call with setImmediate, then blocks: microsoft/onnxruntime#19611, #26968). On the event loop
 * that stalls every socket for the whole run: a daemon cannot answer /v1/status or read a tail
 * server's answer while a head computes, a link probe's round trip grows by the head's time (the
 * bandwidth estimate then reads high), and a pipeline's transfers wait for the device. A
 * DeviceThread owns one worker (deviceThreadMain.ts); its sessions (`DeviceSession`) run there,
 * one call at a time in the order they were made, and the event loop only copies tensors in and
 * takes the outputs back (transferred, not copied): 0.08 ms a call for a small model here, plus
 * the copy of large inputs (0.84 ms on resnet18's 19 ms run; `npm run bench:device-thread`).
 * The worker keeps the process alive only while a call is pending.
 *
 * - Inputs are copied (the caller keeps its tensors); outputs are moved.
 * - A session that cannot load is the BadModelError createSession gives, with its message.
 * - If the worker dies, every pending call rejects with a DeviceThreadError and so does every
 *   later one; `close()` ends the worker (pending calls reject the same way).
 * - CPU time of the worker is this process's (getrusage, /proc/self/stat): energy sources that
 *   read them see it.
 */
import { Worker } from "node:worker_threads";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as ort from "onnxruntime-node";
import { BadModelError, SplitwattError } from "../errors.js";
import type { ModelSession } from "./modelSession.js";
import type { SessionRequest } from "./sessionFactory.js";

/** A tensor as it crosses to and from the worker. */
export interface WireTensor {
  type: ort.Tensor.Type;
  data: ort.Tensor.DataType;
  dims: readonly number[];
}

export type DeviceRequest =
  | { op: "open"; id: number; model: Uint8Array; req: SessionRequest }
  | { op: "run"; id: number; session: number; feeds: Record<string, WireTensor> }
  | { op: "release"; id: number; session: number };

export type DeviceReply =
  | { id: number; ok: true; session?: number; inputNames?: string[]; outputNames?: string[]; outputs?: Record<string, WireTensor> }
  | { id: number; ok: false; error: { code: string | null; message: string } };

/** The device thread is gone (crashed or closed). */
export class DeviceThreadError extends SplitwattError {
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super("E_IO", message, opts);
  }
}

/** dist/runtime/deviceThreadMain.js of this package (src/runtime and dist/runtime are both two levels below the root). */
export function deviceThreadScript(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "runtime", "deviceThreadMain.js");
}

/** A tensor's data as plain typed arrays for postMessage (a copy: the caller keeps its tensor). */
export function toWire(t: ort.Tensor): WireTensor {
  return { type: t.type, data: t.data, dims: [...t.dims] };
}

export function fromWire(w: WireTensor): ort.Tensor {
  return new ort.Tensor(w.type as never, w.data as never, w.dims);
}

/** The buffers a reply may move instead of copying. */
export function transferables(tensors: Record<string, WireTensor>): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const t of Object.values(tensors)) {
    const b = (t.data as { buffer?: unknown }).buffer;
    if (b instanceof ArrayBuffer) out.add(b);
  }
  return [...out];
}

interface Pending {
  resolve: (r: DeviceReply & { ok: true }) => void;
  reject: (e: Error) => void;
}

export class DeviceThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: Error | null = null;

  constructor(script: string = deviceThreadScript()) {
    this.worker = new Worker(script);
    // an idle worker does not keep the process alive (its owner closes it or the process ends);
    // a pending call does, so a caller awaiting only the device thread is not cut short
    this.worker.unref();
    this.worker.on("message", (r: DeviceReply) => {
      const p = this.pending.get(r.id);
      if (p === undefined) return;
      this.pending.delete(r.id);
      if (this.pending.size === 0) this.worker.unref();
      if (r.ok) p.resolve(r);
      else p.reject(r.error.code === "E_BAD_MODEL" ? new BadModelError(r.error.message) : new Error(r.error.message));
    });
    this.worker.on("error", (e) => this.fail(new DeviceThreadError(`the device thread failed: ${e.message}; restart splitwatt`, { cause: e })));
    this.worker.on("exit", (code) => this.fail(new DeviceThreadError(`the device thread exited (code ${code}); restart splitwatt`)));
  }

  private fail(e: Error): void {
    if (this.dead === null) this.dead = e;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  private call(msg: DeviceRequest, transfer: ArrayBuffer[] = []): Promise<DeviceReply & { ok: true }> {
    if (this.dead !== null) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(msg.id, { resolve, reject });
      this.worker.postMessage(msg, transfer);
    });
  }

  /** A session on this thread for a serialized model, made by createSession with `req`. */
  async open(model: Uint8Array, req: SessionRequest = {}): Promise<DeviceSession> {
    // the bytes are moved: a private copy, so the caller's array stays whole
    const copy = model.slice();
    const r = await this.call({ op: "open", id: this.nextId++, model: copy, req }, [copy.buffer as ArrayBuffer]);
    return new DeviceSession(this, r.session as number, r.inputNames ?? [], r.outputNames ?? []);
  }

  /** @internal a run of session `session` */
  async run(session: number, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const wire = Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, toWire(t)]));
    const r = await this.call({ op: "run", id: this.nextId++, session, feeds: wire });
    return Object.fromEntries(Object.entries(r.outputs ?? {}).map(([n, w]) => [n, fromWire(w)]));
  }

  /** @internal */
  async release(session: number): Promise<void> {
    if (this.dead !== null) return;
    await this.call({ op: "release", id: this.nextId++, session });
  }

  /** End the worker; pending and later calls reject. */
  async close(): Promise<void> {
    if (this.dead !== null) return;
    this.fail(new DeviceThreadError("the device thread is closed"));
    await this.worker.terminate();
  }
}

/** A session on a DeviceThread: the ModelSession interface, computed off the event loop. */
export class DeviceSession implements ModelSession {
  constructor(
    private readonly thread: DeviceThread,
    private readonly id: number,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}

  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    return this.thread.run(this.id, feeds);
  }

  release(): Promise<void> {
    return this.thread.release(this.id);
  }
}
