import { afterEach, describe, expect, it } from "vitest";
import { affinity } from "../../src/hw/affinity.js";
import { overrideWarnings } from "../../src/hw/overrides.js";
import { roots } from "../../src/hw/roots.js";
import { acpiCpufreqUserspace, jetsonOrin } from "../fixtures/boards.js";
import { FakeTree } from "../fixtures/fakeTree.js";

const trees: FakeTree[] = [];
afterEach(() => {
  for (const t of trees.splice(0)) t.cleanup();
});
function fake(build: (t: FakeTree) => void): FakeTree {
  const t = FakeTree.create();
  trees.push(t);
  build(t);
  return t;
}

describe("what can override frequency settings", () => {
  it("names running daemons from /proc/PID/comm (15-char truncated names)", async () => {
    const t = fake(acpiCpufreqUserspace);
    t.file("proc/812/comm", "power-profiles-").file("proc/900/comm", "tuned").file("proc/901/comm", "bash");
    const w = await overrideWarnings(roots({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot }));
    expect(w).toHaveLength(2);
    expect(w.join("\n")).toMatch(/power-profiles-daemon is running/);
    expect(w.join("\n")).toMatch(/tuned is running/);
  });

  it("warns on a Jetson about nvpmodel and jetson_clocks even when they are not running", async () => {
    const t = fake(jetsonOrin);
    const w = await overrideWarnings(roots({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot }));
    expect(w).toEqual([expect.stringMatching(/Jetson board: nvpmodel and jetson_clocks can override/)]);
    t.file("proc/77/comm", "nvpmodel");
    const running = await overrideWarnings(roots({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot }));
    expect(running).toEqual([expect.stringMatching(/^nvpmodel is running/)]);
  });

  it("is quiet on a plain x86 box", async () => {
    const t = fake(acpiCpufreqUserspace);
    expect(await overrideWarnings(roots({ sysfsRoot: t.sysfsRoot, procRoot: t.procRoot }))).toEqual([]);
  });
});

describe("affinity", () => {
  it("pins the calling thread and puts it back", () => {
    const before = affinity.get();
    try {
      affinity.set([before[0] as number]);
      expect(affinity.get()).toEqual([before[0]]);
    } finally {
      affinity.set(before);
    }
    expect(affinity.get()).toEqual(before);
  });
  it("refuses an empty or negative CPU list with a usage error", () => {
    expect(() => affinity.set([])).toThrow(/CPU list/);
    expect(() => affinity.set([-1])).toThrow(/CPU list/);
    expect(() => affinity.set([4096])).toThrow(/must be in 0\.\.1023/);
    // a CPU this machine does not have: the kernel's EINVAL
    expect(() => affinity.set([1000])).toThrow(expect.objectContaining({ code: "E_REJECTED" }));
  });
});
