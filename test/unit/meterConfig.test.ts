/** The meter keys of the optimize YAML config and the CLI option piece other commands reuse. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { addMeterOptions, MeterCliOptions } from "../../src/cli/meterOptions.js";
import { readOptimizeConfig } from "../../src/contracts/optimizeConfig.js";

const yaml = (text: string): string => {
  const f = join(mkdtempSync(join(tmpdir(), "sw-meter-cfg-")), "c.yaml");
  writeFileSync(f, text);
  return f;
};

describe("meter in the optimize config", () => {
  it("takes meter and meterPeriodMs", () => {
    const c = readOptimizeConfig(yaml("model: tiny_cnn\nmeter: tasmota:10.0.0.6\nmeterPeriodMs: 500\n"));
    expect([c.meter, c.meterPeriodMs]).toEqual(["tasmota:10.0.0.6", 500]);
  });

  it("a bad spec or period is a one-line error naming the field", () => {
    for (const [text, re] of [
      ["model: x\nmeter: shelly\n", /meter: .*unknown meter kind "shelly"/],
      ["model: x\nmeter: 'scpi:10.0.0.7:5025'\n", /meter: .*query after #/],
      ["model: x\nmeterPeriodMs: 1\n", /meterPeriodMs/],
    ] as const) {
      let err: Error | null = null;
      try {
        readOptimizeConfig(yaml(text));
      } catch (e) {
        err = e as Error;
      }
      expect(err?.message).toMatch(re);
      expect(err?.message).not.toContain("\n");
    }
  });
});

describe("the option piece for commands", () => {
  it("one call adds both options; the schema piece parses them with the default period", () => {
    const c = addMeterOptions(new Command("daemon").exitOverride());
    c.parse(["--meter", "cmd:read-usb-meter --port /dev/ttyACM0"], { from: "user" });
    const schema = z.object({ other: z.string().default("x") }).extend(MeterCliOptions.shape);
    expect(schema.parse(c.opts())).toEqual({ other: "x", meter: "cmd:read-usb-meter --port /dev/ttyACM0", meterPeriodMs: 200 });
    expect(schema.safeParse({ meterPeriodMs: "abc" }).success).toBe(false);
  });
});
