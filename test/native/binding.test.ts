import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { caught, rejected } from "../fixtures/caught.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildFakeNvml } from "../fixtures/fakeNvml.js";
import { repoPath, runUnprivileged, UNPRIVILEGED_UID } from "../fixtures/unprivileged.js";
import type { NativeBinding, NativeIoError, SamplerSourceSpec } from "../../src/native/types.js";

// Loaded directly (not through src/native/binding.ts): a missing or broken addon fails these tests.
const native = createRequire(import.meta.url)("../../build/Release/splitwatt.node") as NativeBinding;

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "splitwatt-binding-"));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function expectIoError(err: NativeIoError, code: string, syscall: string, p: string): void {
  expect(err).toBeInstanceOf(Error);
  expect(err.code).toBe(code);
  expect(typeof err.errno).toBe("number");
  expect(err.errno).toBeGreaterThan(0);
  expect(err.syscall).toBe(syscall);
  expect(err.path).toBe(p);
  expect(err.message).toContain(code);
  expect(err.message).toContain(p);
}

describe("module", () => {
  it("exports the contract", () => {
    expect(native.napiVersion).toBe(8);
    expect(native.buildInfo).toMatch(/N-API 8/);
    for (const name of ["Sysfs", "Msr", "Perf", "Nvml", "Sampler", "Affinity", "Vulkan", "energyDelta"] as const) {
      expect(typeof native[name]).toBe("function");
    }
  });
});

describe("Sysfs", () => {
  const sysfs = new native.Sysfs();

  it("readMany returns text or errno per item and never rejects", async () => {
    const a = path.join(dir, "a");
    fs.writeFileSync(a, "1234\n");
    const missing = path.join(dir, "missing");
    const results = await sysfs.readMany([a, missing, a]);
    expect(results).toHaveLength(3);
    expect(results[0]).toEqual({ ok: true, text: "1234\n" });
    expect(results[1]).toEqual({ ok: false, errno: os.constants.errno.ENOENT, code: "ENOENT", syscall: "open" });
    expect(results[2]).toEqual({ ok: true, text: "1234\n" });
    expect(await sysfs.readMany([])).toEqual([]);
  });

  it("readSync returns text and throws a NativeIoError", () => {
    const a = path.join(dir, "scaling_governor");
    fs.writeFileSync(a, "performance\n");
    expect(sysfs.readSync(a)).toBe("performance\n");
    const missing = path.join(dir, "nope");
    const err = caught(() => sysfs.readSync(missing));
    expectIoError(err, "ENOENT", "open", missing);
    expect(err.errno).toBe(os.constants.errno.ENOENT);
    expect(err.message).toBe(`ENOENT: no such file or directory, open '${missing}'`);
    expectIoError(caught(() => sysfs.readSync(dir)), "EISDIR", "read", dir);
  });

  it("write replaces the value (shorter over longer reads back exactly)", async () => {
    const f = path.join(dir, "scaling_max_freq");
    fs.writeFileSync(f, "2400000\n");
    await sysfs.write(f, "800000");
    expect(fs.readFileSync(f, "utf8")).toBe("800000");
    sysfs.writeSync(f, "1200000\n");
    expect(sysfs.readSync(f)).toBe("1200000\n");
  });

  it("write never creates: a missing path is ENOENT, a directory is EISDIR", async () => {
    const missing = path.join(dir, "missing");
    expectIoError(await rejected(sysfs.write(missing, "1")), "ENOENT", "open", missing);
    expect(fs.existsSync(missing)).toBe(false);
    expectIoError(await rejected(sysfs.write(dir, "1")), "EISDIR", "open", dir);
    expectIoError(caught(() => sysfs.writeSync(missing, "1")), "ENOENT", "open", missing);
  });

  it("list is sorted with types; errors reject", async () => {
    fs.writeFileSync(path.join(dir, "b"), "");
    fs.mkdirSync(path.join(dir, "a"));
    fs.symlinkSync("b", path.join(dir, "c"));
    fs.writeFileSync(path.join(dir, "B"), "");
    expect(await sysfs.list(dir)).toEqual([
      { name: "B", type: "file" },
      { name: "a", type: "dir" },
      { name: "b", type: "file" },
      { name: "c", type: "link" },
    ]);
    const missing = path.join(dir, "nope");
    expectIoError(await rejected(sysfs.list(missing)), "ENOENT", "opendir", missing);
  });

  it("access returns 0 or the errno", () => {
    const f = path.join(dir, "f");
    fs.writeFileSync(f, "");
    expect(sysfs.access(f, "f")).toBe(0);
    expect(sysfs.access(f, "r")).toBe(0);
    expect(sysfs.access(f, "rw")).toBe(0);
    expect(sysfs.access(path.join(dir, "nope"), "f")).toBe(os.constants.errno.ENOENT);
    expect(() => sysfs.access(f, "z" as "r")).toThrow(TypeError);
  });

  it("realpathSync resolves symlinks", () => {
    const real = path.join(dir, "real");
    fs.mkdirSync(real);
    fs.writeFileSync(path.join(real, "f"), "");
    fs.symlinkSync(real, path.join(dir, "link"));
    expect(sysfs.realpathSync(path.join(dir, "link", "f"))).toBe(fs.realpathSync(path.join(real, "f")));
    const missing = path.join(dir, "nope");
    expectIoError(caught(() => sysfs.realpathSync(missing)), "ENOENT", "realpath", missing);
  });

  it("rejects bad arguments with TypeError", () => {
    expect(() => sysfs.readSync(1 as unknown as string)).toThrow(TypeError);
    expect(() => sysfs.readMany("x" as unknown as string[])).toThrow(TypeError);
  });
});

describe("Msr", () => {
  it("reads 64-bit registers from a sparse fake msr file", () => {
    const msr = path.join(dir, "msr");
    const fd = fs.openSync(msr, "w");
    const write = (reg: number, value: bigint) => {
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64LE(value);
      fs.writeSync(fd, buf, 0, 8, reg);
    };
    write(0x611, 0x0000_0001_dead_beefn);
    write(0xc001029b, 0xffff_0000_1234_5678n);
    fs.closeSync(fd);
    expect(fs.statSync(msr).size).toBe(0xc001029b + 8);
    const reader = new native.Msr();
    expect(reader.read(msr, 0x611)).toBe(0x0000_0001_dead_beefn);
    expect(reader.read(msr, 0xc001029b)).toBe(0xffff_0000_1234_5678n);
    expect(reader.read(msr, 0x606)).toBe(0n); // a hole reads as zeros
    const past = caught(() => reader.read(msr, 0xc0010300));
    expect(past.code).toBe("EIO");
    expect(past.syscall).toBe("pread");
    expectIoError(caught(() => reader.read(path.join(dir, "nope"), 0x611)), "ENOENT", "open", path.join(dir, "nope"));
    expect(() => reader.read(msr, -1)).toThrow(RangeError);
  });
});

describe("Perf", () => {
  // PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK on cpu 0 (a CPU-wide event): root may open it,
  // others are refused at perf_event_paranoid >= 1. This process's branch and an unprivileged
  // child's (uid 65534 when this process is root) are separate tests; one that cannot run here is
  // skipped with the reason in its title.
  const here = (() => {
    try {
      return { value: new native.Perf().probe(1, 0, 0), code: undefined };
    } catch (err) {
      return { value: undefined, code: (err as NativeIoError).code };
    }
  })();
  const unprivileged = runUnprivileged<{ ok: boolean; code?: string; syscall?: string; path?: string }>(`
    import { createRequire } from "node:module";
    const addon = ${JSON.stringify(repoPath("build/Release/splitwatt.node"))};
    const native = createRequire(addon)(addon);
    try {
      new native.Perf().probe(1, 0, 0);
      console.log(JSON.stringify({ ok: true }));
    } catch (e) {
      console.log(JSON.stringify({ ok: false, code: e.code, syscall: e.syscall, path: e.path }));
    }
  `);

  it.skipIf(here.code !== undefined)(
    `probes a software counter where perf_event_open is permitted (this process, uid ${process.getuid?.()})${here.code === undefined ? "" : ` [SKIPPED: perf_event_open fails here with ${here.code}]`}`,
    () => {
      expect(typeof here.value).toBe("bigint");
    },
  );

  it.skipIf(unprivileged.ok)(
    `a refused probe throws EACCES or EPERM from perf_event_open naming the event (child process, uid ${UNPRIVILEGED_UID})${unprivileged.ok ? ` [SKIPPED: permitted even for uid ${UNPRIVILEGED_UID} here]` : ""}`,
    () => {
      expect(unprivileged).toMatchObject({ ok: false, syscall: "perf_event_open", path: expect.stringContaining("type=1") });
      expect(["EACCES", "EPERM"]).toContain(unprivileged.code);
    },
  );

  it("rejects an unknown PMU type with errno, naming it", () => {
    const err = caught(() => new native.Perf().probe(9999, 0, 0));
    expect(err.syscall).toBe("perf_event_open");
    expect(err.errno).toBeGreaterThan(0);
    expect(err.path).toContain("type=9999");
  });
});

describe("Nvml", () => {
  it("a missing library is ENOENT naming the path", () => {
    const lib = path.join(dir, "no", "libnvidia-ml.so.1");
    const err = caught(() => new native.Nvml(lib));
    expectIoError(err, "ENOENT", "dlopen", lib);
    expect(err.errno).toBe(os.constants.errno.ENOENT);
  });

  it("a file that is not a library does not load (not ENOENT)", () => {
    const lib = path.join(dir, "libnvidia-ml.so.1");
    fs.writeFileSync(lib, "not an ELF");
    const err = caught(() => new native.Nvml(lib));
    expect(err.code).toBe("ENOEXEC");
    expect(err.syscall).toBe("dlopen");
    expect(err.path).toBe(lib);
  });

  it("talks to a (fake) NVML through dlopen", () => {
    const lib = buildFakeNvml(dir);
    const nvml = new native.Nvml(lib);
    expect(nvml.deviceCount()).toBe(2);
    expect(nvml.deviceName(0)).toBe("Fake GPU 0");
    expect(nvml.deviceName(1)).toBe("Fake GPU 1");
    const e1 = nvml.totalEnergyMJ(0);
    const e2 = nvml.totalEnergyMJ(0);
    expect(typeof e1).toBe("bigint");
    expect(e2! - e1!).toBe(1000n);
    expect(nvml.totalEnergyMJ(1)).toBeNull();
    expect(nvml.powerMW(0)).toBe(50000);
    expect(nvml.powerMW(1)).toBe(25000);
    const err = caught(() => nvml.deviceName(5));
    expect(err.code).toBe("ENVML");
    expect(err.message).toContain("Invalid Argument");
    expect(err.syscall).toBe("nvmlDeviceGetHandleByIndex_v2");
    nvml.close();
    nvml.close(); // idempotent
    expect(caught(() => nvml.deviceCount()).code).toBe("EBADF");
  });

  it("feeds the counter-nvml and power-nvml sampler kinds", () => {
    const lib = buildFakeNvml(dir);
    const sources: SamplerSourceSpec[] = [
      { kind: "counter-nvml", id: "gpu0", libPath: lib, index: 0, scaleToNJ: 1e6, maxRange: 0n },
      { kind: "power-nvml", id: "gpu1", libPath: lib, index: 1, scaleToUW: 1000 },
    ];
    const sampler = new native.Sampler({ sources });
    try {
      sampler.tick(0n);
      sampler.tick(500_000_000n);
      const snap = sampler.tick(1_000_000_000n);
      const [gpu0, gpu1] = snap.sources;
      expect(gpu0!.energyNJ).toBe(2_000_000_000n); // +1000 mJ per read, two intervals
      expect(gpu0!.samples).toBe(3);
      expect(gpu1!.energyNJ).toBe(25_000_000_000n); // 25 W for 1 s
      expect(gpu1!.last).toBe(25_000_000);
    } finally {
      sampler.dispose();
    }
    // device 1 has no energy counter: the constructor says so with an errno
    const err = caught(
      () => new native.Sampler({ sources: [{ kind: "counter-nvml", id: "x", libPath: lib, index: 1, scaleToNJ: 1e6, maxRange: 0n }] }),
    );
    expect(err.code).toBe("ENOTSUP");
    expect(err.syscall).toBe("nvmlDeviceGetTotalEnergyConsumption");
    const missing = path.join(dir, "nope.so");
    expect(
      caught(() => new native.Sampler({ sources: [{ kind: "power-nvml", id: "x", libPath: missing, index: 0, scaleToUW: 1000 }] })).code,
    ).toBe("ENOENT");
  });
});

describe("Affinity", () => {
  it("get/set round trip on the calling thread", () => {
    const aff = new native.Affinity();
    expect(aff.cpuCount()).toBeGreaterThanOrEqual(1);
    const before = aff.get(0);
    expect(before.length).toBeGreaterThanOrEqual(1);
    try {
      aff.set(0, [before[0]!]);
      expect(aff.get(0)).toEqual([before[0]]);
    } finally {
      aff.set(0, before);
    }
    expect(aff.get(0)).toEqual(before);
  });

  it("an empty set is EINVAL", () => {
    const err = caught(() => new native.Affinity().set(0, []));
    expect(err.code).toBe("EINVAL");
    expect(err.syscall).toBe("sched_setaffinity");
    expect(() => new native.Affinity().set(0, [-1])).toThrow(RangeError);
  });
});

describe("energyDelta", () => {
  const U64_MAX = 2n ** 64n - 1n;
  const R = 262_143_328_850n; // a typical max_energy_range_uj
  const cases: Array<[string, bigint, bigint, bigint, bigint | null]> = [
    ["normal", 100n, 250n, 0n, 150n],
    ["equal", 42n, 42n, R, 0n],
    ["forward with range", 100n, 250n, R, 150n],
    ["wrap with range", R - 100n, 50n, R, 150n],
    ["wrap of exactly half the range", R - R / 2n, 0n, R, R / 2n],
    ["backwards with range but implausible (reset)", R - 100n, R - 200n, R, null],
    ["backwards to a small value, too far to be a wrap", R / 4n, 10n, R, null],
    ["backwards with no range", 1000n, 10n, 0n, null],
    ["prev beyond the range", R + 5n, 10n, R, null],
    ["32-bit MSR wrap", 0xffff_ff00n, 0x100n, 2n ** 32n, 0x200n],
    ["near 2^64 forward", U64_MAX - 10n, U64_MAX, 0n, 10n],
    ["0 to 2^64-1", 0n, U64_MAX, 0n, U64_MAX],
    ["wrap at 2^64-1 range", U64_MAX - 5n, 4n, U64_MAX, 9n],
  ];
  it.each(cases)("%s", (_name, prev, cur, range, expected) => {
    expect(native.energyDelta(prev, cur, range)).toBe(expected);
  });

  it("throws TypeError on non-BigInt arguments", () => {
    expect(() => native.energyDelta(1 as unknown as bigint, 2n, 0n)).toThrow(TypeError);
    expect(() => native.energyDelta(1n, 2 as unknown as bigint, 0n)).toThrow(TypeError);
    expect(() => native.energyDelta(1n, 2n, 0 as unknown as bigint)).toThrow(TypeError);
    expect(() => (native.energyDelta as unknown as () => unknown)()).toThrow(TypeError);
    expect(() => native.energyDelta(-1n, 2n, 0n)).toThrow(RangeError);
  });
});

describe("Vulkan", () => {
  it("physicalDevices resolves with the loader's raw answer; a bad library rejects with a NativeIoError", async () => {
    const r = await new native.Vulkan().physicalDevices("libvulkan.so.1");
    expect(r.createResult).toBe(0);
    expect(r.loaderApiVersion >>> 22).toBe(1);
    for (const d of r.devices) {
      expect(d.deviceName.length).toBeGreaterThan(0);
      expect([0, 1, 2, 3, 4]).toContain(d.deviceType);
    }
    await expect(new native.Vulkan().physicalDevices("/nonexistent/libvulkan.so.1")).rejects.toMatchObject({ code: "ENOENT", syscall: "dlopen", path: "/nonexistent/libvulkan.so.1" });
    await expect(new native.Vulkan().physicalDevices("libc.so.6")).rejects.toMatchObject({ code: "ENOSYS", syscall: "dlsym" });
    expect(() => new native.Vulkan().physicalDevices(42 as never)).toThrow(TypeError);
  });
});
