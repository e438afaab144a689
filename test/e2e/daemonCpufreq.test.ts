/**
 * The daemon's CPU frequency on a fake cpufreq tree (a Raspberry Pi 4's, test/fixtures/boards.ts):
 * held for its life, switched only when a configuration asks for another frequency, restored on
 * SIGTERM (after draining) and, after a SIGKILL, by the next start.
 */
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { seededFloats } from "../../src/runtime/verifySplit.js";
import { raspberryPi4 } from "../fixtures/boards.js";
import { liveFront, writeFront } from "../fixtures/daemonFronts.js";
import { inferJson, startChild, type Child } from "../fixtures/daemonProcess.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const POLICY = "sys/devices/system/cpu/cpufreq/policy0";
const X = { name: "input", shape: [1, 3, 32, 32], data: seededFloats(3072, 5) };
let dir: string;
let frontPath: string;
const children: Child[] = [];
const trees: FakeTree[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "sw-daemon-freq-"));
  const a = await analyzeModel(loadModel(await zooPath("tiny_cnn")));
  // all on the device at 600 MHz (20 ms, 0.10 J) and at 1500 MHz (2 ms, 0.30 J)
  frontPath = writeFront(dir, "freq.pareto.json", liveFront({ sha256: a.model.sha256, lastCut: a.cuts.length - 1, freqs: [600, 1500] }));
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop("SIGKILL")));
  for (const t of trees) t.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function board(): { t: FakeTree; stateDir: string; original: string[]; now: () => string[] } {
  const t = FakeTree.create();
  raspberryPi4(t);
  trees.push(t);
  const read = (): string[] => ["scaling_governor", "scaling_min_freq", "scaling_max_freq"].map((f) => t.read(`${POLICY}/${f}`));
  return { t, stateDir: mkdtempSync(join(dir, "state-")), original: read(), now: read };
}

async function daemon(t: FakeTree, stateDir: string): Promise<Child> {
  const c = await startChild(["daemon", "--model", "tiny_cnn", "--port", "0", "--front", frontPath, "--sysfs-root", t.sysfsRoot, "--state-dir", stateDir]);
  children.push(c);
  return c;
}

const freqOf = async (c: Child, deadlineMs: number) => {
  const r = await inferJson(c.url, "tiny_cnn", X, { deadline_ms: deadlineMs });
  expect(r.status).toBe(200);
  return r.body.parameters as Record<string, unknown>;
};

describe("splitwatt daemon: CPU frequency", () => {
  it("holds the governor, switches only when a configuration asks for another frequency (timed, counted), and restores everything on SIGTERM after draining (exit 0)", async () => {
    const b = board();
    const d = await daemon(b.t, b.stateDir);
    expect(b.t.read(`${POLICY}/scaling_governor`)).toBe("userspace");
    expect(readdirSync(b.stateDir).filter((f) => f.startsWith("cpufreq-"))).toHaveLength(1);
    const msgs = d.records().map((r) => r.msg);
    expect(msgs).toEqual(expect.arrayContaining(["holding the CPU frequency", "frequency switch measured"]));
    const st = (await (await fetch(`${d.url}/v1/status`)).json()) as Record<string, any>;
    expect(st.frequency).toMatchObject({ controlled: true, policies: ["policy0"] });
    expect(st.frequency.switchCost.measuredAtStart.timeMs).toBeGreaterThan(0);
    expect(st.frequency.switchCost.timeMs).toBe(st.frequency.switchCost.measuredAtStart.timeMs);

    // a loose deadline: the frugal 600 MHz configuration; a tight one: 1500 MHz
    const slow = await freqOf(d, 1000);
    expect(JSON.parse(slow.config as string).cpuFreqMHz).toBe(600);
    expect(slow.cpu_freq_mhz).toBe(600);
    expect(b.t.read(`${POLICY}/scaling_setspeed`)).toBe("600000");
    const fast = await freqOf(d, 10);
    expect(fast).toMatchObject({ cpu_freq_mhz: 1500, frequency_controlled: true });
    expect(fast.frequency_switch_ms as number).toBeGreaterThan(0);
    expect(b.t.read(`${POLICY}/scaling_setspeed`)).toBe("1500000");
    const again = await freqOf(d, 10);
    expect(again).toMatchObject({ cpu_freq_mhz: 1500, frequency_switch_ms: 0 });
    const m = await (await fetch(`${d.url}/metrics`)).text();
    // the two switches above (calibration switches are not counted as requests'); the third switched nothing
    expect(Number(/^splitwatt_daemon_frequency_switches_total (\d+)/m.exec(m)?.[1])).toBe(2);
    expect(m).toMatch(/^splitwatt_daemon_cpu_frequency_hertz 1500000000$/m);

    // SIGTERM with requests in flight: the accepted ones are answered, then the CPU is restored
    const inflight = Array.from({ length: 12 }, (_, i) =>
      inferJson(d.url, "tiny_cnn", X, { deadline_ms: i % 2 === 0 ? 1000 : 10 }).then(
        (r) => r.status,
        () => "refused" as const,
      ),
    );
    await new Promise((r) => setTimeout(r, 5));
    const exit = await d.stop("SIGTERM");
    const statuses = await Promise.all(inflight);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(statuses.every((s) => s === 200 || s === 503 || s === "refused"), statuses.join(",")).toBe(true);
    expect(statuses).toContain(200);
    expect(b.now()).toEqual(b.original);
    expect(readdirSync(b.stateDir).filter((f) => f.startsWith("cpufreq-"))).toEqual([]);
    const stopped = d.records().find((r) => r.msg === "stopped");
    expect(stopped?.restoredCpufreq).toEqual(["policy0"]);
  }, 90_000);

  it("after SIGKILL the settings stay in the state file; the next start restores them first, holds again, and restores on SIGTERM", async () => {
    const b = board();
    const d1 = await daemon(b.t, b.stateDir);
    await freqOf(d1, 1000);
    expect((await d1.stop("SIGKILL")).signal).toBe("SIGKILL");
    // left behind: the governor taken, the state file kept
    expect(b.t.read(`${POLICY}/scaling_governor`)).toBe("userspace");
    expect(readdirSync(b.stateDir).filter((f) => f.startsWith("cpufreq-"))).toHaveLength(1);
    const d2 = await daemon(b.t, b.stateDir);
    const restored = d2.records().find((r) => r.msg === "restored cpufreq settings a previous run left behind");
    expect(restored?.policies).toEqual(["policy0"]);
    // the restore came before the new hold saved the original state: the original is what comes back
    expect((await freqOf(d2, 10)).cpu_freq_mhz).toBe(1500);
    expect((await d2.stop("SIGTERM")).code).toBe(0);
    expect(b.now()).toEqual(b.original);
    expect(readdirSync(b.stateDir).filter((f) => f.startsWith("cpufreq-"))).toEqual([]);
  }, 90_000);
});
