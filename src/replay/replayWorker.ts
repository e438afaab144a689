/**
 * A worker thread running one replay job (parallelReplay.ts): progress and the result (or the
 * error, as plain data) go back to the parent as messages.
 */
import { parentPort, workerData } from "node:worker_threads";
import { SplitwattError } from "../errors.js";
import { runReplayJob, type ReplayJob } from "./replayJob.js";

const port = parentPort;
if (port !== null) {
  try {
    const result = await runReplayJob(workerData as ReplayJob, { onProgress: (n) => port.postMessage({ progress: n }) });
    port.postMessage({ result });
  } catch (e) {
    const err = e instanceof SplitwattError ? { code: e.code, message: e.message, exitCode: e.exitCode } : { code: null, message: e instanceof Error ? e.message : String(e), exitCode: 1 };
    port.postMessage({ error: err });
  }
}
