/**
 * `--meter SPEC` and `--meter-period-ms MS`, the same on every command that measures energy
 * (hw, measure, optimize; daemon and bench take them with one call): `addMeterOptions(command)`
 * and `.extend(MeterCliOptions.shape)` on the command's zod schema. Config files take the keys of
 * `MeterConfig` (src/contracts/meterSpec.ts).
 */
import type { Command } from "commander";
import { z } from "zod";
import { DEFAULT_METER_PERIOD_MS, meterPeriodMs, meterSpecString } from "../contracts/meterSpec.js";
import { cliNumber } from "./cliNumber.js";

export const MeterCliOptions = z.object({
  meter: meterSpecString.optional(),
  meterPeriodMs: cliNumber(meterPeriodMs).default(DEFAULT_METER_PERIOD_MS),
});
export type MeterCliOptions = z.infer<typeof MeterCliOptions>;

export function addMeterOptions(c: Command): Command {
  return c
    .option(
      "--meter <spec>",
      "external power meter as the device energy source: http:URL#PATH, shelly:HOST, tasmota:HOST, scpi:HOST:PORT#QUERY, cmd:COMMAND or csv:FILE (README, Power meters)",
    )
    .option("--meter-period-ms <ms>", "meter sampling period (polled meters), ms", String(DEFAULT_METER_PERIOD_MS));
}
