import { capabilities, type Capability } from "./capabilities.js";
import { Cpufreq, type CpufreqPolicy } from "./cpufreq.js";
import { EnergyMeter, type EnergyReading } from "./energyMeter.js";
import { energySources, type EnergyKind, type EnergySource } from "./energySources.js";
import { gpuCapabilities } from "./gpuCapabilities.js";
import { gpuEnergyPart } from "./gpuEnergy.js";
import { Gpufreq, type GpuFreqDevice } from "./gpufreq.js";
import { overrideWarnings } from "./overrides.js";
import { roots, type HwRootOptions } from "./roots.js";
import { VULKAN_DRIVER_FIX, vulkanDevices, type VulkanDevice } from "./vulkanDevices.js";

/** The stable shape printed by `splitwatt hw --json` (version 1). */
export interface HardwareReport {
  version: 1;
  roots: { sysfs: string; proc: string; dev: string };
  cpufreq: {
    policies: Array<
      Pick<CpufreqPolicy, "id" | "cpus" | "driver" | "governor" | "governors" | "availableKHz" | "minKHz" | "maxKHz" | "curKHz"> &
        Pick<CpufreqPolicy, "onlineCpus" | "scalingMinKHz" | "scalingMaxKHz" | "timeInState">
    >;
    warnings: string[];
  };
  energy: {
    sources: Array<{
      id: string;
      kind: EnergyKind;
      domain: string;
      socket: number | null;
      measures: "energy" | "power";
      device: boolean;
      reading: EnergyReading | null;
      /** what part of a GPU it measures (src/hw/gpuEnergy.ts), null for none; added after version 1's first release */
      gpu: string | null;
    }>;
    /** where the device total comes from */
    deviceSource: EnergyKind | "mixed";
    estimated: boolean;
    /** length of the window of the one-line readings */
    readingWindowMs: number | null;
    warnings: string[];
  };
  capabilities: Capability[];
  /** GPU clock domains (devfreq GPUs, i915 cards); added after version 1's first release */
  gpufreq: {
    devices: Array<
      Pick<GpuFreqDevice, "id" | "kind" | "name" | "driver" | "governor" | "governors" | "availableKHz" | "minKHz" | "maxKHz"> &
        Pick<GpuFreqDevice, "limitMinKHz" | "limitMaxKHz" | "curKHz" | "boostKHz">
    >;
    warnings: string[];
  };
  /** the GPUs the Vulkan loader lists (what onnxruntime's WebGPU provider runs on); added after version 1's first release */
  vulkan: { devices: VulkanDevice[]; reason: string | null };
}

export interface HardwareReportOptions extends HwRootOptions {
  /** directory of the cpufreq restore state file */
  stateDir?: string | undefined;
  /** take a reading of each energy source over this many ms (0 = none; default 250) */
  readingMs?: number | undefined;
  board?: string | undefined;
  nvmlLib?: string | undefined;
  /** an external power meter SPEC (src/contracts/meterSpec.ts): the device source, read over the reading window */
  meter?: string | undefined;
  /** its period, ms (default 200) */
  meterPeriodMs?: number | undefined;
}

/** GPU-side warnings: a dead run's GPU changes, Jetson tools that rewrite GPU limits. */
function gpuWarnings(gpufreq: Gpufreq, gpus: GpuFreqDevice[]): string[] {
  const out = [...gpufreq.warnings];
  const ids = gpufreq.leftBehind();
  if (ids.length > 0) out.push(`a splitwatt run that died left ${ids.join(", ")} changed: run \`splitwatt hw restore\` to put the previous settings back`);
  if (gpus.some((g) => g.driver === "gk20a" || g.driver === "nvgpu" || /ga10b|gv11b|gp10b/.test(g.name))) {
    out.push("Jetson GPU: nvpmodel and jetson_clocks also set the GPU's devfreq limits; do not run them while splitwatt controls the clocks");
  }
  return out;
}

/** `vulkan`: a Vulkan device exists (what onnxruntime's WebGPU provider needs); software ones are said to be no accelerator. */
function vulkanCapability(devices: VulkanDevice[], reason: string | null): Capability {
  if (devices.length === 0) return { name: "vulkan", available: false, reason: `missing: ${reason ?? "no Vulkan device"}`, fix: VULKAN_DRIVER_FIX };
  const list = devices.map((d) => `${d.name} (${d.driverInfo ?? d.driver ?? d.vendor}${d.software ? "; software, not an accelerator" : ""})`);
  return { name: "vulkan", available: true, reason: `${devices.length} device(s): ${list.join(", ")}`, fix: null };
}

function leftBehind(cpufreq: Cpufreq): string[] {
  const ids = cpufreq.leftBehind();
  return ids.length === 0 ? [] : [`a splitwatt run that died left ${ids.join(", ")} changed: run \`splitwatt hw restore\` to put the previous settings back`];
}

/** Everything `splitwatt hw` shows: cpufreq policies, GPU clocks, energy sources with a reading, capabilities. */
export async function hardwareReport(opts: HardwareReportOptions = {}): Promise<HardwareReport> {
  const r = roots(opts);
  const base = { sysfsRoot: r.sysfsRoot, procRoot: r.procRoot, devRoot: r.devRoot, io: r.io };
  const cpufreq = new Cpufreq({ ...base, stateDir: opts.stateDir, restoreOnExit: false });
  const policies = await cpufreq.policies();
  const gpufreq = new Gpufreq({ ...base, stateDir: opts.stateDir, restoreOnExit: false, guard: cpufreq.guard });
  const gpus = await gpufreq.devices();
  const vulkan = await vulkanDevices();
  const energy = await energySources({ ...base, nvmlLib: opts.nvmlLib });
  const meterSpec = opts.meter;
  // a meter needs a few of its periods in the window for a figure of its own
  const readingMs = opts.readingMs ?? (meterSpec === undefined ? 250 : Math.max(250, 5 * (opts.meterPeriodMs ?? 200)));
  const readings = new Map<string, EnergyReading>();
  const warnings = [...energy.warnings];
  let sources: EnergySource[] = energy.sources;
  let device: EnergySource[] = energy.device;
  if (readingMs > 0 || meterSpec !== undefined) {
    const meter = await EnergyMeter.open({
      ...base,
      sources: energy.sources,
      device: energy.device,
      board: opts.board,
      ...(meterSpec === undefined ? {} : { meter: { spec: meterSpec, periodMs: opts.meterPeriodMs } }),
    });
    try {
      if (meter.meter !== null) {
        sources = [...energy.sources, ...meter.sources.filter((s) => s.kind === "meter")];
        device = meter.device;
      }
      if (readingMs > 0) {
        meter.start();
        await meter.ready();
        const { window } = await meter.measure(() => new Promise((res) => setTimeout(res, readingMs)));
        const [settled] = await meter.settle([window]);
        for (const x of settled?.sources ?? []) readings.set(x.id, x);
      }
      warnings.push(...meter.warnings);
    } finally {
      await meter.close();
    }
  }
  const deviceIds = new Set(device.map((s) => s.id));
  const kinds = new Set(device.map((s) => s.kind));
  return {
    version: 1,
    roots: { sysfs: r.sysfsRoot, proc: r.procRoot, dev: r.devRoot },
    cpufreq: {
      policies: policies.map((p) => ({
        id: p.id,
        cpus: p.cpus,
        onlineCpus: p.onlineCpus,
        driver: p.driver,
        governor: p.governor,
        governors: p.governors,
        availableKHz: p.availableKHz,
        minKHz: p.minKHz,
        maxKHz: p.maxKHz,
        scalingMinKHz: p.scalingMinKHz,
        scalingMaxKHz: p.scalingMaxKHz,
        curKHz: p.curKHz,
        timeInState: p.timeInState,
      })),
      warnings: [
        ...cpufreq.warnings,
        ...(policies.length > 0 ? await overrideWarnings(r) : []),
        ...leftBehind(cpufreq),
      ],
    },
    energy: {
      sources: sources.map((s) => ({
        id: s.id,
        kind: s.kind,
        domain: s.domain,
        socket: s.socket,
        measures: s.measures,
        device: deviceIds.has(s.id),
        reading: readings.get(s.id) ?? null,
        gpu: gpuEnergyPart(s),
      })),
      deviceSource: kinds.size === 1 ? ([...kinds][0] as EnergyKind) : "mixed",
      estimated: kinds.size === 1 && kinds.has("estimate"),
      readingWindowMs: readingMs > 0 ? readingMs : null,
      warnings,
    },
    capabilities: [...capabilities(r, policies, energy), ...gpuCapabilities(r, gpus), vulkanCapability(vulkan.devices, vulkan.reason)],
    gpufreq: {
      devices: gpus.map((g) => ({
        id: g.id,
        kind: g.kind,
        name: g.name,
        driver: g.driver,
        governor: g.governor,
        governors: g.governors,
        availableKHz: g.availableKHz,
        minKHz: g.minKHz,
        maxKHz: g.maxKHz,
        limitMinKHz: g.limitMinKHz,
        limitMaxKHz: g.limitMaxKHz,
        curKHz: g.curKHz,
        boostKHz: g.boostKHz,
      })),
      warnings: gpuWarnings(gpufreq, gpus),
    },
    vulkan: { devices: vulkan.devices, reason: vulkan.reason },
  };
}
