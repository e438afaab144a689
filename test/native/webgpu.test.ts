/**
 * onnxruntime's WebGPU provider for real on this machine: .ci/run installs Mesa's software
 * Vulkan driver (lavapipe, mesa-vulkan-drivers from bookworm-backports), which the provider
 * accepts. Without it these tests fail (they never skip): run .ci/run's install step.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { vulkanDevices } from "../../src/hw/vulkanDevices.js";
import { adapterFromVulkan, webgpuProbe } from "../../src/runtime/webgpu.js";
import { bytesOf, model, node } from "../fixtures/onnxGraphs.js";

const repo = resolve(import.meta.dirname, "../..");

/** Run `code` (an ES module body) in a child node with `env`, from the built dist/. */
function child(code: string, env: Record<string, string>) {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", code], { cwd: repo, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const HIDE_ICDS = { VK_ICD_FILENAMES: "/nonexistent/icd.json", VK_DRIVER_FILES: "/nonexistent/icd.json" };

describe("Vulkan devices through the native addon", () => {
  it("lists this machine's Vulkan devices with driver names (lavapipe here: software)", async () => {
    const v = await vulkanDevices();
    expect(v.loaded).toBe(true);
    expect(v.reason).toBeNull();
    expect(v.devices.length).toBeGreaterThan(0);
    const lavapipe = v.devices.find((d) => d.driver === "llvmpipe");
    expect(lavapipe).toMatchObject({ vendor: "mesa", type: "cpu", software: true, driverInfo: expect.stringMatching(/^Mesa (\d+)\./) });
    expect(Number(/^Mesa (\d+)/.exec(lavapipe?.driverInfo ?? "")?.[1])).toBeGreaterThanOrEqual(24);
  });

  it("a missing loader and hidden drivers are reasons, not exceptions", async () => {
    expect(await vulkanDevices("/nonexistent/libvulkan.so.1")).toMatchObject({ loaded: false, devices: [], reason: expect.stringMatching(/no Vulkan loader/) });
    const r = child(`import { vulkanDevices } from "./dist/hw/vulkanDevices.js"; console.log(JSON.stringify(await vulkanDevices()));`, HIDE_ICDS);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ loaded: false, devices: [], reason: expect.stringMatching(/finds no driver/) });
  });
});

describe("WebGPU probe", () => {
  it("gets an adapter, checks the probe model against the CPU provider, names the adapter and times the first run apart", async () => {
    const p = await webgpuProbe();
    if (!p.available) throw new Error(`WebGPU unavailable here: ${p.reason}`);
    const devices = (await vulkanDevices()).devices;
    expect(p.adapter).toEqual(adapterFromVulkan(devices));
    // this machine (CI): lavapipe is the only Vulkan device, so the adapter is known exactly and is software
    if (devices.length === 1 && devices[0]?.driver === "llvmpipe") expect(p.adapter).toMatchObject({ software: true, vendor: "mesa", driver: "llvmpipe", identifiedBy: "only-vulkan-device" });
    expect(p.powerPreference).toBe("high-performance");
    expect(p.timings.steadyRunsMs).toHaveLength(3);
    expect(p.timings.firstRunMs).toBeGreaterThan(0);
    expect(p.timings.steadyRunMs).toBeLessThan(p.timings.firstRunMs);
    expect(await webgpuProbe()).toBe(p); // once per process
  });

  it("without a Vulkan driver: one-line reason saying what to install, nothing on this process's stderr, and CPU sessions still work after it", () => {
    const add = bytesOf(model({ nodes: [node("Add", ["x", "x"], ["y"])], inputs: ["x"], outputs: ["y"], dims: [2] }));
    const r = child(
      `import { webgpuProbe } from "./dist/runtime/webgpu.js";
       import * as ort from "onnxruntime-node";
       const p = await webgpuProbe();
       const s = await ort.InferenceSession.create(new Uint8Array(${JSON.stringify([...add])}), { executionProviders: ["cpu"] });
       const x = new ort.Tensor("float32", Float32Array.of(1, 2), [2]);
       const y = (await s.run({ x })).y.data;
       console.log(JSON.stringify({ p, y: [...y] }));`,
      HIDE_ICDS,
    );
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    // Dawn's own lines ("Warning: vkCreateInstance: Found no drivers!", a source location) stay in the probe's child
    expect(r.stderr).toBe("");
    const { p, y } = JSON.parse(r.stdout);
    expect(p.available).toBe(false);
    expect(p.reason.split("\n")).toHaveLength(1);
    expect(p.reason).toMatch(/^no WebGPU adapter \(the Vulkan loader finds no driver.*\): install a Vulkan driver \(Mesa >= 24 on Debian: mesa-vulkan-drivers from bookworm-backports\)$/);
    expect(y).toEqual([2, 4]);
  });
});
