/**
 * A stream of inputs through one configuration, measured: pipelined (pipelineExecutor.ts, head
 * batches of b_d overlapped with tail requests of b_s) or serial (one item at a time through
 * the split executor), with
 *
 * - the bottleneck bound of the same run: each stage alone, no overlap, on `calibration`
 *   inputs, the median over its batches (in serial mode the serial run itself, its means):
 *   head = device work per item, transfer = time on the link per item minus the round trip
 *   (latency, which pipelining hides), tail = server compute per item; boundPerS = 1000 / the
 *   slowest of them;
 * - the same bound with the stages as they ran in the stream (`boundInRunPerS`): on one host
 *   the device's and the server's work slow each other down, which separate machines would not;
 * - tail requests in flight chosen from that calibration (Little's law) unless given;
 * - device energy over the whole stream's window (per-request windows overlap in a pipeline),
 *   per item = the window's energy / the items;
 * - optional windows of `window.items` items each (contiguous, for the profiler's stop rule).
 *
 * Used by `splitwatt run`, the profiler (batch dimensions) and the benchmark (the daemon runs its
 * pipeline endpoints on PipelineExecutor directly: src/schedule/daemon/streamSession.ts).
 */
import type * as ort from "onnxruntime-node";
import type { EnergyMeter, EnergyWindow } from "../hw/energyMeter.js";
import { addTailRun, boundPerS, emptyTotals, PipelineExecutor, stageTimesOf, stageTimesPerItem, tailConcurrencyFor, type Feeds, type StageTimes, type StageTotals } from "../runtime/pipelineExecutor.js";
import type { ExecutionResult, SplitExecutor } from "../runtime/splitExecutor.js";

export interface StreamWindow {
  items: number;
  ms: number;
  energy: EnergyWindow | null;
}

export interface StreamRunOptions {
  executor: SplitExecutor;
  deviceBatch: number;
  serverBatch: number;
  /** one item at a time through the split executor, no pipeline */
  serial?: boolean | undefined;
  /** the link's whole round trip, ms (for the requests in flight; 0 when unknown) */
  rttMs: number;
  /** of it, the network's own (a probe's), taken out of each request's transfer with the emulated RTT as spent (default rttMs) */
  networkRttMs?: number | undefined;
  /** tail requests in flight (default: from the calibration) */
  tailConcurrency?: number | undefined;
  /** inputs the stages run alone on, for the bound (pipelined only; default none: no bound) */
  calibration?: readonly Feeds[] | undefined;
  /** the device's energy over the stream (none: no energy figure) */
  meter?: EnergyMeter | undefined;
  /** each result, in input order */
  onResult?: ((r: { index: number; outputs: Record<string, ort.Tensor>; latencyMs: number; fallback: boolean }) => void | Promise<void>) | undefined;
  /** contiguous windows of `items` items; `stop` sees the ms per item of each so far and the time since the stream started */
  window?: { items: number; stop: (msPerItem: number[], elapsedMs: number) => boolean } | undefined;
  signal?: AbortSignal | undefined;
  onFallback?: ((cause: unknown) => void) | undefined;
}

export interface StreamRunResult {
  items: number;
  seconds: number;
  throughputPerS: number;
  /** the bottleneck bound of the same run (null without a calibration in pipelined mode) */
  boundPerS: number | null;
  /** per item, ms: the stages alone (calibration, or the serial run itself) */
  stagesMs: StageTimes | null;
  /**
   * per item, ms, the stages as they ran in this stream (pipelined, with a calibration): head =
   * the device's work per item and tail = the server's compute per item over the stream itself,
   * so slowed by whatever else ran at the same time (on one host: each other); transfer = the
   * stage alone (overlapping requests share the link, so their call times do not add up to the
   * link's busy time)
   */
  stagesInRunMs: StageTimes | null;
  /** 1000 / the slowest of stagesInRunMs: what the pipeline can reach with its stages as slow as they ran */
  boundInRunPerS: number | null;
  bd: number;
  bs: number;
  tailConcurrency: number;
  /** stage sums over the stream itself */
  totals: StageTotals;
  /** per-item latency, ms (acceptance to result; serial: the run) */
  latenciesMs: number[];
  /** the stream's energy window (null without a meter) */
  energy: EnergyWindow | null;
  energyPerItemJ: number | null;
  windows: StreamWindow[];
  /** items whose tail ran locally after a server failure */
  fellBack: number;
  notes: string[];
}

/** Add a serial run's stages to stage totals (the same sums the pipeline keeps). */
function addRun(t: StageTotals, r: ExecutionResult, allOnDevice: boolean): void {
  t.items++;
  t.headBatches++;
  t.headMs += r.timings.headMs;
  if (allOnDevice) return;
  addTailRun(t, r, 1, r.server !== null);
}

export async function streamRun(source: AsyncIterable<Feeds> | Iterable<Feeds>, o: StreamRunOptions): Promise<StreamRunResult> {
  const x = o.executor;
  const notes: string[] = [];
  const windows: StreamWindow[] = [];
  const latenciesMs: number[] = [];
  let stagesMs: StageTimes | null = null;
  let tailConcurrency = 1;
  let pipeline: PipelineExecutor | null = null;
  let bd = 1;
  let bs = 1;
  if (o.serial !== true) {
    pipeline = new PipelineExecutor(x, { deviceBatch: o.deviceBatch, serverBatch: o.serverBatch, tailConcurrency: 2, onFallback: o.onFallback });
    bd = pipeline.deviceBatch;
    bs = pipeline.serverBatch;
    notes.push(...pipeline.notes);
    if (o.calibration !== undefined && o.calibration.length > 0) {
      stagesMs = stageTimesOf((await pipeline.stagesAlone(o.calibration)).samples, o.networkRttMs ?? o.rttMs);
    }
    tailConcurrency = o.tailConcurrency ?? (stagesMs === null ? 2 : tailConcurrencyFor(stagesMs, o.rttMs, bs));
    if (tailConcurrency !== 2) {
      // the pipeline's concurrency is fixed at construction: make it again with the one chosen
      pipeline = new PipelineExecutor(x, { deviceBatch: bd, serverBatch: bs, tailConcurrency, onFallback: o.onFallback });
    }
  }
  const meter = o.meter;
  const t0 = performance.now();
  const start = meter?.mark();
  let winStart = { t: t0, mark: start, items: 0 };
  let index = 0;
  const serialTotals = emptyTotals();
  let fellBack = 0;
  const stop = { now: false };
  const take = async (outputs: Record<string, ort.Tensor>, latencyMs: number, fallback: boolean): Promise<void> => {
    latenciesMs.push(latencyMs);
    if (fallback) fellBack++;
    await o.onResult?.({ index, outputs, latencyMs, fallback });
    index++;
    if (o.window !== undefined && index - winStart.items >= o.window.items) {
      const t = performance.now();
      windows.push({ items: index - winStart.items, ms: t - winStart.t, energy: meter === undefined ? null : meter.since(winStart.mark as never) });
      winStart = { t, mark: meter?.mark(), items: index };
      if (o.window.stop(windows.map((w) => w.ms / w.items), t - t0)) stop.now = true;
    }
  };
  /** the source until stopped (a window rule or the signal) */
  async function* until(): AsyncGenerator<Feeds> {
    for await (const f of source) {
      if (stop.now || o.signal?.aborted === true) return;
      yield f;
    }
  }
  if (pipeline === null) {
    for await (const f of until()) {
      const r = await x.run(f, { signal: o.signal });
      addRun(serialTotals, r, x.allOnDevice);
      await take(r.outputs, r.timings.totalMs, false);
    }
  } else {
    try {
      for await (const r of pipeline.map(until())) await take(r.value, r.latencyMs, r.fallback);
    } finally {
      await pipeline.close();
    }
    notes.push(...pipeline.notes.filter((n) => !notes.includes(n)));
  }
  const seconds = (performance.now() - t0) / 1000;
  let energy = meter === undefined || start === undefined ? null : meter.since(start);
  if (meter !== undefined && energy !== null) {
    // an external meter's windows get their figures once its readings after the end are in
    const settled = await meter.settle([energy, ...windows.map((w) => w.energy as EnergyWindow)]);
    energy = settled[0] ?? energy;
    windows.forEach((w, i) => {
      w.energy = settled[i + 1] ?? w.energy;
    });
  }
  const totals = pipeline === null ? { ...serialTotals, serverEnergyJ: serialTotals.requests === 0 ? null : serialTotals.serverEnergyJ } : pipeline.stageTotals();
  if (pipeline === null) stagesMs = stageTimesPerItem(totals, o.networkRttMs ?? o.rttMs);
  const items = index;
  const inRun = pipeline === null || stagesMs === null || totals.items === 0 ? null : { ...stageTimesPerItem(totals, o.networkRttMs ?? o.rttMs), transfer: stagesMs.transfer };
  return {
    items,
    seconds,
    throughputPerS: seconds > 0 ? items / seconds : 0,
    boundPerS: stagesMs === null ? null : boundPerS(stagesMs),
    stagesMs,
    stagesInRunMs: inRun,
    boundInRunPerS: inRun === null ? null : boundPerS(inRun),
    bd,
    bs,
    tailConcurrency,
    totals,
    latenciesMs,
    energy,
    energyPerItemJ: energy === null || items === 0 || !energy.deviceComplete ? null : energy.deviceJ / items,
    windows,
    fellBack,
    notes,
  };
}
