/**
 * A live pareto configuration as the daemon runs it: the cut, the CPU frequency (null: leave it
 * as it is), the head's execution target and the codec. Live fronts (`splitwatt optimize
 * --model`) have the dimensions split, cpuFreqMHz, deviceTarget, serverTarget and codec, and
 * gpuFreqMHz where the board exposes a GPU clock; `serverTarget` is what the tail server runs
 * (chosen there, not here).
 */
import type { Config } from "../../contracts/measurement.js";
import type { ParetoFile } from "../../contracts/paretoFile.js";
import { UsageError } from "../../errors.js";
import { canonicalTargetName } from "../../runtime/executionTarget.js";
import { parseCodec, type CodecSpec } from "../../transport/codecs/codecs.js";
import { localRunKey } from "../policies/index.js";

export const LIVE_DIMENSIONS = ["split", "cpuFreqMHz", "deviceTarget", "serverTarget", "codec"] as const;

export interface RunnableConfig {
  split: number;
  /** MHz to run at; null: the frequency is not controlled by this configuration ("current") */
  cpuFreqMHz: number | null;
  /** the GPU clock to run at, MHz; null: the configuration names none (no gpuFreqMHz dimension) */
  gpuFreqMHz: number | null;
  deviceTarget: string;
  codec: CodecSpec;
  /** where the executor lives: `split|deviceTarget` */
  executorKey: string;
  /** the key its all-on-device runs are kept under (localRunKey; meaningful at the last cut); null: not a front configuration (the daemon's whole-model fallback), its runs are not kept */
  runKey: string | null;
}

/** Refuse a front that is not a live one (a replayed pool's dimensions cannot be run here). */
export function checkLiveFront(doc: ParetoFile, path: string): void {
  const names = doc.space.dimensions.map((d) => d.name);
  const missing = LIVE_DIMENSIONS.filter((n) => !names.includes(n));
  if (doc.mode !== "live" || missing.length > 0) {
    throw new UsageError(
      `${path} is a ${doc.mode} front over ${names.join(", ")}: the daemon runs live fronts (dimensions ${LIVE_DIMENSIONS.join(", ")}); write one on this board with splitwatt optimize --model MODEL`,
      { path },
    );
  }
}

/** The runnable form of a live config; a one-line UsageError for values this splitwatt cannot run. */
export function runnableConfig(config: Config, lastCut: number): RunnableConfig {
  const split = config.split;
  if (typeof split !== "number" || !Number.isInteger(split) || split < 0 || split > lastCut) {
    throw new UsageError(`configuration split=${String(split)} is not a cut of this model (0-${lastCut}): is the front for another model?`);
  }
  const f = config.cpuFreqMHz;
  const cpuFreqMHz = f === "current" ? null : typeof f === "number" && f > 0 ? f : Number.NaN;
  if (Number.isNaN(cpuFreqMHz)) throw new UsageError(`configuration cpuFreqMHz=${String(f)} is neither a frequency in MHz nor "current"`);
  const g = config.gpuFreqMHz;
  if (g !== undefined && !(typeof g === "number" && g > 0)) throw new UsageError(`configuration gpuFreqMHz=${String(g)} is not a frequency in MHz`);
  const deviceTarget = canonicalTargetName(String(config.deviceTarget), "device");
  const codec = parseCodec(String(config.codec));
  return { split, cpuFreqMHz, gpuFreqMHz: g ?? null, deviceTarget, codec, executorKey: `${split}|${deviceTarget}`, runKey: localRunKey(config) };
}
