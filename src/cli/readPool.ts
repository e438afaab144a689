import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import type { Measurement } from "../contracts/measurement.js";
import { MalformedError, UsageError } from "../errors.js";

/** A measured pool in DynaSplit's CSV format, read for replay; a missing or malformed file is the user's error (exit 2). */
export async function readPool(poolPath: string): Promise<{ pool: Measurement[]; sha256: string; model: string }> {
  let text: string;
  try {
    text = readFileSync(poolPath, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`cannot read pool ${poolPath} (${code}); give the path of a measured pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
  }
  const { importDynasplitCsv } = await import("../contracts/dynasplitCsv.js");
  const sha256 = createHash("sha256").update(text).digest("hex");
  const model = basename(poolPath, extname(poolPath)) || "pool";
  try {
    return { pool: importDynasplitCsv(text, { model: { name: model, sha256 }, host: { name: "replay" }, fileName: poolPath }), sha256, model };
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the file or give a pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
    throw e;
  }
}
