import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { listNetworkProfiles, networkProfile, networksDir, radioEnergyJ } from "../../src/transport/networkProfile.js";
import { caught } from "../fixtures/caught.js";

describe("network profiles", () => {
  it("ships the four profiles, each valid, with rates, RTT, radio powers, sources and stated assumptions", () => {
    const names = listNetworkProfiles();
    expect(names).toEqual(expect.arrayContaining(["wifi-20mbps", "lte-10mbps", "5g-100mbps", "ethernet-1gbps"]));
    for (const name of names) {
      const p = networkProfile(name);
      expect(p.name).toBe(name);
      expect(p.uplinkMbps).toBeGreaterThan(0);
      expect(p.downlinkMbps).toBeGreaterThan(0);
      expect(p.rttMs).toBeGreaterThanOrEqual(0);
      expect(p.sources.length).toBeGreaterThan(0);
      for (const s of p.sources) expect(s.url, `${name}: ${s.title}`).toMatch(/^https:\/\//);
      // every figure that was not measured at these rates says so
      if (!p.radio.measured) expect(p.radio.basis.length).toBeGreaterThan(40);
      expect(p.assumptions?.length ?? 0, `${name} lists its assumptions`).toBeGreaterThan(0);
    }
    expect(networkProfile("lte-10mbps").uplinkMbps).toBe(10);
    expect(networkProfile("ethernet-1gbps").downlinkMbps).toBe(1000);
  });

  it("loads by path as well as by name", () => {
    const byPath = networkProfile(join(networksDir(), "wifi-20mbps.json"));
    expect(byPath).toEqual(networkProfile("wifi-20mbps"));
  });

  it("an unknown name is a one-line usage error that lists the available profiles", () => {
    let err: unknown;
    try {
      networkProfile("carrier-pigeon");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    const msg = (err as Error).message;
    expect(msg).not.toContain("\n");
    expect(msg).toMatch(/not found/);
    for (const n of ["wifi-20mbps", "lte-10mbps", "5g-100mbps", "ethernet-1gbps"]) expect(msg).toContain(n);
    expect((err as UsageError).exitCode).toBe(2);
  });

  it("broken files give one-line usage errors: bad JSON, schema, powers that contradict the stated model", () => {
    const dir = mkdtempSync(join(tmpdir(), "sw-net-"));
    writeFileSync(join(dir, "bad.json"), "{ nope");
    expect(() => networkProfile(join(dir, "bad.json"))).toThrow(/not valid JSON/);
    const lte = JSON.parse(readFileSync(join(networksDir(), "lte-10mbps.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "neg.json"), JSON.stringify({ ...lte, uplinkMbps: -1 }));
    expect(() => networkProfile(join(dir, "neg.json"))).toThrow(/uplinkMbps/);
    writeFileSync(join(dir, "nosrc.json"), JSON.stringify({ ...lte, sources: [] }));
    expect(() => networkProfile(join(dir, "nosrc.json"))).toThrow(/sources/);
    // the rate was edited but the powers were not: the model check catches it
    writeFileSync(join(dir, "stale.json"), JSON.stringify({ ...lte, uplinkMbps: 20 }));
    expect(() => networkProfile(join(dir, "stale.json"))).toThrow(/radio\.txW is .* but radio\.model gives/);
    for (const f of ["bad.json", "neg.json", "nosrc.json", "stale.json"]) {
      const err = caught(() => networkProfile(join(dir, f))); // fails the test when nothing throws
      expect(err, f).toBeInstanceOf(UsageError);
      expect(err.message, f).not.toContain("\n");
    }
  });

  it("radioEnergyJ = txW x send time + rxW x receive time; idle and tail are not counted", () => {
    const p = networkProfile("lte-10mbps");
    expect(radioEnergyJ(p, { txMs: 0, rxMs: 0 })).toBe(0);
    expect(radioEnergyJ(p, { txMs: 1000, rxMs: 0 })).toBeCloseTo(p.radio.txW, 12);
    expect(radioEnergyJ(p, { txMs: 250, rxMs: 500 })).toBeCloseTo(0.25 * p.radio.txW + 0.5 * p.radio.rxW, 12);
    // 1 MB at the profile's uplink rate
    const upMs = (1e6 * 8) / (p.uplinkMbps * 1e3);
    expect(radioEnergyJ(p, { txMs: upMs, rxMs: 0 })).toBeCloseTo((p.radio.txW * 8) / p.uplinkMbps, 9);
    expect(() => radioEnergyJ(p, { txMs: -1, rxMs: 0 })).toThrow(/non-negative txMs/);
    expect(() => radioEnergyJ(p, { txMs: 0, rxMs: Number.NaN })).toThrow(/non-negative rxMs/);
  });
});
