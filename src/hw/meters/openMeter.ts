import { meterLabel, parseMeterSpec } from "../../contracts/meterSpec.js";
import { CmdMeter } from "./cmd.js";
import { CsvMeter } from "./csv.js";
import { HttpMeter } from "./http.js";
import type { Meter, MeterOpenOptions } from "./meter.js";
import { ScpiMeter } from "./scpi.js";

/**
 * Start the meter a SPEC names (see src/contracts/meterSpec.ts): polled meters begin polling,
 * a command starts, a trace file is read. A bad SPEC or a missing trace file is a UsageError;
 * everything that goes wrong later (timeouts, garbage, a dead command) is a warning and a gap.
 */
export function openMeter(spec: string, opts: MeterOpenOptions = {}): Meter {
  const s = parseMeterSpec(spec);
  const label = meterLabel(s.spec);
  switch (s.kind) {
    case "http":
      return new HttpMeter(s, label, opts);
    case "scpi":
      return new ScpiMeter(s, label, opts);
    case "cmd":
      return new CmdMeter(s, label, opts);
    case "csv":
      return new CsvMeter(s, label, opts);
  }
}
