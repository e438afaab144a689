/**
 * The split executors a daemon runs: one per (cut, device target) its configurations use, each
 * loaded at start, and the whole model at the last cut for the local fallback. The codec is
 * chosen per run (one executor serves every codec of its cut).
 */
import type * as ort from "onnxruntime-node";
import type { ModelAnalysis } from "../../model/cutPoints.js";
import { parseExecutionTarget } from "../../runtime/executionTarget.js";
import { modelInputs } from "../../runtime/modelInputs.js";
import { SplitExecutor } from "../../runtime/splitExecutor.js";
import type { TailClient } from "../../transport/tailClient.js";
import type { ServerKind } from "../../transport/tritonCodec.js";
import type { RunnableConfig } from "./runnableConfig.js";

export class ExecutorSet {
  private constructor(
    private readonly byKey: Map<string, SplitExecutor>,
    /** the whole model on the device (cut L, cpu) */
    readonly whole: SplitExecutor,
    readonly lastCut: number,
  ) {}

  /**
   * Load the executors of `configs` (those that send something only when there is a server) and
   * the whole model. `client` null: no tail server.
   */
  static async open(a: ModelAnalysis, configs: readonly RunnableConfig[], o: { client: TailClient | null; serverModel: string; label: string; serverKind?: ServerKind | undefined }): Promise<ExecutorSet> {
    const lastCut = a.cuts.length - 1;
    const byKey = new Map<string, SplitExecutor>();
    const wholeKey = `${lastCut}|cpu`;
    try {
      for (const c of [...configs, { split: lastCut, deviceTarget: "cpu", executorKey: wholeKey } as RunnableConfig]) {
        if (byKey.has(c.executorKey)) continue;
        const remote = c.split !== lastCut;
        if (remote && o.client === null) continue;
        const x = await SplitExecutor.open(a, {
          cut: c.split,
          deviceTarget: parseExecutionTarget(c.deviceTarget, "device"),
          codec: { codec: "raw", compression: "none" },
          tail: remote && o.client !== null ? { kind: "remote", client: o.client, model: o.serverModel, serverKind: o.serverKind } : { kind: "local" },
          label: o.label,
        });
        byKey.set(c.executorKey, x);
      }
    } catch (err) {
      for (const x of byKey.values()) await x.release();
      throw err;
    }
    return new ExecutorSet(byKey, byKey.get(wholeKey) as SplitExecutor, lastCut);
  }

  /** The executor of `c`, or null when it was not loaded (it sends, and there is no server). */
  of(c: RunnableConfig): SplitExecutor | null {
    return this.byKey.get(c.executorKey) ?? null;
  }

  /** The cuts whose tails are remote. */
  remoteCuts(): number[] {
    return [...new Set([...this.byKey.values()].map((x) => x.options.cut).filter((k) => k !== this.lastCut))].sort((x, y) => x - y);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Run every head once (onnxruntime's first run of a session is slow), nothing sent. */
  async warmUp(a: ModelAnalysis): Promise<void> {
    const feeds: Record<string, ort.Tensor> = modelInputs(a, { seed: 1 });
    for (const x of this.byKey.values()) await x.head(feeds);
  }

  async release(): Promise<void> {
    for (const x of this.byKey.values()) await x.release();
    this.byKey.clear();
  }
}
