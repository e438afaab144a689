/**
 * The WebGPU target through the built CLI on this machine: lavapipe (Mesa's software Vulkan
 * driver, installed by .ci/run) is a real WebGPU adapter and a CPU implementation, so every
 * figure it gives must be labelled software; with the Vulkan drivers hidden (VK_ICD_FILENAMES /
 * VK_DRIVER_FILES pointing at a missing file) there is no adapter and every command refuses the
 * target in one line, exit 2.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { zooPath } from "../../src/model/zoo/zoo.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), "sw-webgpu-"));
  dirs.push(d);
  return d;
};
beforeAll(async () => {
  // the model is built once here, so no command below prints the zoo's build lines
  await zooPath("tiny_cnn");
}, 60_000);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 300_000, env: { ...process.env, CI: "true", ...env } });
  return { code: r.status, signal: r.signal, stdout: String(r.stdout), stderr: String(r.stderr) };
}

const HIDE_ICDS = { VK_ICD_FILENAMES: "/nonexistent/icd.json", VK_DRIVER_FILES: "/nonexistent/icd.json" };
const QUICK = ["--network", "none", "--no-accuracy", "--min-runs", "3", "--max-seconds", "1", "--warm-up", "1", "--idle-ms", "0"];
const NO_ADAPTER = /^splitwatt: error\[E_UNSUPPORTED\]: (device|server) target webgpu is not available here: no WebGPU adapter \(.*\): install a Vulkan driver \(Mesa >= 24 on Debian: mesa-vulkan-drivers from bookworm-backports\)\n$/;

describe("no WebGPU adapter (Vulkan drivers hidden): refused in one line, exit 2", () => {
  it("measure --device-target webgpu, measure --server-target webgpu, serve --target webgpu, optimize --device-targets ...,webgpu", () => {
    const state = tmp();
    const env = { ...HIDE_ICDS, SPLITWATT_STATE_DIR: state };
    for (const args of [
      ["measure", "tiny_cnn", "--cut", "6", "--device-target", "webgpu", ...QUICK],
      ["measure", "tiny_cnn", "--cut", "6", "--server-target", "webgpu", ...QUICK],
      ["serve", "--model", "m=tiny_cnn", "--port", "0", "--target", "webgpu"],
      ["optimize", "--model", "tiny_cnn", "--device-targets", "cpu,webgpu", "--budget", "4", ...QUICK],
    ]) {
      const r = cli(args, env);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      // one line: Dawn's own stderr lines stay in the probe's child process
      expect(r.stderr).toMatch(NO_ADAPTER);
      expect(r.stdout).toBe("");
    }
  }, 300_000);

  it("a power preference is refused in one line on any machine (onnxruntime-node takes none)", () => {
    const r = cli(["measure", "tiny_cnn", "--cut", "6", "--device-target", "webgpu:low-power", ...QUICK], { SPLITWATT_STATE_DIR: tmp() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^splitwatt: error\[E_USAGE\]: device target "webgpu:low-power": onnxruntime-node takes no WebGPU power preference .*: use webgpu\n$/);
  });
});

describe("on this machine's WebGPU adapter (lavapipe: software)", () => {
  it("measure --device-target webgpu: warm-up (first run apart from steady state) and the adapter in JSON, the record and text, labelled software", () => {
    const state = tmp();
    const store = join(state, "m.jsonl");
    const r = cli(["measure", "tiny_cnn", "--cut", "9", "--device-target", "webgpu", "--store", store, "--json", ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.config).toMatchObject({ split: 9, deviceTarget: "webgpu", serverTarget: "cpu" });
    expect(j.warmUp).toMatchObject({ target: "webgpu" });
    for (const k of ["sessionCreateMs", "firstRunMs", "steadyRunMs"]) expect(j.warmUp[k]).toBeGreaterThan(0);
    expect(j.switchCost.acceleratorMs).toBeCloseTo(j.warmUp.sessionCreateMs + Math.max(0, j.warmUp.firstRunMs - j.warmUp.steadyRunMs), 6);
    expect(j.adapter.device).toMatchObject({ driver: "llvmpipe", software: true });
    expect(j.adapter.server).toBeNull();
    expect(j.softwareAdapter).toBe(true);
    expect(j.notes.join("\n")).toMatch(/software GPU \(head on llvmpipe.*\): a CPU implementation of Vulkan, not accelerator figures/);
    // the record in the store carries the same (host facts: warmUp; adapter; switchCost)
    const rec = JSON.parse(readFileSync(store, "utf8").trim());
    expect(rec.host.warmUp).toMatchObject({ target: "webgpu", firstRunMs: j.warmUp.firstRunMs, steadyRunMs: j.warmUp.steadyRunMs });
    expect(rec.adapter).toEqual(j.adapter);
    expect(rec.switchCost).toEqual(j.switchCost);
    // text, from the store: the warm-up line and the software label
    const text = cli(["measure", "tiny_cnn", "--cut", "9", "--device-target", "webgpu", "--store", store, ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^warm-up ms {3}head on webgpu: session [\d.]+ {2}first run [\d.]+ \(shader compilation\) {2}steady [\d.]+ {2}switch cost [\d.]+$/m);
    expect(text.stdout).toMatch(/^adapter {6}head llvmpipe .*\[SOFTWARE: not an accelerator\] {2}tail -$/m);
    expect(text.stdout).toMatch(/^note: software GPU \(head on llvmpipe/m);
  }, 300_000);

  it("optimize --model tiny_cnn offers webgpu on both sides and labels those points software in the file and the summary", () => {
    const state = tmp();
    const out = join(state, "tiny.pareto.json");
    const r = cli(["optimize", "--model", "tiny_cnn", "--budget", "6", "--seed", "2", "--store", join(state, "m.jsonl"), "--out", out, ...QUICK], { SPLITWATT_STATE_DIR: state });
    expect(r.stderr).not.toMatch(/internal error/);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(out, "utf8"));
    const dims = Object.fromEntries(doc.space.dimensions.map((d: { name: string; values: unknown[] }) => [d.name, d.values]));
    expect(dims.deviceTarget).toContain("webgpu");
    expect(dims.serverTarget).toContain("webgpu");
    expect(dims.deviceTarget[0]).toBe("cpu");
    // the anchors: all on the device on every device target, all on the server on every server target
    type Entry = { config: Record<string, unknown>; adapter?: { device: { software: boolean } | null; server: { software: boolean } | null } };
    const archive: Entry[] = doc.archive;
    const last = Math.max(...(dims.split as number[]));
    const gpuHead = archive.filter((e) => e.config.deviceTarget === "webgpu" && e.config.split !== 0);
    const gpuTail = archive.filter((e) => e.config.serverTarget === "webgpu" && e.config.split !== last);
    expect(gpuHead.length).toBeGreaterThan(0);
    expect(gpuTail.length).toBeGreaterThan(0);
    for (const e of gpuHead) expect(e.adapter?.device?.software).toBe(true);
    for (const e of gpuTail) expect(e.adapter?.server?.software).toBe(true);
    // CPU-only points carry no adapter
    for (const e of archive.filter((x) => !gpuHead.includes(x) && !gpuTail.includes(x))) expect(e.adapter).toEqual({ device: null, server: null });
    expect(doc.source.notes.join("\n")).toMatch(/software GPU .*not accelerator figures/);
    const software = gpuHead.length + gpuTail.length - archive.filter((e) => gpuHead.includes(e) && gpuTail.includes(e)).length;
    expect(r.stdout).toContain(`${software} of ${archive.length} evaluated configurations ran on a software GPU adapter: their figures are not accelerator figures`);
    // front lines on a software adapter are marked
    for (const line of r.stdout.split("\n").filter((l) => /deviceTarget=webgpu/.test(l) && !/split=0 /.test(l))) expect(line).toMatch(/\[software GPU\]$/);
  }, 300_000);
});
