/**
 * The profiler's estimate at the frequency it set (issue 12, item 8) on a fake Raspberry Pi 4
 * tree behind the fake kernel: the record and the optimize label say the frequency.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { loadModel } from "../../src/model/onnxModel.js";
import { zooPath } from "../../src/model/zoo/zoo.js";
import { Profiler, type ProfilerOptions } from "../../src/measure/profiler.js";
import { binding } from "../../src/native/binding.js";
import { bareMachine, raspberryPi4 } from "../fixtures/boards.js";
import { FakeKernel } from "../fixtures/fakeKernel.js";
import { FakeTree } from "../fixtures/fakeTree.js";

let analysis: ModelAnalysis;
let path: string;
const tmp = (): string => mkdtempSync(join(tmpdir(), "sw-prof-freq-"));
const trees: FakeTree[] = [];
const profilers: Profiler[] = [];

beforeAll(async () => {
  path = await zooPath("tiny_cnn");
  analysis = await analyzeModel(loadModel(path));
});
afterAll(async () => {
  for (const p of profilers) await p.close();
  for (const t of trees) t.cleanup();
});

async function profilerOn(build: (t: FakeTree) => void, board: string): Promise<Profiler> {
  const t = FakeTree.create();
  trees.push(t);
  build(t);
  const opts: ProfilerOptions = {
    analysis,
    modelName: "tiny_cnn",
    modelPath: path,
    evalSet: "agreement",
    sysfsRoot: t.sysfsRoot,
    procRoot: t.procRoot,
    devRoot: t.devRoot,
    io: new FakeKernel(new (binding().Sysfs)()),
    stateDir: tmp(),
    network: null,
    accuracy: false,
    warmUp: 1,
    idleMs: 20,
    stop: { minRuns: 5, maxRuns: 20, ciRel: 0.5, maxMs: 3_000 },
    hostName: "test-host",
    board,
  };
  const p = await Profiler.open(opts);
  profilers.push(p);
  return p;
}

describe("the profiler's estimate and the CPU frequency", () => {
  it("on a Pi 4 tree: each measurement is priced and labelled at the frequency set, host.deviceEstimateFreqMHz", async () => {
    const p = await profilerOn(raspberryPi4, "raspberry-pi-4");
    expect(p.deviceEnergyLabel).toBe("estimate: board profile raspberry-pi-4 x CPU utilisation, priced at each configuration's cpuFreqMHz (set by splitwatt)");
    const last = analysis.cuts.length - 1;
    const low = (await p.measure({ split: last, cpuFreqMHz: 600, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" })).measurement;
    const high = (await p.measure({ split: last, cpuFreqMHz: 1500, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" })).measurement;
    expect(low.host).toMatchObject({ deviceEstimateFreqMHz: 600, deviceEstimateFreqSource: "applied" });
    expect(high.host).toMatchObject({ deviceEstimateFreqMHz: 1500, deviceEstimateFreqSource: "applied" });
    expect(low.energySource.device).toBe("estimate");
    // (the power ratio at equal utilisation is checked in energyFrequency.test.ts; here the CPU
    // time per request differs between runs, so the records' energies are not compared)
  });

  it("without cpufreq: the label and the record say the frequency is unknown", async () => {
    const p = await profilerOn((t) => bareMachine(t), "generic-x86");
    expect(p.deviceEnergyLabel).toBe("estimate: board profile generic-x86 x CPU utilisation, CPU frequency unknown: priced at the profile's maximum");
    const m = (await p.measure({ split: analysis.cuts.length - 1, cpuFreqMHz: "current", deviceTarget: "cpu", serverTarget: "cpu", codec: "raw" })).measurement;
    expect(m.host).toMatchObject({ deviceEstimateFreqMHz: null, deviceEstimateFreqSource: "unknown: priced at the profile's maximum" });
  });
});
