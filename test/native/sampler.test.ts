import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { caught } from "../fixtures/caught.js";
import { runUnprivileged, UNPRIVILEGED_UID } from "../fixtures/unprivileged.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  NativeBinding,
  NativeIoError,
  NativeSampler,
  SamplerBatch,
  SamplerOptions,
  SamplerSourceSpec,
} from "../../src/native/types.js";

// Loaded directly (not through src/native/binding.ts): a missing or broken addon fails these tests.
const ADDON = fileURLToPath(new URL("../../build/Release/splitwatt.node", import.meta.url));
const native = createRequire(import.meta.url)("../../build/Release/splitwatt.node") as NativeBinding;
const { ENOENT, ENODATA } = os.constants.errno;

let dir: string;
const samplers: NativeSampler[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "splitwatt-sampler-"));
});
afterEach(() => {
  for (const s of samplers.splice(0)) s.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

function sampler(options: SamplerOptions): NativeSampler {
  const s = new native.Sampler(options);
  samplers.push(s);
  return s;
}

const CPU_CLOCK: SamplerSourceSpec = { kind: "counter-perf", id: "clk", type: 1, config: 0, cpu: 0, scaleToNJ: 1, maxRange: 0n };
/** ok, or the error the constructor threw */
interface PerfAttempt {
  ok: boolean;
  code?: string;
  syscall?: string;
  path?: string;
}
/** Whether this process may open CPU_CLOCK, and whether an unprivileged one may (decided before the tests are collected). */
const perfHere: PerfAttempt = (() => {
  try {
    new native.Sampler({ sources: [CPU_CLOCK] }).dispose();
    return { ok: true };
  } catch (err) {
    const e = err as NativeIoError;
    return { ok: false, code: e.code, syscall: e.syscall, path: e.path };
  }
})();
const perfUnprivileged = runUnprivileged<PerfAttempt>(`
  import { createRequire } from "node:module";
  const native = createRequire(${JSON.stringify(ADDON)})(${JSON.stringify(ADDON)});
  try {
    new native.Sampler({ sources: [{ kind: "counter-perf", id: "clk", type: 1, config: 0, cpu: 0, scaleToNJ: 1, maxRange: 0n }] }).dispose();
    console.log(JSON.stringify({ ok: true }));
  } catch (e) {
    console.log(JSON.stringify({ ok: false, code: e.code, syscall: e.syscall, path: e.path }));
  }
`);

function file(name: string, value: string | number | bigint): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `${value}\n`);
  return p;
}

const S = 1_000_000_000n; // one second in ns

describe("counter sources (manual mode)", () => {
  it("counter-file accumulates microjoules as nanojoules", () => {
    const p = file("energy_uj", 1000);
    const s = sampler({ sources: [{ kind: "counter-file", id: "pkg", path: p, scaleToNJ: 1000, maxRange: 0n }] });
    const first = s.tick(0n);
    expect(first.tNs).toBe(0n);
    expect(first.sources[0]).toEqual({ id: "pkg", energyNJ: 0n, samples: 1, errors: 0, resets: 0, lastErrno: 0, last: 1000 });
    file("energy_uj", 3500);
    const second = s.tick(S);
    expect(second.tNs).toBe(S);
    expect(second.sources[0]!.energyNJ).toBe(2_500_000n);
    expect(second.sources[0]!.last).toBe(3500);
    expect(s.snapshot()).toEqual(second);
  });

  it("crosses a wrap when maxRange is known", () => {
    const R = 262_143_328_850n;
    const p = file("energy_uj", R - 100n);
    const s = sampler({ sources: [{ kind: "counter-file", id: "pkg", path: p, scaleToNJ: 1000, maxRange: R }] });
    s.tick(0n);
    file("energy_uj", 50);
    const snap = s.tick(S);
    expect(snap.sources[0]!.energyNJ).toBe(150_000n);
    expect(snap.sources[0]!.resets).toBe(0);
  });

  it("a reset without a range drops the interval and never goes negative", () => {
    const p = file("energy_uj", 5000);
    const s = sampler({ sources: [{ kind: "counter-file", id: "pkg", path: p, scaleToNJ: 1000, maxRange: 0n }] });
    s.tick(0n);
    file("energy_uj", 10);
    let src = s.tick(S).sources[0]!;
    expect(src.resets).toBe(1);
    expect(src.energyNJ).toBe(0n);
    file("energy_uj", 30);
    src = s.tick(2n * S).sources[0]!;
    expect(src.energyNJ).toBe(20_000n); // rebased on the reset value
    expect(src.resets).toBe(1);
  });

  it("a read error counts, keeps the baseline and recovers", () => {
    const p = file("energy_uj", 1000);
    const s = sampler({ sources: [{ kind: "counter-file", id: "pkg", path: p, scaleToNJ: 1000, maxRange: 0n }] });
    s.tick(0n);
    fs.writeFileSync(p, ""); // an empty value (like a sysfs node answering ENODATA)
    let src = s.tick(S).sources[0]!;
    expect(src.errors).toBe(1);
    expect(src.lastErrno).toBe(ENODATA);
    fs.rmSync(p); // the node disappears
    src = s.tick(2n * S).sources[0]!;
    expect(src.errors).toBe(2);
    expect(src.lastErrno).toBe(ENOENT);
    expect(src.energyNJ).toBe(0n);
    file("energy_uj", 4000); // comes back: reopened by path, the old baseline still holds
    src = s.tick(3n * S).sources[0]!;
    expect(src.errors).toBe(2);
    expect(src.samples).toBe(2);
    expect(src.energyNJ).toBe(3_000_000n);
    expect(src.lastErrno).toBe(ENOENT); // the last errno seen stays visible
  });

  it("carries the fractional remainder so nothing is lost to rounding", () => {
    const p = file("energy", 0);
    const s = sampler({ sources: [{ kind: "counter-file", id: "x", path: p, scaleToNJ: 0.25, maxRange: 0n }] });
    s.tick(0n);
    for (let i = 1; i <= 14; i++) {
      file("energy", i);
      s.tick(BigInt(i) * S);
    }
    expect(s.snapshot().sources[0]!.energyNJ).toBe(3n); // 14 × 0.25 = 3.5, not 14 × floor(0.25) = 0
  });

  it("counter-msr reads the low 32 bits of a register in a sparse file and wraps at 2^32", () => {
    const msr = path.join(dir, "msr");
    const REG = 0xc001029b; // AMD package energy status, ~3.2 GB into the file
    const put = (value: bigint) => {
      const fd = fs.openSync(msr, fs.existsSync(msr) ? "r+" : "w");
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64LE(value);
      fs.writeSync(fd, buf, 0, 8, REG);
      fs.closeSync(fd);
    };
    put(0xabcd_0000_ffff_ff00n); // upper half is not part of the counter
    const unit = 1e9 / 2 ** 14; // 61035.15625 nJ per count (ESU 14)
    const s = sampler({
      sources: [{ kind: "counter-msr", id: "pkg", path: msr, register: REG, scaleToNJ: unit, maxRange: 2n ** 32n }],
    });
    expect(s.tick(0n).sources[0]!.last).toBe(0xffff_ff00);
    put(0xabcd_0000_0000_0100n);
    const src = s.tick(S).sources[0]!;
    expect(src.resets).toBe(0);
    expect(src.energyNJ).toBe(31_250_000n); // 0x200 counts
  });

  it("counter-perf with an unknown PMU type throws with errno", () => {
    const err = caught(() =>
      sampler({ sources: [{ kind: "counter-perf", id: "p", type: 9999, config: 1, cpu: 0, scaleToNJ: 1, maxRange: 0n }] }),
    );
    expect(err).toBeInstanceOf(Error);
    expect(err.syscall).toBe("perf_event_open");
    expect(err.errno).toBeGreaterThan(0);
    expect(typeof err.code).toBe("string");
    expect(err.path).toContain("type=9999");
  });

  // The CPU-wide software counter PERF_TYPE_SOFTWARE / PERF_COUNT_SW_CPU_CLOCK on cpu 0: root may
  // open it (so may anyone at perf_event_paranoid <= 0), others are refused. Each branch is its own
  // test: this process's, and an unprivileged child's (uid 65534 when this process is root). Where
  // one cannot run here, it is skipped with the reason in its title.
  it.skipIf(!perfHere.ok)(
    `counter-perf counts CPU-clock nanoseconds where perf_event_open is permitted (this process, uid ${process.getuid?.()})${perfHere.ok ? "" : ` [SKIPPED: perf_event_open fails here with ${perfHere.code}]`}`,
    () => {
      const s = sampler({ sources: [CPU_CLOCK] });
      s.tick(0n);
      const start = performance.now();
      while (performance.now() - start < 5) {
        /* 5 ms of wall time: the CPU clock of cpu 0 runs on under it */
      }
      const src = s.tick(S).sources[0]!;
      expect(src.errors).toBe(0);
      expect(src.samples).toBe(2);
      // scaleToNJ 1: energyNJ is the counter's advance between the two reads, in ns
      expect(src.energyNJ).toBeGreaterThanOrEqual(4_500_000n);
      expect(src.last).toBeGreaterThan(0);
    },
  );

  it.skipIf(perfUnprivileged.ok)(
    `counter-perf where perf_event_open is refused: the constructor throws EACCES or EPERM naming the event (child process, uid ${UNPRIVILEGED_UID})${perfUnprivileged.ok ? ` [SKIPPED: permitted even for uid ${UNPRIVILEGED_UID} here]` : ""}`,
    () => {
      expect(perfUnprivileged).toMatchObject({ ok: false, syscall: "perf_event_open", path: expect.stringContaining("type=1 config=0x0 cpu=0") });
      expect(["EACCES", "EPERM"]).toContain(perfUnprivileged.code);
    },
  );
});

describe("power sources (manual mode)", () => {
  it("power-file integrates with the trapezoid rule exactly", () => {
    const p = file("power1_input", 2_000_000); // µW
    const s = sampler({ sources: [{ kind: "power-file", id: "board", path: p, scaleToUW: 1 }] });
    s.tick(10n * S);
    file("power1_input", 4_000_000);
    const src = s.tick(10n * S + S / 2n).sources[0]!;
    expect(src.energyNJ).toBe(1_500_000_000n); // (2 W + 4 W) / 2 × 0.5 s = 1.5 J
    expect(src.last).toBe(4_000_000);
  });

  it("power-file integrates nothing over a read error gap", () => {
    const p = file("in_power0_input", 1000); // mW
    const s = sampler({ sources: [{ kind: "power-file", id: "iio", path: p, scaleToUW: 1000 }] });
    s.tick(0n);
    s.tick(S); // 1 W for 1 s
    fs.writeFileSync(p, ""); // the meter answers with no data
    expect(s.tick(2n * S).sources[0]!.errors).toBe(1);
    fs.rmSync(p); // then disappears
    expect(s.tick(3n * S).sources[0]!.errors).toBe(2);
    file("in_power0_input", 1000);
    s.tick(10n * S); // re-baseline only: the 8 s gap is not guessed
    const src = s.tick(11n * S).sources[0]!;
    expect(src.energyNJ).toBe(2_000_000_000n);
    expect(src.lastErrno).toBe(ENOENT);
  });

  it("power-vi multiplies voltage and current (mV × mA = µW)", () => {
    const v = file("in1_input", 5000);
    const i = file("curr1_input", 400);
    const s = sampler({ sources: [{ kind: "power-vi", id: "vdd_in", voltagePath: v, currentPath: i, scaleToUW: 1 }] });
    expect(s.tick(0n).sources[0]!.last).toBe(2_000_000);
    file("curr1_input", 800);
    const src = s.tick(S).sources[0]!;
    expect(src.energyNJ).toBe(3_000_000_000n); // (2 W + 4 W) / 2 × 1 s
    expect(src.last).toBe(4_000_000);
  });
});

function okSource(): SamplerSourceSpec {
  return { kind: "power-file", id: "a", path: file("power1_input", 1_000_000), scaleToUW: 1 };
}

describe("construction", () => {

  it("validates options with clear TypeErrors", () => {
    const bad = (options: unknown, re: RegExp, type: ErrorConstructor = TypeError) => {
      const err = caught(() => new native.Sampler(options as SamplerOptions));
      expect(err).toBeInstanceOf(type);
      expect(err.message).toMatch(re);
    };
    const p = file("energy_uj", 1);
    const ok = okSource();
    bad(undefined, /options must be an object/);
    bad({}, /options.sources must be an array/);
    bad({ sources: [ok], periodMs: 0 }, /periodMs must be in 1\.\.10000/, RangeError);
    bad({ sources: [ok], periodMs: 10001 }, /periodMs must be in 1\.\.10000/, RangeError);
    bad({ sources: [ok], periodMs: "10" }, /periodMs must be a number/);
    bad({ sources: [ok], batchSize: 0 }, /batchSize/, RangeError);
    bad({ sources: [ok], onBatch: 5 }, /onBatch must be a function/);
    bad({ sources: [{ ...ok, kind: "counter-magic" }] }, /sources\[0\]\.kind "counter-magic" is not one of/);
    bad({ sources: [{ kind: "counter-file", id: "x", scaleToNJ: 1000, maxRange: 0n }] }, /sources\[0\]\.path must be a non-empty string/);
    bad({ sources: [{ kind: "counter-file", id: "x", path: p, maxRange: 0n }] }, /sources\[0\]\.scaleToNJ must be a finite number > 0/);
    bad({ sources: [{ kind: "counter-file", id: "x", path: p, scaleToNJ: 1000 }] }, /sources\[0\]\.maxRange is required/);
    bad({ sources: [{ kind: "counter-file", id: "x", path: p, scaleToNJ: 1000, maxRange: 5 }] }, /maxRange must be a BigInt/);
    bad({ sources: [{ kind: "counter-msr", id: "x", path: p, scaleToNJ: 1, maxRange: 0n }] }, /sources\[0\]\.register is required/);
    bad({ sources: [{ kind: "power-vi", id: "x", voltagePath: p, scaleToUW: 1 }] }, /sources\[0\]\.currentPath/);
    bad({ sources: [ok, { ...ok }] }, /sources\[1\]\.id "a" is a duplicate/);
    bad({ sources: [{ ...ok, id: "" }] }, /sources\[0\]\.id must be a non-empty string/);
  });

  it("a source that cannot be opened throws its NativeIoError", () => {
    const missing = path.join(dir, "intel-rapl:0", "energy_uj");
    const err = caught(() => new native.Sampler({ sources: [{ kind: "counter-file", id: "pkg", path: missing, scaleToNJ: 1000, maxRange: 0n }] }));
    expect(err.code).toBe("ENOENT");
    expect(err.errno).toBe(ENOENT);
    expect(err.syscall).toBe("open");
    expect(err.path).toBe(missing);
    const garbage = file("energy_uj", "not a number");
    const err2 = caught(() => new native.Sampler({ sources: [{ kind: "counter-file", id: "pkg", path: garbage, scaleToNJ: 1000, maxRange: 0n }] }));
    expect(err2.code).toBe("EINVAL");
    expect(err2.path).toBe(garbage);
  });

  it("starts idle with zeroed state", () => {
    const s = sampler({ sources: [okSource()] });
    expect(s.running).toBe(false);
    expect(s.threadCpuNs()).toBe(0n);
    expect(s.snapshot()).toEqual({
      tNs: 0n,
      sources: [{ id: "a", energyNJ: 0n, samples: 0, errors: 0, resets: 0, lastErrno: 0, last: 0 }],
    });
  });

  it("dispose is idempotent; a disposed sampler refuses start/tick/sampleNow", async () => {
    const s = sampler({ sources: [okSource()] });
    s.tick(0n);
    s.dispose();
    s.dispose();
    expect(caught(() => s.tick(1n)).code).toBe("EBADF");
    expect(caught(() => s.start()).code).toBe("EBADF");
    expect(caught(() => s.sampleNow()).code).toBe("EBADF");
    expect(s.snapshot().sources[0]!.samples).toBe(1); // the final state stays readable
    await s.stop(); // harmless
    expect(() => s.tick(1 as unknown as bigint)).toThrow(TypeError);
  });
});

describe("batches", () => {
  it("manual samples reach onBatch: full batches, then the partial batch on stop()", async () => {
    const p = file("energy_uj", 0);
    const batches: SamplerBatch[] = [];
    const s = sampler({
      sources: [{ kind: "counter-file", id: "pkg", path: p, scaleToNJ: 1000, maxRange: 0n }],
      batchSize: 2,
      onBatch: (b) => batches.push(b),
    });
    for (let i = 0; i < 5; i++) {
      file("energy_uj", i * 1000);
      s.tick(BigInt(i) * S);
    }
    await s.stop();
    expect(batches.map((b) => Array.from(b.tNs))).toEqual([[0, 1e9], [2e9, 3e9], [4e9]]);
    expect(batches.flatMap((b) => Array.from(b.energyUJ.pkg!))).toEqual([0, 1000, 2000, 3000, 4000]);
    expect(batches.every((b) => b.droppedBatches === 0)).toBe(true);
    await s.stop(); // nothing pending: resolves without another batch
    expect(batches).toHaveLength(3);
  });

  it("sampleNow uses the monotonic clock", () => {
    const s = sampler({ sources: [okSource()] });
    const a = s.sampleNow();
    const b = s.sampleNow();
    expect(a.tNs).toBeGreaterThan(0n);
    expect(b.tNs).toBeGreaterThanOrEqual(a.tNs);
    expect(b.sources[0]!.samples).toBe(2);
  });
});

describe("sampler thread", () => {
  it("samples at 1 ms without blocking the event loop", async () => {
    const sources: SamplerSourceSpec[] = [];
    const counters: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = file(`energy_uj_${i}`, "0".padStart(12, "0"));
      counters.push(p);
      sources.push({ kind: "counter-file", id: `c${i}`, path: p, scaleToNJ: 1000, maxRange: 0n });
    }
    for (let i = 0; i < 3; i++) {
      sources.push({ kind: "power-file", id: `p${i}`, path: file(`power${i}_input`, 1_000_000 * (i + 1)), scaleToUW: 1 });
    }
    const batches: SamplerBatch[] = [];
    const s = sampler({ sources, periodMs: 1, onBatch: (b) => batches.push(b) });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    s.start();
    expect(s.running).toBe(true);
    expect(caught(() => s.start()).code).toBe("EBUSY");
    expect(caught(() => s.tick(0n)).code).toBe("EBUSY");
    const fds = counters.map((p) => fs.openSync(p, "r+"));
    const started = Date.now();
    let value = 0;
    while (Date.now() - started < 300) {
      value += 1000;
      // same-width in-place writes, so a concurrent read never sees a truncated file
      for (const fd of fds) fs.writeSync(fd, value.toString().padStart(12, "0"), 0);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const snap = s.sampleNow();
    await s.stop();
    delay.disable();
    for (const fd of fds) fs.closeSync(fd);

    expect(s.running).toBe(false);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    const t = batches.flatMap((b) => Array.from(b.tNs));
    expect(t.length).toBeGreaterThan(50);
    for (let i = 1; i < t.length; i++) expect(t[i]!).toBeGreaterThan(t[i - 1]!);
    for (const src of sources) {
      const e = batches.flatMap((b) => Array.from(b.energyUJ[src.id]!));
      expect(e).toHaveLength(t.length);
      for (let i = 1; i < e.length; i++) expect(e[i]!).toBeGreaterThanOrEqual(e[i - 1]!);
    }
    const p2 = batches.flatMap((b) => Array.from(b.energyUJ.p1!));
    expect(p2[p2.length - 1]!).toBeGreaterThan(0);
    expect(snap.sources.every((src) => src.samples > 50)).toBe(true);
    expect(delay.percentile(99)).toBeLessThan(20e6);
    expect(s.threadCpuNs()).toBeGreaterThan(0n);
  });

  it("sampleNow racing the thread integrates a constant power over exactly its snapshots' time (no interval counted twice)", async () => {
    // 8 sources make the thread hold its lock for a while at every 1 ms sample; a snapshot taken
    // meanwhile must still cover the time up to its own tNs, no more: 2 W x (t1 - t0) to the nJ
    const sources: SamplerSourceSpec[] = Array.from({ length: 8 }, (_, i) => ({ kind: "power-file", id: `p${i}`, path: file(`power${i}_input`, 2_000_000), scaleToUW: 1 }));
    const s = sampler({ sources, periodMs: 1 });
    s.start();
    const first = s.sampleNow();
    const started = Date.now();
    let snaps = 0;
    while (Date.now() - started < 400) {
      for (let k = 0; k < 50; k++) s.sampleNow();
      snaps += 50;
      await new Promise((resolve) => setImmediate(resolve));
    }
    const last = s.sampleNow();
    await s.stop();
    const ns = last.tNs - first.tNs;
    for (let i = 0; i < sources.length; i++) {
      const nj = last.sources[i]!.energyNJ - first.sources[i]!.energyNJ;
      // 2 W = 2 nJ per ns; the sampler carries the sub-nJ remainder, a snapshot floors it (< 1 nJ)
      const off = Number(nj - 2n * ns);
      expect({ id: sources[i]!.id, snaps, off: Math.abs(off) <= 1 ? 0 : off }).toEqual({ id: sources[i]!.id, snaps, off: 0 });
    }
  });
});

describe("teardown", () => {
  const script = (onBatch: boolean) => `
    const native = require(${JSON.stringify(ADDON)});
    const s = new native.Sampler({
      sources: [{ kind: "power-file", id: "p", path: ${JSON.stringify(path.join(dir, "power1_input"))}, scaleToUW: 1 }],
      periodMs: 1,
      ${onBatch ? "onBatch: () => {}," : ""}
    });
    s.start();
  `;

  beforeEach(() => {
    file("power1_input", 5_000_000);
  });

  it("a running sampler does not keep the process alive and is stopped at exit", () => {
    for (const onBatch of [true, false]) {
      const r = spawnSync(process.execPath, ["-e", script(onBatch)], { timeout: 10_000, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
  });

  it("a worker that exits with a running sampler is torn down cleanly", async () => {
    const worker = new Worker(script(true) + "setTimeout(() => {}, 20);", { eval: true });
    const code = await new Promise<number>((resolve, reject) => {
      worker.on("exit", resolve);
      worker.on("error", reject);
    });
    expect(code).toBe(0);
    // terminated from outside while the sampler thread runs (cleanup hook stops and joins it)
    const killed = new Worker(
      script(true) + "require('node:worker_threads').parentPort.postMessage('started'); setInterval(() => {}, 1000);",
      { eval: true },
    );
    await new Promise((resolve) => killed.once("message", resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await killed.terminate()).toBe(1);
  });
});
