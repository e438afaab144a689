/** Which store records `splitwatt store` works on, and how a live record maps to DynaSplit's columns. */
import { describe, expect, it } from "vitest";
import { dynasplitConfigOf } from "../../src/contracts/dynasplitCsv.js";
import { measurementKey, type Config, type Measurement, type Testbed } from "../../src/contracts/measurement.js";
import { UsageError } from "../../src/errors.js";
import { parseTestbedFilter, placeKey, selectRecords, testbedLine } from "../../src/measure/storeSelection.js";

const SHA_A = "a".repeat(64);
const SHA_B = "b".repeat(64);
const TB: Testbed = { server: "local", network: "wifi-20mbps", link: "kernel", board: "generic-x86", deviceEnergy: "estimate", serverEnergy: "marginal@generic-x86" };

function rec(config: Config, o: { host?: string; model?: string; sha?: string; testbed?: Testbed | null } = {}): Measurement {
  const host = o.host ?? "pi4";
  const sha = o.sha ?? SHA_A;
  const testbed = o.testbed === null ? undefined : (o.testbed ?? TB);
  return {
    version: 1,
    key: measurementKey(config, host, sha, testbed),
    config,
    model: { name: o.model ?? "/models/tiny_cnn.onnx", sha256: sha },
    host: { name: host },
    latencyMs: { mean: 1, p50: null, p95: null, p99: null, n: 1 },
    breakdownMs: { head: null, encode: null, transfer: null, server: null, decode: null },
    bytes: 0,
    energyJ: { device: 1, network: null, server: 0, total: 1 },
    energySource: { device: "estimate", network: null, server: "estimate" },
    accuracy: null,
    measuredAt: "2025-01-01T00:00:00.000Z",
    source: "measured",
    ...(testbed === undefined ? {} : { testbed }),
  };
}

const all = [
  rec({ split: 1 }),
  rec({ split: 1 }, { testbed: { ...TB, link: "app" } }),
  rec({ split: 1 }, { testbed: { ...TB, server: "http://s:8000", link: "real" }, host: "pi5" }),
  rec({ split: 1 }, { testbed: null }),
  rec({ layer: 3 }, { model: "vgg16", sha: SHA_B, testbed: null, host: "imported" }),
];

describe("selectRecords", () => {
  it("filters by host, model (name, file name, sha256 prefix) and testbed fields, all applied", () => {
    expect(selectRecords(all, {})).toHaveLength(5);
    expect(selectRecords(all, { host: "pi5" })).toEqual([all[2]]);
    expect(selectRecords(all, { model: "tiny_cnn.onnx" })).toHaveLength(4);
    expect(selectRecords(all, { model: "/models/tiny_cnn.onnx" })).toHaveLength(4);
    expect(selectRecords(all, { model: "vgg16" })).toEqual([all[4]]);
    expect(selectRecords(all, { model: "bbbbbbbb" })).toEqual([all[4]]);
    // a short prefix is a name, not a hash (no model is named "bbbb")
    expect(selectRecords(all, { model: "bbbb" })).toEqual([]);
    expect(selectRecords(all, { testbed: "link=app" })).toEqual([all[1]]);
    expect(selectRecords(all, { testbed: "server=local, network=wifi-20mbps" })).toEqual([all[0], all[1]]);
    expect(selectRecords(all, { testbed: "server=http://s:8000,link=real", host: "pi4" })).toEqual([]);
    expect(selectRecords(all, { testbed: "none" })).toEqual([all[3], all[4]]);
  });

  it("a bad --testbed is a UsageError naming the part and the fields", () => {
    expect(() => parseTestbedFilter("colour=red")).toThrow(/unknown field "colour"; use server, network, link, board, deviceEnergy, serverEnergy/);
    expect(() => parseTestbedFilter("link")).toThrow(UsageError);
    expect(() => parseTestbedFilter("link=")).toThrow(/KEY=VALUE/);
  });

  it("testbedLine round-trips through the filter; placeKey groups one testbed of one model on one host", () => {
    expect(selectRecords(all, { testbed: testbedLine(all[1]?.testbed) })).toEqual([all[1]]);
    expect(testbedLine(undefined)).toMatch(/^none/);
    expect(new Set(all.map(placeKey)).size).toBe(5);
    expect(placeKey(rec({ split: 2 }))).toBe(placeKey(all[0] as Measurement));
  });
});

describe("dynasplitConfigOf", () => {
  it("keeps DynaSplit's dimensions; maps a live config; says why it cannot", () => {
    expect(dynasplitConfigOf(all[4] as Measurement)).toEqual({ ok: false, reason: expect.stringMatching(/neither DynaSplit's dimensions/) });
    const pool = rec({ layer: 3, "cpu-freq": 600, "edge-accelerator": "max", "server-accelerator": true });
    expect(dynasplitConfigOf(pool)).toEqual({ ok: true, config: pool.config });
    const live = (c: Partial<Record<string, string | number>>) => dynasplitConfigOf(rec({ split: 4, cpuFreqMHz: 1200, deviceTarget: "cpu", serverTarget: "cpu", codec: "raw", ...c } as Config));
    expect(live({})).toEqual({ ok: true, config: { layer: 4, "cpu-freq": 1200, "edge-accelerator": "off", "server-accelerator": false } });
    expect(live({ deviceTarget: "cpu:2", serverTarget: "cuda" })).toEqual({ ok: true, config: { layer: 4, "cpu-freq": 1200, "edge-accelerator": "off", "server-accelerator": true } });
    expect(live({ cpuFreqMHz: "current" })).toEqual({ ok: false, reason: expect.stringMatching(/cpuFreqMHz is "current"/) });
    expect(live({ deviceTarget: "webgpu" })).toEqual({ ok: false, reason: expect.stringMatching(/deviceTarget webgpu has no edge-accelerator/) });
  });
});
