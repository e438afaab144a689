/**
 * The split executors a daemon runs: one per (cut, device target) its configurations use, each
 * loaded at start, and the whole model at the last cut for the local fallback. The codec is
 * chosen per run (one executor serves every codec of its cut).
 *
 * At start every head is warmed up (SplitExecutor.warmUpHead: session creation, the first run,
 * which compiles the shaders on WebGPU, and the steady state, each timed), so no request pays a
 * cold start; what a switch between two loaded heads of different targets still costs is
 * measured by `calibrateSwitches` and, per request, by AcceleratorSwitches.
 *
 * CPU heads (and the whole model, and a tail loaded here when the server fails) compute on one
 * device thread (runtime/deviceThread.ts), so the daemon's event loop keeps answering, reading
 * tail servers' answers and timing link probes while a head runs. WebGPU heads stay on the
 * event loop's thread (onnxruntime's WebGPU provider is not tried on worker threads here), and so
 * do CPU heads the front measured as shorter than the hop to the thread costs (inlineHeads.ts).
 */
import type * as ort from "onnxruntime-node";
import type { ModelAnalysis } from "../../model/cutPoints.js";
import { DeviceThread } from "../../runtime/deviceThread.js";
import { executionTargetName, parseExecutionTarget } from "../../runtime/executionTarget.js";
import { modelInputs } from "../../runtime/modelInputs.js";
import { SplitExecutor, type HeadStage } from "../../runtime/splitExecutor.js";
import { acceleratorSwitchCostMs, type HeadWarmUp } from "../../runtime/warmUp.js";
import { codecName, type CodecSpec } from "../../transport/codecs/codecs.js";
import type { TailClient } from "../../transport/tailClient.js";
import type { ServerKind } from "../../transport/tritonCodec.js";
import type { RunnableConfig } from "./runnableConfig.js";

/** The head session's time of a head() stage, ms. */
export function headMsOf(stage: HeadStage): number {
  return stage.kind === "done" ? stage.result.timings.headMs : stage.headMs;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 === 1 ? (s[s.length >> 1] as number) : ((s[(s.length >> 1) - 1] as number) + (s[s.length >> 1] as number)) / 2;
};

export class ExecutorSet {
  /** what warming each head up took, by executor key (heads only: not cut 0) */
  readonly warm = new Map<string, HeadWarmUp>();

  private constructor(
    private readonly byKey: Map<string, SplitExecutor>,
    /** the codecs each executor's configurations send with */
    private readonly codecs: Map<string, CodecSpec[]>,
    /** the whole model on the device (cut L, cpu) */
    readonly whole: SplitExecutor,
    readonly lastCut: number,
    private readonly thread: DeviceThread,
  ) {}

  /**
   * Load the executors of `configs` (those that send something only when there is a server) and
   * the whole model. `client` null: no tail server.
   */
  static async open(
    a: ModelAnalysis,
    configs: readonly RunnableConfig[],
    o: { client: TailClient | null; serverModel: string; label: string; serverKind?: ServerKind | undefined; inline?: ReadonlySet<string> | undefined },
  ): Promise<ExecutorSet> {
    const lastCut = a.cuts.length - 1;
    const byKey = new Map<string, SplitExecutor>();
    const codecs = new Map<string, CodecSpec[]>();
    for (const c of configs) {
      const list = codecs.get(c.executorKey) ?? [];
      if (!list.some((x) => codecName(x) === codecName(c.codec))) list.push(c.codec);
      codecs.set(c.executorKey, list);
    }
    const wholeKey = `${lastCut}|cpu`;
    const thread = new DeviceThread();
    try {
      for (const c of [...configs, { split: lastCut, deviceTarget: "cpu", executorKey: wholeKey } as RunnableConfig]) {
        if (byKey.has(c.executorKey)) continue;
        const remote = c.split !== lastCut;
        if (remote && o.client === null) continue;
        const deviceTarget = parseExecutionTarget(c.deviceTarget, "device");
        const x = await SplitExecutor.open(a, {
          cut: c.split,
          deviceTarget,
          deviceThread: deviceTarget.kind === "cpu" && o.inline?.has(c.executorKey) !== true ? thread : undefined,
          codec: { codec: "raw", compression: "none" },
          tail: remote && o.client !== null ? { kind: "remote", client: o.client, model: o.serverModel, serverKind: o.serverKind } : { kind: "local" },
          label: o.label,
        });
        byKey.set(c.executorKey, x);
      }
    } catch (err) {
      for (const x of byKey.values()) await x.release();
      await thread.close();
      throw err;
    }
    return new ExecutorSet(byKey, codecs, byKey.get(wholeKey) as SplitExecutor, lastCut, thread);
  }

  /** The executor of `c`, or null when it was not loaded (it sends, and there is no server). */
  of(c: RunnableConfig): SplitExecutor | null {
    return this.byKey.get(c.executorKey) ?? null;
  }

  /** Executors whose heads run on the device thread, and on the event loop's thread. */
  placement(): { deviceThread: number; eventLoop: number } {
    let onThread = 0;
    for (const x of this.byKey.values()) if (x.options.deviceThread !== undefined) onThread++;
    return { deviceThread: onThread, eventLoop: this.byKey.size - onThread };
  }

  /** The device target `x`'s head runs on (canonical name), null at cut 0 (no head). */
  headTarget(x: SplitExecutor): string | null {
    return x.options.cut === 0 ? null : executionTargetName(x.options.deviceTarget ?? { kind: "cpu", threads: 0 });
  }

  /** The cuts whose tails are remote. */
  remoteCuts(): number[] {
    return [...new Set([...this.byKey.values()].map((x) => x.options.cut).filter((k) => k !== this.lastCut))].sort((x, y) => x - y);
  }

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Warm every head up (onnxruntime's first run of a session is slow; on WebGPU it compiles the
   * shaders), timed, then encode its output once with each codec its configurations send with
   * (a first encode is slower too: bench:daemon-link measured 113 ms for the first int8 encode of
   * a head at 0.1 of a CPU, 0.3 ms after); nothing sent.
   */
  async warmUp(a: ModelAnalysis): Promise<void> {
    const feeds: Record<string, ort.Tensor> = modelInputs(a, { seed: 1 });
    for (const [key, x] of this.byKey) {
      const w = await x.warmUpHead(feeds);
      if (w !== null) this.warm.set(key, w);
      if (x.options.cut !== this.lastCut) for (const codec of this.codecs.get(key) ?? []) await x.head(feeds, { codec });
    }
  }

  /** Per device target, what its heads' cold start took at warm-up (the most of them): acceleratorSwitchCostMs, the figure a fresh process pays. */
  coldSwitchMs(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const w of this.warm.values()) out[w.target] = Math.max(out[w.target] ?? 0, acceleratorSwitchCostMs(w));
    return out;
  }

  /**
   * What switching between loaded heads of different device targets costs, per target, ms:
   * for up to three heads of each target, `rounds` times a run on another target then two runs
   * of the head, the first's excess over the second (never below 0), the median; the most of
   * its heads. Null when the heads use fewer than two targets (no switch can happen).
   */
  async calibrateSwitches(a: ModelAnalysis, rounds = 3): Promise<Record<string, number> | null> {
    const heads = [...this.byKey].filter(([key]) => this.warm.has(key));
    const targetOf = (key: string): string => (this.warm.get(key) as HeadWarmUp).target;
    const targets = [...new Set(heads.map(([key]) => targetOf(key)))].sort();
    if (targets.length < 2) return null;
    const feeds: Record<string, ort.Tensor> = modelInputs(a, { seed: 1 });
    const out: Record<string, number> = {};
    for (const target of targets) {
      const other = heads.find(([key]) => targetOf(key) !== target)?.[1] as SplitExecutor;
      for (const [, x] of heads.filter(([key]) => targetOf(key) === target).slice(0, 3)) {
        const excess: number[] = [];
        for (let r = 0; r < rounds; r++) {
          await other.head(feeds);
          const first = headMsOf(await x.head(feeds));
          const second = headMsOf(await x.head(feeds));
          excess.push(Math.max(0, first - second));
        }
        out[target] = Math.max(out[target] ?? 0, median(excess));
      }
    }
    return out;
  }

  async release(): Promise<void> {
    for (const x of this.byKey.values()) await x.release();
    this.byKey.clear();
    await this.thread.close();
  }
}
