import { UsageError } from "../errors.js";
import type { BenchCliOptions } from "./benchOptions.js";
export async function reproduceMode(_o: BenchCliOptions, study: string): Promise<void> {
  throw new UsageError(`--reproduce ${study}: not yet`);
}
