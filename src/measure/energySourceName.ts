import type { EnergySourceName } from "../contracts/measurement.js";

/** The record's name for an energy source kind (perf and msr read RAPL; anything else measured is a meter). */
export function energySourceName(kind: string | null | undefined): EnergySourceName {
  switch (kind) {
    case "rapl":
    case "hwmon":
    case "nvml":
    case "ina3221":
      return kind;
    case "perf":
    case "msr":
      return "rapl";
    default:
      return "meter";
  }
}
