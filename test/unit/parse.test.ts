import { describe, expect, it } from "vitest";
import { MalformedError } from "../../src/errors.js";
import {
  parseCpuList,
  parseCpuVendor,
  parseKHzList,
  parsePerfEventConfig,
  parseProcStat,
  parseTimeInState,
  parseUBigInt,
  parseUInt,
} from "../../src/hw/parse.js";

describe("parseCpuList", () => {
  it("reads the list form of related_cpus and the space form of affected_cpus", () => {
    expect(parseCpuList("0-3,8,10-11\n")).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList("4 5 6 7\n")).toEqual([4, 5, 6, 7]);
    expect(parseCpuList("\n")).toEqual([]);
  });
  it("rejects garbage with the file named", () => {
    expect(() => parseCpuList("0-x", "/sys/x/related_cpus")).toThrow(/related_cpus/);
    expect(() => parseCpuList("3-1")).toThrow(MalformedError);
  });
});

describe("numbers", () => {
  it("parses kHz tables in any order to ascending unique", () => {
    expect(parseKHzList("2200000 2000000 800000 \n", "f")).toEqual([800000, 2000000, 2200000]);
  });
  it("refuses non-integers and negative values", () => {
    expect(() => parseUInt("12a", "p")).toThrow(MalformedError);
    expect(() => parseUInt("-5", "p")).toThrow(MalformedError);
    expect(() => parseUInt("<unsupported>", "p")).toThrow(/unsupported/);
  });
  it("keeps 64-bit counters exact", () => {
    expect(parseUBigInt("18446744073709551615\n", "e")).toBe(18446744073709551615n);
    expect(() => parseUBigInt("184467440737095516150", "e")).toThrow(MalformedError);
  });
});

describe("parseTimeInState", () => {
  it("converts 10 ms units to ms, sorted by frequency", () => {
    expect(parseTimeInState("1500000 30\n600000 1200\n", "t")).toEqual([
      { kHz: 600000, timeMs: 12000 },
      { kHz: 1500000, timeMs: 300 },
    ]);
  });
});

describe("parseProcStat", () => {
  // Field order from proc(5): user nice system idle iowait irq softirq steal guest guest_nice
  const text = "cpu  100 0 50 800 50 0 0 0 20 0\ncpu0 60 0 20 400 20 0 0 0 10 0\ncpu1 40 0 30 400 30 0 0 0 10 0\nintr 1 2\n";
  it("counts busy = total - idle - iowait and does not add guest twice", () => {
    const s = parseProcStat(text);
    expect(s.all).toEqual({ total: 1000, busy: 150 });
    expect(s.perCpu.size).toBe(2);
    expect(s.perCpu.get(1)).toEqual({ total: 500, busy: 70 });
  });
  it("needs the aggregate line", () => {
    expect(() => parseProcStat("cpu0 1 2 3 4\n")).toThrow(/aggregate/);
  });
});

describe("perf and cpuinfo", () => {
  it("decodes the power PMU's event encodings (arch/x86/events/rapl.c: energy-pkg event=0x02)", () => {
    expect(parsePerfEventConfig("event=0x02\n", "e")).toBe(2);
    expect(parsePerfEventConfig("event=0x01,umask=0x1", "e")).toBe(0x101);
    expect(() => parsePerfEventConfig("config=3", "e")).toThrow(MalformedError);
  });
  it("tells Intel from AMD and returns null on arm", () => {
    expect(parseCpuVendor("processor\t: 0\nvendor_id\t: GenuineIntel\n")).toBe("intel");
    expect(parseCpuVendor("vendor_id\t: AuthenticAMD\n")).toBe("amd");
    expect(parseCpuVendor("Hardware\t: BCM2835\n")).toBeNull();
  });
});
