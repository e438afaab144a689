/**
 * Whether onnxruntime's WebGPU execution provider works on this machine, and on what: the only
 * place that knows how to ask. onnxruntime-node (1.30) bundles the provider on Linux x64 (not on
 * Linux arm64); it runs on Dawn over Vulkan, so it needs a Vulkan driver Dawn accepts (Debian
 * 12's Mesa 22 is not enough; Mesa >= 24 is). The probe creates a real session (through the
 * session factory) on a tiny model, runs it, checks the result against the CPU provider, and
 * times the first run (shader compilation) apart from the steady state.
 *
 * The probe runs in a child process (webgpuProbeMain.ts) and its answer is cached for this
 * process: Dawn writes its own warnings and errors to the process's stderr ("Warning:
 * vkCreateInstance: Found no drivers!", a source location, ...), which would break the CLI's
 * one-line refusal; in the child they are captured and dropped, and a driver that crashes Dawn
 * takes the child down, not splitwatt.
 *
 * onnxruntime-node does not report the adapter Dawn picked (no adapter info in its API, its
 * verbose log or its profile), and its WebGPU options take no power preference (the provider
 * refuses `powerPreference`: "WebGPU EP has an unrecognized option"; session `extra` entries
 * arrive after the provider is created; onnxruntime's default is high-performance). The adapter
 * is therefore named from the Vulkan loader's device list (src/hw/vulkanDevices.ts): exact when
 * there is one device, the device Dawn ranks first for high-performance when there are several.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { create, toBinary } from "@bufbuild/protobuf";
import { GraphProtoSchema, ModelProtoSchema, NodeProtoSchema, OperatorSetIdProtoSchema, TensorProto_DataType, TensorProtoSchema } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { z } from "zod";
import { webgpuAdapterSchema, type WebGpuAdapter } from "../contracts/measurement.js";
import { BadModelError } from "../errors.js";
import { likelyWebGpuDevice, VULKAN_DRIVER_FIX, vulkanDevices, type VulkanDevice } from "../hw/vulkanDevices.js";
import { valueInfo } from "../model/valueInfo.js";
import { createSession } from "./sessionFactory.js";
import { warmUp, type WarmUpTimes } from "./warmUp.js";

export type { WebGpuAdapter };

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

const probeSchema = z.union([
  z.strictObject({
    available: z.literal(true),
    adapter: webgpuAdapterSchema,
    powerPreference: z.literal("high-performance"),
    timings: z.strictObject({ sessionCreateMs: z.number(), firstRunMs: z.number(), steadyRunMs: z.number(), steadyRunsMs: z.array(z.number()) }),
  }),
  z.strictObject({ available: z.literal(false), reason: z.string().min(1) }),
]);

const WEBGPU = { kind: "webgpu" } as const;
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

/**
 * The probe itself, in this process (Dawn's stderr lines land on this process's stderr): what
 * the child runs. Use webgpuProbe() everywhere else.
 */
export async function probeWebGpuHere(): Promise<WebGpuProbe> {
  if (!ort.listSupportedBackends().some((b) => b.name === "webgpu" && b.bundled)) {
    return {
      available: false,
      reason: `this onnxruntime-node build (${process.platform}-${process.arch}) has no WebGPU execution provider (the prebuilt one has it on Linux x64 and Windows): build onnxruntime-node with --use_webgpu (see the README's "WebGPU on a board"), or use cpu`,
    };
  }
  const vulkan = await vulkanDevices();
  const bytes = probeModel();
  const x = new ort.Tensor("float32", Float32Array.from({ length: PROBE_WIDTH }, (_, i) => Math.sin(i + 1)), [1, PROBE_WIDTH]);
  let session: ort.InferenceSession;
  const t0 = performance.now();
  try {
    session = await createSession(bytes, { target: WEBGPU, label: "the WebGPU probe model" });
  } catch (err) {
    const why = firstLine(err instanceof BadModelError ? err.cause : err);
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
    const cpu = await createSession(bytes, { label: "the WebGPU probe model" });
    const want = (await cpu.run({ x })).y?.data as Float32Array | undefined;
    await cpu.release();
    if (got === undefined || want === undefined || got.length !== want.length) return { available: false, reason: "the WebGPU session returned no result for the probe model: update the GPU driver" };
    const maxDiff = got.reduce((m, v, i) => Math.max(m, Math.abs(v - (want[i] as number))), 0);
    if (!(maxDiff <= 1e-4)) return { available: false, reason: `the WebGPU adapter computes wrong results (probe model differs from the CPU by ${maxDiff}): update the GPU driver` };
    return { available: true, adapter: adapterFromVulkan(vulkan.devices), powerPreference: "high-performance", timings: { sessionCreateMs, ...times } };
  } catch (err) {
    return { available: false, reason: `the WebGPU session failed to run: ${firstLine(err)}` };
  } finally {
    await session.release();
  }
}

/** dist/runtime/webgpuProbeMain.js of this package (src/runtime and dist/runtime are both two levels below the root). */
export function webgpuProbeScript(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "runtime", "webgpuProbeMain.js");
}

const PROBE_TIMEOUT_MS = 120_000;

/** Run the probe in a child process; its stderr (Dawn's lines) is captured, its answer is one JSON line on stdout. */
function probeInChild(): Promise<WebGpuProbe> {
  const script = webgpuProbeScript();
  if (!existsSync(script)) return Promise.resolve({ available: false, reason: `the WebGPU probe script ${script} is missing: build splitwatt (npm run build)` });
  return new Promise((done) => {
    execFile(process.execPath, [script], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
      const lastLine = (text: string): string => text.trim().split("\n").pop()?.trim() ?? "";
      const answer = lastLine(stdout);
      if (answer !== "") {
        try {
          const r = probeSchema.safeParse(JSON.parse(answer));
          if (r.success) return done(r.data);
        } catch {
          // not JSON: fall through to the failure below
        }
      }
      const e = err as (NodeJS.ErrnoException & { killed?: boolean; signal?: string | null }) | null;
      const detail = lastLine(stderr) || "no output";
      if (e?.killed === true) return done({ available: false, reason: `the WebGPU probe did not finish within ${PROBE_TIMEOUT_MS / 1000} s (${detail}): check the GPU driver, or use cpu` });
      if (typeof e?.signal === "string") return done({ available: false, reason: `the WebGPU probe crashed (${e.signal}: ${detail}): update the GPU driver, or use cpu` });
      done({ available: false, reason: `the WebGPU probe failed (${detail}): update the GPU driver, or use cpu` });
    });
  });
}

let cached: Promise<WebGpuProbe> | undefined;

/**
 * Whether a WebGPU session can get an adapter here, which one, and what the probe model's
 * first run cost. Probed once per process in a child process (about a second with a warm Mesa
 * shader cache; more on lavapipe without); later calls return the same answer. Never rejects.
 */
export function webgpuProbe(): Promise<WebGpuProbe> {
  cached ??= probeInChild().catch((err: unknown) => ({ available: false as const, reason: `the WebGPU probe failed: ${firstLine(err)}` }));
  return cached;
}
