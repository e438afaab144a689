import { binding } from "../native/binding.js";
import type { NativeVulkanDevice } from "../native/types.js";
import { errnoCode } from "./ioError.js";

/** A GPU (or software rasteriser) as the Vulkan loader reports it. */
export interface VulkanDevice {
  /** deviceName, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)", "NVIDIA Orin (nvgpu)", "Intel(R) Graphics (ADL-N)" */
  name: string;
  /** vendor from the PCI / Khronos vendor id ("intel", "nvidia", "arm", "mesa", ...), else the id in hex */
  vendor: string;
  vendorId: number;
  deviceId: number;
  type: "integrated" | "discrete" | "virtual" | "cpu" | "other";
  /** driverName (Vulkan >= 1.2), e.g. "llvmpipe", "NVIDIA", "Intel open-source Mesa driver" */
  driver: string | null;
  /** driverInfo (Vulkan >= 1.2), e.g. "Mesa 25.0.7 (LLVM 15.0.6)" */
  driverInfo: string | null;
  /** "1.4.305" */
  apiVersion: string;
  /** a CPU implementation (lavapipe/llvmpipe, SwiftShader, softpipe): not an accelerator */
  software: boolean;
}

export interface VulkanDiscovery {
  /** the loader loaded and an instance was created */
  loaded: boolean;
  devices: VulkanDevice[];
  /** why there is no device, null when there is one */
  reason: string | null;
  /** the loader's instance version, "1.3.239"; null when it did not load */
  loaderApiVersion: string | null;
}

/** What to install when no Vulkan driver (or none Dawn accepts) is there. */
export const VULKAN_DRIVER_FIX = "install a Vulkan driver (Mesa >= 24 on Debian: mesa-vulkan-drivers from bookworm-backports)";

/** PCI vendor ids and Khronos VkVendorId values (vk.xml) of GPU makers. */
const VENDORS: Record<number, string> = {
  0x1002: "amd",
  0x1010: "imgtec",
  0x106b: "apple",
  0x10de: "nvidia",
  0x13b5: "arm",
  0x1414: "microsoft",
  0x144d: "samsung",
  0x14e4: "broadcom",
  0x1ae0: "google",
  0x5143: "qualcomm",
  0x8086: "intel",
  0x10001: "vivante",
  0x10002: "verisilicon",
  0x10004: "codeplay",
  0x10005: "mesa",
  0x10006: "pocl",
};

const TYPES: Record<number, VulkanDevice["type"]> = { 0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu" };

/** VkDriverId of CPU implementations: VK_DRIVER_ID_GOOGLE_SWIFTSHADER = 10, VK_DRIVER_ID_MESA_LLVMPIPE = 13. */
const SOFTWARE_DRIVER_IDS = new Set([10, 13]);
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|softpipe/i;

const version = (v: number): string => `${(v >>> 22) & 0x7f}.${(v >>> 12) & 0x3ff}.${v & 0xfff}`;

/** Decode one device (pure). */
export function decodeVulkanDevice(d: NativeVulkanDevice): VulkanDevice {
  const type = TYPES[d.deviceType] ?? "other";
  return {
    name: d.deviceName,
    vendor: VENDORS[d.vendorId] ?? `0x${d.vendorId.toString(16)}`,
    vendorId: d.vendorId,
    deviceId: d.deviceId,
    type,
    driver: d.driverName,
    driverInfo: d.driverInfo,
    apiVersion: version(d.apiVersion),
    software: type === "cpu" || (d.driverId !== null && SOFTWARE_DRIVER_IDS.has(d.driverId)) || SOFTWARE_NAMES.test(`${d.deviceName} ${d.driverName ?? ""}`),
  };
}

/**
 * The Vulkan physical devices of this machine, through the native addon (dlopen of the Vulkan
 * loader). Never throws: a missing loader or driver is a `reason`.
 */
export async function vulkanDevices(libPath = "libvulkan.so.1"): Promise<VulkanDiscovery> {
  let raw;
  try {
    raw = await new (binding().Vulkan)().physicalDevices(libPath);
  } catch (err) {
    const code = errnoCode(err);
    return {
      loaded: false,
      devices: [],
      reason: code === "ENOENT" ? `no Vulkan loader (${libPath} not found)` : `the Vulkan loader failed: ${(err as Error).message}`,
      loaderApiVersion: null,
    };
  }
  if (raw.createResult !== 0) {
    return {
      loaded: false,
      devices: [],
      // VK_ERROR_INCOMPATIBLE_DRIVER: the loader found no usable driver (ICD)
      reason: raw.createResult === -9 ? "the Vulkan loader finds no driver (no ICD in /usr/share/vulkan/icd.d, or VK_ICD_FILENAMES / VK_DRIVER_FILES point elsewhere)" : `vkCreateInstance failed (VkResult ${raw.createResult})`,
      loaderApiVersion: version(raw.loaderApiVersion),
    };
  }
  const devices = raw.devices.map(decodeVulkanDevice);
  return { loaded: true, devices, reason: devices.length === 0 ? "the Vulkan loader lists no physical device" : null, loaderApiVersion: version(raw.loaderApiVersion) };
}

/**
 * The device a WebGPU implementation asking for `preference` most likely takes among several:
 * Dawn sorts adapters by type, discrete GPUs first for high-performance and integrated first for
 * low-power, CPU implementations last (google/dawn docs/dawn/features/adapter_options.md). An
 * inference, not a readout: onnxruntime-node does not report the adapter it got.
 */
export function likelyWebGpuDevice(devices: VulkanDevice[], preference: "high-performance" | "low-power"): VulkanDevice | null {
  const order: VulkanDevice["type"][] = preference === "high-performance" ? ["discrete", "integrated", "virtual", "other", "cpu"] : ["integrated", "discrete", "virtual", "other", "cpu"];
  return [...devices].sort((a, b) => order.indexOf(a.type) - order.indexOf(b.type))[0] ?? null;
}
