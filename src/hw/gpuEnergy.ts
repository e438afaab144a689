import type { EnergySource } from "./energySources.js";

/**
 * What part of a GPU an energy source measures, or null when it measures none. The device
 * total already contains these (RAPL packages contain uncore, INA3221 VDD_IN the whole board,
 * NVML GPUs are added to it); the label says where a GPU head's energy shows up:
 * - NVML: the NVIDIA GPU board (servers, desktops);
 * - INA3221 rails (Jetson): AGX Orin's VDD_GPU_SOC (GPU and SoC), Orin Nano/NX's
 *   VDD_CPU_GPU_CV (CPU, GPU and CV engines together), Xavier's GPU rail (JetPack 4 IIO), TX2's
 *   VDD_SYS_GPU;
 * - RAPL `uncore` (PP1) on Intel client parts: the integrated GPU; perf's `energy-gpu` event is
 *   the same counter;
 * - hwmon of the amdgpu driver: the AMD GPU's power.
 */
export function gpuEnergyPart(s: Pick<EnergySource, "id" | "kind" | "domain">): string | null {
  switch (s.kind) {
    case "nvml":
      return "NVIDIA GPU (whole board)";
    case "ina3221": {
      const d = s.domain.toUpperCase();
      if (!d.includes("GPU")) return null;
      if (d.includes("CPU")) return "CPU + GPU + CV rail (shared: not the GPU alone)";
      if (d.includes("SOC")) return "GPU + SoC rail";
      return "GPU rail";
    }
    case "rapl":
      return s.domain === "uncore" ? "integrated GPU (RAPL uncore / PP1)" : null;
    case "perf":
    case "msr":
      return s.domain === "gpu" || s.domain === "uncore" ? "integrated GPU (RAPL PP1)" : null;
    case "hwmon":
      return /^hwmon:amdgpu\//.test(s.id) ? "AMD GPU (amdgpu)" : null;
    default:
      return null;
  }
}
