/**
 * Whether onnxruntime's WebGPU execution provider works on this machine, and on what: the only
 * place that knows how to ask. onnxruntime-node (1.30) bundles the provider on Linux x64; it runs
 * on Dawn over Vulkan, so it needs a Vulkan driver Dawn accepts (Debian 12's Mesa 22 is not
 * enough; Mesa >= 24 is). The probe creates a real session on a tiny model, runs it, checks the
 * result against the CPU provider, and times the first run (shader compilation) apart from the
 * steady state. Done once per process; the answer is cached.
 *
 * onnxruntime-node does not report the adapter Dawn picked (no adapter info in its API, its
 * verbose log or its profile), and its WebGPU options take no power preference (the provider's
 * `ep.webgpuexecutionprovider.powerPreference` config is not reachable from the Node binding:
 * unknown provider options are refused and session `extra` entries arrive after the provider is
 * created; onnxruntime's default is high-performance). The adapter is therefore named from the
 * Vulkan loader's device list (src/hw/vulkanDevices.ts): exact when there is one device, the
 * device Dawn ranks first for high-performance when there are several.
 */
import { create, toBinary } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { likelyWebGpuDevice, VULKAN_DRIVER_FIX, vulkanDevices, type VulkanDevice } from "../hw/vulkanDevices.js";
import { valueInfo } from "../model/valueInfo.js";
import { warmUp, type WarmUpTimes } from "./warmUp.js";

/** The adapter a WebGPU session runs on. */
export interface WebGpuAdapter {
  /** "nvidia", "intel", "arm", "mesa" (lavapipe), ...: the Vulkan vendor */
  vendor: string;
  /** GPU architecture; null: neither onnxruntime-node nor Vulkan names it */
  architecture: string | null;
  /** the device, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" */
  device: string;
  /** the Vulkan driver, e.g. "llvmpipe"; null when unknown */
  driver: string | null;
  /** driver details, e.g. "Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6)" */
  description: string;
  /** a CPU implementation (lavapipe/llvmpipe, SwiftShader): its figures are not accelerator figures. null: the adapter could not be identified */
  software: boolean | null;
  /** how the adapter was named: the only Vulkan device, the one Dawn ranks first among several, or not at all */
  identifiedBy: "only-vulkan-device" | "dawn-ranking" | "unknown";
}

export type WebGpuProbe =
  | {
      available: true;
      adapter: WebGpuAdapter;
      /** onnxruntime's default; the Node binding cannot change it */
      powerPreference: "high-performance";
      /** the probe model's session creation, first run (shader compilation) and steady state */
      timings: { sessionCreateMs: number } & WarmUpTimes;
    }
  | { available: false; reason: string };

/** onnxruntime session options that put a session on the WebGPU provider. */
export function webgpuSessionOptions(): ort.InferenceSession.SessionOptions {
  return { executionProviders: [{ name: "webgpu" }] };
}

const PROBE_WIDTH = 16;

/** y = Relu(x · W), x [1, 16], W a fixed 16x16 matrix: one matrix-multiply shader and one element-wise one. */
function probeModel(): Uint8Array {
  const w = Float32Array.from({ length: PROBE_WIDTH * PROBE_WIDTH }, (_, i) => ((i * 7) % 13) / 13 - 0.5);
  const weight = create(TensorProtoSchema, { name: "w", dataType: TensorProto_DataType.FLOAT, dims: [BigInt(PROBE_WIDTH), BigInt(PROBE_WIDTH)], rawData: new Uint8Array(w.buffer) });
  const graph = create(GraphProtoSchema, {
    name: "splitwatt_webgpu_probe",
    node: [
      create(NodeProtoSchema, { opType: "MatMul", input: ["x", "w"], output: ["xw"], name: "matmul" }),
      create(NodeProtoSchema, { opType: "Relu", input: ["xw"], output: ["y"], name: "relu" }),
    ],
    initializer: [weight],
    input: [valueInfo("x", TensorProto_DataType.FLOAT, [1, PROBE_WIDTH])],
    output: [valueInfo("y", TensorProto_DataType.FLOAT, [1, PROBE_WIDTH])],
  });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, { irVersion: 8n, opsetImport: [create(OperatorSetIdProtoSchema, { domain: "", version: 17n })], graph }));
}

/** The adapter named from the Vulkan device list (see the module comment). */
export function adapterFromVulkan(devices: VulkanDevice[]): WebGpuAdapter {
  const d = likelyWebGpuDevice(devices, "high-performance");
  if (d === null) return { vendor: "unknown", architecture: null, device: "unknown", driver: null, description: "the Vulkan loader lists no device", software: null, identifiedBy: "unknown" };
  return {
    vendor: d.vendor,
    architecture: null,
    device: d.name,
    driver: d.driver,
    description: d.driverInfo ?? `Vulkan ${d.apiVersion}`,
    software: d.software,
    identifiedBy: devices.length === 1 ? "only-vulkan-device" : "dawn-ranking",
  };
}

/** The first line of an onnxruntime error, without the source location prefix. */
function firstLine(err: unknown): string {
  const text = (err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "";
  return text.replace(/^\/\S+:\d+ \S.*? was false\. /, "").trim();
}

async function probe(): Promise<WebGpuProbe> {
  if (!ort.listSupportedBackends().some((b) => b.name === "webgpu" && b.bundled)) {
    return { available: false, reason: "this onnxruntime-node build has no WebGPU execution provider (it is bundled on Linux x64 and Windows; on other platforms build onnxruntime with --use_webgpu)" };
  }
  const vulkan = await vulkanDevices();
  const bytes = probeModel();
  const x = new ort.Tensor("float32", Float32Array.from({ length: PROBE_WIDTH }, (_, i) => Math.sin(i + 1)), [1, PROBE_WIDTH]);
  let session: ort.InferenceSession;
  const t0 = performance.now();
  try {
    session = await ort.InferenceSession.create(bytes, webgpuSessionOptions());
  } catch (err) {
    const why = firstLine(err);
    if (/adapter/i.test(why)) {
      const seen = vulkan.devices.length > 0 ? `Vulkan lists ${vulkan.devices.map((d) => `${d.name}${d.driverInfo === null ? "" : ` (${d.driverInfo})`}`).join(", ")} but Dawn accepts none` : (vulkan.reason ?? "no Vulkan device");
      return { available: false, reason: `no WebGPU adapter (${seen}): ${VULKAN_DRIVER_FIX}` };
    }
    return { available: false, reason: `the WebGPU provider failed to create a session: ${why}` };
  }
  const sessionCreateMs = performance.now() - t0;
  try {
    const times = await warmUp(session, { x }, 3);
    const got = (await session.run({ x })).y?.data as Float32Array | undefined;
    const cpu = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"] });
    const want = (await cpu.run({ x })).y?.data as Float32Array | undefined;
    await cpu.release();
    if (got === undefined || want === undefined || got.length !== want.length) return { available: false, reason: "the WebGPU session returned no result for the probe model" };
    const maxDiff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - (want[i] as number))), 0);
    if (!(maxDiff <= 1e-4)) return { available: false, reason: `the WebGPU adapter computes wrong results (probe model differs from the CPU by ${maxDiff}): update the GPU driver` };
    return { available: true, adapter: adapterFromVulkan(vulkan.devices), powerPreference: "high-performance", timings: { sessionCreateMs, ...times } };
  } catch (err) {
    return { available: false, reason: `the WebGPU session failed to run: ${firstLine(err)}` };
  } finally {
    await session.release();
  }
}

let cached: Promise<WebGpuProbe> | undefined;

/**
 * Whether a WebGPU session can get an adapter here, which one, and what the probe model's
 * first run cost. Probed once per process (a few hundred ms with a warm Mesa shader cache,
 * seconds on lavapipe without); later calls return the same answer. Never rejects.
 */
export function webgpuProbe(): Promise<WebGpuProbe> {
  cached ??= probe().catch((err: unknown) => ({ available: false as const, reason: `the WebGPU probe failed: ${firstLine(err)}` }));
  return cached;
}
