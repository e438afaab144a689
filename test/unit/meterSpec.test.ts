import { describe, expect, it } from "vitest";
import { MeterConfig, meterLabel, parseMeterSpec } from "../../src/contracts/meterSpec.js";
import { UsageError } from "../../src/errors.js";

describe("meter SPEC grammar", () => {
  it("parses every form", () => {
    expect(parseMeterSpec("http:http://10.0.0.5:8080/status?x=1#meters.0.power")).toEqual({
      kind: "http",
      spec: "http:http://10.0.0.5:8080/status?x=1#meters.0.power",
      url: "http://10.0.0.5:8080/status?x=1",
      path: ["meters", "0", "power"],
      vendor: null,
    });
    expect(parseMeterSpec("https://meter.lan/p#a.b")).toMatchObject({ kind: "http", url: "https://meter.lan/p", path: ["a", "b"] });
    // Shelly Gen2+ RPC over HTTP GET: /rpc/<Component>.GetStatus?id=N, Switch status field apower in W
    // (shelly-api-docs.shelly.cloud: gen2/General/ComponentConcept, gen2/ComponentsAndServices/Switch)
    expect(parseMeterSpec("shelly:10.0.0.5")).toMatchObject({ kind: "http", url: "http://10.0.0.5/rpc/Switch.GetStatus?id=0", path: ["apower"], vendor: "shelly" });
    // Tasmota HTTP commands: /cm?cmnd=<command>; the sensor status carries StatusSNS.ENERGY.Power in W
    // (tasmota.github.io/docs: Commands "with Web Requests", JSON Status Responses)
    expect(parseMeterSpec("tasmota:127.0.0.1:8081")).toMatchObject({ kind: "http", url: "http://127.0.0.1:8081/cm?cmnd=Status%208", path: ["StatusSNS", "ENERGY", "Power"], vendor: "tasmota" });
    expect(parseMeterSpec("scpi:10.0.0.7:5025#MEAS:POW?")).toEqual({ kind: "scpi", spec: "scpi:10.0.0.7:5025#MEAS:POW?", host: "10.0.0.7", port: 5025, query: "MEAS:POW?" });
    expect(parseMeterSpec("scpi:[::1]:5025#:MEASure:POWer?")).toMatchObject({ host: "::1", port: 5025, query: ":MEASure:POWer?" });
    expect(parseMeterSpec("cmd:python3 read.py --port /dev/ttyUSB0")).toMatchObject({ kind: "cmd", command: "python3 read.py --port /dev/ttyUSB0" });
    expect(parseMeterSpec("csv:/tmp/trace.csv")).toMatchObject({ kind: "csv", file: "/tmp/trace.csv" });
  });

  it("a bad spec is a one-line usage error that says what to write", () => {
    const cases: Array<[string, RegExp]> = [
      ["http:http://10.0.0.5/status", /dot path of the watts after #/],
      ["http:nota url#x", /not a URL/],
      ["http:http://h/p#a..b", /not a dot path/],
      ["shelly:", /not a host/],
      ["scpi:10.0.0.7#MEAS:POW?", /HOST:PORT#QUERY/],
      ["scpi:10.0.0.7:70000#MEAS:POW?", /outside 1-65535/],
      ["scpi:10.0.0.7:5025", /query after #/],
      ["cmd:", /give the command/],
      ["csv:", /give the file/],
      ["modbus:10.0.0.1", /unknown meter kind "modbus".*shelly:/],
    ];
    for (const [spec, re] of cases) {
      let err: unknown = null;
      try {
        parseMeterSpec(spec);
      } catch (e) {
        err = e;
      }
      expect(err, spec).toBeInstanceOf(UsageError);
      expect((err as Error).message, spec).toMatch(re);
      expect((err as Error).message).not.toContain("\n");
    }
  });

  it("outputs hide passwords in the spec", () => {
    expect(meterLabel("http:http://admin:secret@10.0.0.5/x#p")).toBe("http:http://admin:***@10.0.0.5/x#p");
    expect(meterLabel("http:http://10.0.0.6/cm?user=admin&password=joker&cmnd=Status%208#StatusSNS.ENERGY.Power")).toBe(
      "http:http://10.0.0.6/cm?user=admin&password=***&cmnd=Status%208#StatusSNS.ENERGY.Power",
    );
    expect(meterLabel("shelly:10.0.0.5")).toBe("shelly:10.0.0.5");
  });

  it("the config piece checks the grammar and the period", () => {
    expect(MeterConfig.parse({ meter: "shelly:10.0.0.5", meterPeriodMs: 500 })).toEqual({ meter: "shelly:10.0.0.5", meterPeriodMs: 500 });
    expect(MeterConfig.safeParse({ meter: "nope" }).success).toBe(false);
    expect(MeterConfig.safeParse({ meterPeriodMs: 5 }).success).toBe(false);
    expect(MeterConfig.safeParse({ meterPeriodMs: 20.5 }).success).toBe(false);
  });
});
