/**
 * The WebGPU probe's child process (started by webgpu.ts webgpuProbe()): runs the probe here and
 * prints its answer as one JSON line on stdout. Dawn's own stderr lines stay in this process's
 * stderr, which the parent captures.
 */
import { probeWebGpuHere } from "./webgpu.js";

const answer = await probeWebGpuHere();
process.stdout.write(`${JSON.stringify(answer)}\n`);
