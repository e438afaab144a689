/**
 * `splitwatt hw` with GPU clocks, spawned as the user runs it (built CLI, real addon) on fake
 * trees. The trees are plain files here (no fake kernel in a child process), so the signal tests
 * use the min = max pinning path (i915, a Mali without the userspace governor), whose result can
 * be read back from the files; the userspace path is covered with the fake kernel in
 * test/native/gpufreq.test.ts.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { devfreqMali, i915Gpu, jetsonOrin, raplClient, raspberryPi4 } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const repo = resolve(import.meta.dirname, "../..");
const bin = join(repo, "bin/splitwatt.js");
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000, env: { ...process.env, CI: "true", ...env } });
  return { code: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function fake(build: (t: FakeTree) => void): FakeTree {
  const t = FakeTree.create();
  build(t);
  cleanups.push(() => t.cleanup());
  return t;
}

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "sw-e2e-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const CARD = "sys/devices/pci0000:00/0000:00:02.0/drm/card0";
const MALI = "sys/devices/platform/fb000000.gpu/devfreq/fb000000.gpu";
const noUserspace = (t: FakeTree) => devfreqMali(t, { governors: ["powersave", "performance", "simple_ondemand"] });

describe("splitwatt hw lists GPU clocks", () => {
  it("--json: gpufreq.devices with frequencies, governors and limits; gpufreq capabilities; a Jetson warning", () => {
    const t = fake((tt) => {
      jetsonOrin(tt);
      devfreqMali(tt);
      i915Gpu(tt);
    });
    const r = cli(["hw", "--json", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--proc-root", t.procRoot, "--dev-root", t.devRoot, "--state-dir", tmp()]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.version).toBe(1);
    expect(j.gpufreq.devices.map((d: { id: string }) => d.id)).toEqual(["devfreq:17000000.ga10b", "devfreq:fb000000.gpu", "i915:card0"]);
    for (const d of j.gpufreq.devices) {
      expect(Object.keys(d).sort()).toEqual(
        ["availableKHz", "boostKHz", "curKHz", "driver", "governor", "governors", "id", "kind", "limitMaxKHz", "limitMinKHz", "maxKHz", "minKHz", "name"].sort(),
      );
    }
    expect(j.gpufreq.devices[1]).toMatchObject({ kind: "devfreq", driver: "panthor", governor: "simple_ondemand", minKHz: 300000, maxKHz: 1000000, curKHz: 300000 });
    expect(j.gpufreq.devices[2]).toMatchObject({ kind: "i915", governor: null, governors: [], availableKHz: null, minKHz: 100000, maxKHz: 750000, boostKHz: 750000 });
    const cap = (n: string) => j.capabilities.find((c: { name: string }) => c.name === n);
    expect(cap("gpufreq")).toMatchObject({ available: true, reason: expect.stringMatching(/3 GPU\(s\)/) });
    expect(cap("gpufreq.set")).toMatchObject({ available: true, reason: expect.stringMatching(/userspace governor/) });
    expect(j.gpufreq.warnings.join("\n")).toMatch(/Jetson GPU: nvpmodel and jetson_clocks/);
    // Vulkan devices are this machine's (lavapipe in CI), whatever the roots: a software one is said to be no accelerator
    expect(cap("vulkan").available).toBe(j.vulkan.devices.length > 0);
    for (const d of j.vulkan.devices) expect(Object.keys(d)).toEqual(expect.arrayContaining(["name", "vendor", "type", "driver", "software"]));
    if (j.vulkan.devices.some((d: { software: boolean }) => d.software)) expect(cap("vulkan").reason).toMatch(/software, not an accelerator/);
    // the CPU side is unchanged
    expect(j.cpufreq.policies.map((p: { id: string }) => p.id)).toEqual(["policy0", "policy4", "policy8"]);
  });

  it("energy sources that measure a GPU are labelled: Jetson's VDD_GPU_SOC rail, RAPL uncore on an Intel client part", () => {
    const label = (build: (t: FakeTree) => void) => {
      const t = fake(build);
      const j = JSON.parse(cli(["hw", "--json", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--proc-root", t.procRoot, "--dev-root", t.devRoot]).stdout);
      return Object.fromEntries(j.energy.sources.map((x: { id: string; gpu: string | null }) => [x.id, x.gpu]));
    };
    expect(label(jetsonOrin)).toMatchObject({ "ina3221:VDD_GPU_SOC": "GPU + SoC rail", "ina3221:VDD_CPU_CV": null, "ina3221:VIN_SYS_5V0": null });
    expect(label((t) => {
      raspberryPi4(t);
      raplClient(t);
    })).toEqual({ "rapl:package-0": null, "rapl:package-0/core": null, "rapl:package-0/uncore": "integrated GPU (RAPL uncore / PP1)", "rapl:psys": null });
  });

  it("text: a GPU frequency section; none on a board without GPU clocks, with the capability's reason", () => {
    const t = fake(i915Gpu);
    const r = cli(["hw", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--proc-root", t.procRoot, "--dev-root", t.devRoot]);
    expect(r.stdout).toMatch(/GPU frequency\n {2}i915:card0 {2}i915 {2}100-750 MHz \(limits 100-750\) {2}now 300 MHz {2}boost 750 MHz/);
    const none = cli(["hw", "--reading-ms", "0", "--sysfs-root", fake(raspberryPi4).sysfsRoot]);
    expect(none.stdout).toMatch(/GPU frequency\n {2}none: no devfreq GPU or i915 card/);
    expect(none.stdout).toMatch(/\n {2}no +gpufreq +missing: no devfreq GPU/);
  });

  it.each([
    [["hw", "set", "--gpu", "card0"], /--gpu needs --gpu-freq-mhz/],
    [["hw", "set", "--gpu-freq-mhz", "-5"], /must be a positive number of MHz/],
    [["hw", "set", "--gpu-freq-mhz", "500", "--hold", "0"], /this machine offers no GPU frequency control/],
  ])("bad input %j: one line, exit 2", (args, message) => {
    const r = cli([...(args as string[]), "--sysfs-root", fake(raspberryPi4).sysfsRoot, "--state-dir", tmp()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  it("hw set --gpu-freq-mhz that i915 cannot run: E_REJECTED with the range, exit 2, nothing left changed", () => {
    const t = fake(i915Gpu);
    const stateDir = tmp();
    const r = cli(["hw", "set", "--gpu-freq-mhz", "900", "--hold", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error\[E_REJECTED\]: 900 MHz is outside i915:card0's range 100-750 MHz/);
    expect(t.read(`${CARD}/gt_max_freq_mhz`)).toBe("750");
    expect(readdirSync(stateDir)).toEqual([]);
  });
});

describe("never leaves a GPU stuck at a low clock", () => {
  function startHold(t: FakeTree, stateDir: string, mhz: number) {
    const child = spawn(process.execPath, [bin, "hw", "set", "--gpu-freq-mhz", String(mhz), "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir], { env: { ...process.env, CI: "true" } });
    let out = "";
    const ready = new Promise<void>((res, rej) => {
      child.stdout.on("data", (b) => {
        out += String(b);
        if (out.includes("applied")) res();
      });
      child.on("exit", (code) => rej(new Error(`exited early with ${code}`)));
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.on("exit", (code, signal) => res({ code, signal })));
    return { child, ready, exited, output: () => out };
  }

  it("i915: pinned while held, restored on SIGTERM", async () => {
    const t = fake(i915Gpu);
    const stateDir = tmp();
    const { child, ready, exited, output } = startHold(t, stateDir, 200);
    await ready;
    expect(output()).toMatch(/i915:card0: requested 200 MHz, applied 200 MHz via minmax-pin/);
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["200", "200"]);
    const state = JSON.parse(readFileSync(join(stateDir, readdirSync(stateDir)[0] as string), "utf8"));
    expect(state).toMatchObject({ version: 2, policies: [], gpus: [{ id: "i915:card0", limitMin: 100, limitMax: 750 }] });
    child.kill("SIGTERM");
    // restored, then the exit status of SIGTERM (src/shutdown.ts)
    expect(await exited).toEqual({ code: 143, signal: null });
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["100", "750"]);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it("Mali after SIGKILL: hw warns, `hw restore` puts the limits back", async () => {
    const t = fake(noUserspace);
    const stateDir = tmp();
    const { child, ready, exited } = startHold(t, stateDir, 400);
    await ready;
    child.kill("SIGKILL");
    await exited;
    expect([t.read(`${MALI}/min_freq`), t.read(`${MALI}/max_freq`)]).toEqual(["400000000", "400000000"]);
    const shown = cli(["hw", "--reading-ms", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(shown.stdout).toMatch(/a splitwatt run that died left devfreq:fb000000.gpu changed: run `splitwatt hw restore`/);
    const r = cli(["hw", "restore", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/restored devfreq:fb000000.gpu/);
    expect([t.read(`${MALI}/min_freq`), t.read(`${MALI}/max_freq`)]).toEqual(["300000000", "1000000000"]);
    expect(readdirSync(stateDir)).toEqual([]);
  });

  it("after SIGKILL, the next run that sets clocks restores first, so it saves the true original", async () => {
    const t = fake(i915Gpu);
    const stateDir = tmp();
    const first = startHold(t, stateDir, 200);
    await first.ready;
    first.child.kill("SIGKILL");
    await first.exited;
    const r = cli(["hw", "set", "--gpu-freq-mhz", "600", "--hold", "0", "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/restored clock settings a previous run left behind: i915:card0/);
    expect(r.stdout).toMatch(/applied 600 MHz/);
    expect([t.read(`${CARD}/gt_min_freq_mhz`), t.read(`${CARD}/gt_max_freq_mhz`)]).toEqual(["100", "750"]);
    expect(readdirSync(stateDir)).toEqual([]);
  });
});
