import { UsageError } from "../errors.js";
import type { BoardProfile } from "./boardProfile.js";

/**
 * The board power model behind the `estimate` energy source (and the server power model):
 *
 *   P(util, f) = idleW + (maxW - idleW) * util * g(f)
 *
 * util is the CPU utilisation (0..1, all cores), f the CPU frequency in MHz. g(f) scales the
 * load-dependent part with the frequency, g(fmax) = 1:
 * - no `power.model` in the profile: g = 1 (frequency-blind, the linear idle-to-max model);
 * - `linear-util-freq`: g(f) = (f / fmax)^alpha. Dynamic CMOS power is C·V²·f and DVFS lowers V
 *   with f, so alpha lies between 1 (fixed voltage) and 3 (voltage proportional to frequency);
 *   the profile says where its alpha comes from and whether it was measured;
 * - `util-freq-table`: full-load watts W(f) at listed frequencies, linearly interpolated (held
 *   constant outside the table), g(f) = (W(f) - idleW) / (maxW - idleW).
 *
 * fmax is `cpu.maxMHz` of the profile (or `opts.maxMHz`, e.g. cpuinfo_max_freq of the machine,
 * for profiles without a cpu block). A frequency above fmax counts as fmax (the figures were
 * not measured there), and `freqMHz = null` means "at fmax": the frequency-blind result. idleW is
 * the board's idle power as measured, at whatever frequency the governor idles at; g does not
 * touch it.
 */
export function estimatePowerW(profile: BoardProfile, util: number, freqMHz: number | null, opts: { maxMHz?: number | undefined } = {}): number {
  if (!Number.isFinite(util)) throw new UsageError(`CPU utilisation must be a number between 0 and 1, got ${util}: pass the measured share of busy CPU time`);
  const p = profile.power;
  const u = Math.min(1, Math.max(0, util));
  return p.idleW + (p.maxW - p.idleW) * u * frequencyFactor(profile, freqMHz, opts);
}

/** g(f) of the profile's power model, 0..1 (1 at and above fmax, and when the frequency is unknown). */
export function frequencyFactor(profile: BoardProfile, freqMHz: number | null, opts: { maxMHz?: number | undefined } = {}): number {
  const model = profile.power.model;
  if (freqMHz === null || model === undefined) return 1;
  if (!Number.isFinite(freqMHz) || freqMHz <= 0) throw new UsageError(`CPU frequency must be a positive number of MHz, got ${freqMHz}: pass the frequency the CPU ran at, or null when unknown`);
  const fmax = profile.cpu?.maxMHz ?? opts.maxMHz;
  if (fmax === undefined) return 1;
  const f = Math.min(freqMHz, fmax);
  if (model.kind === "linear-util-freq") return (f / fmax) ** model.alpha;
  const span = profile.power.maxW - profile.power.idleW;
  if (span <= 0) return 1;
  return Math.min(1, Math.max(0, (interpolate(model.fullLoadW, f) - profile.power.idleW) / span));
}

/** W at f from an ascending table, linear between points, held at the ends. */
function interpolate(table: { freqMHz: number; watts: number }[], f: number): number {
  const first = table[0] as { freqMHz: number; watts: number };
  if (f <= first.freqMHz) return first.watts;
  for (let i = 1; i < table.length; i++) {
    const b = table[i] as { freqMHz: number; watts: number };
    if (f <= b.freqMHz) {
      const a = table[i - 1] as { freqMHz: number; watts: number };
      return a.watts + ((b.watts - a.watts) * (f - a.freqMHz)) / (b.freqMHz - a.freqMHz);
    }
  }
  return (table[table.length - 1] as { watts: number }).watts;
}

/**
 * The GPU-active term of the board power model, added to estimatePowerW's CPU figure when a head
 * runs on the GPU:
 *
 *   P_gpu(u, f) = activeW * u * (f / maxMHz)^alpha
 *
 * u is the GPU's busy share over the window (0..1), f its clock in MHz (null = at maxMHz, or
 * frequency-blind when the profile gives no maxMHz), alpha the profile's exponent (default 1).
 * null when the profile has no `gpu` block: the board's GPU power is unknown, not zero. Whether
 * activeW was measured is the profile's `gpu.measured`.
 */
export function gpuActivePowerW(profile: BoardProfile, gpuUtil: number, gpuFreqMHz: number | null): number | null {
  const gpu = profile.gpu;
  if (gpu === undefined) return null;
  if (!Number.isFinite(gpuUtil)) throw new UsageError(`GPU utilisation must be a number between 0 and 1, got ${gpuUtil}: pass the share of the window the GPU was busy`);
  if (gpuFreqMHz !== null && (!Number.isFinite(gpuFreqMHz) || gpuFreqMHz <= 0)) {
    throw new UsageError(`GPU frequency must be a positive number of MHz, got ${gpuFreqMHz}: pass the clock the GPU ran at, or null when unknown`);
  }
  const u = Math.min(1, Math.max(0, gpuUtil));
  const g = gpuFreqMHz === null || gpu.maxMHz === undefined ? 1 : (Math.min(gpuFreqMHz, gpu.maxMHz) / gpu.maxMHz) ** (gpu.alpha ?? 1);
  return gpu.activeW * u * g;
}
