import { describe, expect, it } from "vitest";
import { decodeVulkanDevice, likelyWebGpuDevice, type VulkanDevice } from "../../src/hw/vulkanDevices.js";
import type { NativeVulkanDevice } from "../../src/native/types.js";
import { adapterFromVulkan } from "../../src/runtime/webgpu.js";
import { warmUp } from "../../src/runtime/warmUp.js";

/** vkGetPhysicalDeviceProperties as Mesa 25's lavapipe reports it here (vulkaninfo --summary on this machine). */
const LAVAPIPE: NativeVulkanDevice = {
  apiVersion: (1 << 22) | (4 << 12) | 305,
  driverVersion: 1,
  vendorId: 0x10005,
  deviceId: 0,
  deviceType: 4,
  deviceName: "llvmpipe (LLVM 15.0.6, 256 bits)",
  driverId: 13,
  driverName: "llvmpipe",
  driverInfo: "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)",
};
const INTEL: NativeVulkanDevice = { ...LAVAPIPE, vendorId: 0x8086, deviceId: 0x46d1, deviceType: 1, deviceName: "Intel(R) Graphics (ADL-N)", driverId: 6, driverName: "Intel open-source Mesa driver", driverInfo: "Mesa 25.0.7" };
const NVIDIA: NativeVulkanDevice = { ...LAVAPIPE, vendorId: 0x10de, deviceId: 0x2684, deviceType: 2, deviceName: "NVIDIA GeForce RTX 4090", driverId: 4, driverName: "NVIDIA", driverInfo: "550.54" };

describe("Vulkan devices", () => {
  it("decodes lavapipe: vendor mesa, a CPU device, software, API version 1.4.305", () => {
    expect(decodeVulkanDevice(LAVAPIPE)).toEqual({
      name: "llvmpipe (LLVM 15.0.6, 256 bits)",
      vendor: "mesa",
      vendorId: 0x10005,
      deviceId: 0,
      type: "cpu",
      driver: "llvmpipe",
      driverInfo: "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)",
      apiVersion: "1.4.305",
      software: true,
    });
  });

  it("software by device type, driver id (SwiftShader = 10, llvmpipe = 13) or name; hardware GPUs are not", () => {
    const swiftshader = { ...LAVAPIPE, vendorId: 0x1ae0, deviceType: 0, deviceName: "SwiftShader Device (Subzero)", driverId: 10, driverName: "SwiftShader driver" };
    expect(decodeVulkanDevice(swiftshader)).toMatchObject({ vendor: "google", type: "other", software: true });
    expect(decodeVulkanDevice({ ...LAVAPIPE, deviceType: 0, driverId: null, driverName: null, driverInfo: null }).software).toBe(true); // by name (Vulkan 1.1 driver)
    expect(decodeVulkanDevice(INTEL)).toMatchObject({ vendor: "intel", type: "integrated", software: false });
    expect(decodeVulkanDevice(NVIDIA)).toMatchObject({ vendor: "nvidia", type: "discrete", software: false });
    expect(decodeVulkanDevice({ ...INTEL, vendorId: 0xabcd }).vendor).toBe("0xabcd");
  });

  it("the device Dawn ranks first: discrete then integrated for high-performance, integrated first for low-power, CPU last", () => {
    const devices = [LAVAPIPE, INTEL, NVIDIA].map(decodeVulkanDevice);
    expect(likelyWebGpuDevice(devices, "high-performance")?.vendor).toBe("nvidia");
    expect(likelyWebGpuDevice(devices, "low-power")?.vendor).toBe("intel");
    expect(likelyWebGpuDevice([LAVAPIPE, INTEL].map(decodeVulkanDevice), "high-performance")?.vendor).toBe("intel");
    expect(likelyWebGpuDevice([], "high-performance")).toBeNull();
  });

  it("the WebGPU adapter: exact with one Vulkan device, ranked with several, unknown with none (software null: never claimed either way)", () => {
    expect(adapterFromVulkan([decodeVulkanDevice(LAVAPIPE)])).toEqual({
      vendor: "mesa",
      architecture: null,
      device: "llvmpipe (LLVM 15.0.6, 256 bits)",
      driver: "llvmpipe",
      description: "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)",
      software: true,
      identifiedBy: "only-vulkan-device",
    });
    expect(adapterFromVulkan([LAVAPIPE, INTEL].map(decodeVulkanDevice))).toMatchObject({ vendor: "intel", software: false, identifiedBy: "dawn-ranking" });
    const none: VulkanDevice[] = [];
    expect(adapterFromVulkan(none)).toMatchObject({ software: null, identifiedBy: "unknown" });
  });
});

describe("warmUp", () => {
  it("times the first run apart from the steady state (median of the rest)", async () => {
    let now = 0;
    const costs = [7000, 6, 9, 5];
    let i = 0;
    const session = { run: async () => ((now += costs[i++] ?? 0), {}) };
    const t = await warmUp(session as never, {}, 3, () => now);
    expect(t).toEqual({ firstRunMs: 7000, steadyRunMs: 6, steadyRunsMs: [6, 9, 5] });
    await expect(warmUp(session as never, {}, 0)).rejects.toThrow(/positive integer/);
  });
});
