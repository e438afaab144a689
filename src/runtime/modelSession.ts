/**
 * What splitwatt needs of an onnxruntime session: its input and output names, a run over named
 * tensors and a release. An `ort.InferenceSession` is one (in this thread); a DeviceSession
 * (deviceThread.ts) is one whose runs compute on the device thread.
 */
import type * as ort from "onnxruntime-node";

export interface ModelSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/** An onnxruntime session as a ModelSession. */
export function modelSession(s: ort.InferenceSession): ModelSession {
  return {
    inputNames: s.inputNames,
    outputNames: s.outputNames,
    run: async (feeds) => (await s.run(feeds)) as Record<string, ort.Tensor>,
    release: () => s.release(),
  };
}
