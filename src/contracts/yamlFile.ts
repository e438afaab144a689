import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import { UsageError } from "../errors.js";

/**
 * A YAML (or JSON) config file as plain data; one-line UsageErrors naming the file for a file
 * that cannot be read, is not YAML, or uses tags (`example` is the annotated example to point at).
 */
export function readYamlFile(path: string, what: string, example: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? "error"}); give the path of ${what} (see ${example})`, { path });
  }
  try {
    // logLevel "silent": the yaml package would otherwise print its warnings (an unknown tag) as
    // multi-line process warnings; every error and warning becomes the one line below
    const doc = parseDocument(text, { logLevel: "silent" });
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem !== undefined) {
      const m = (problem.message.split("\n")[0] ?? "").replace(/:\s*$/, "");
      throw new UsageError(
        problem.code === "TAG_RESOLVE_FAILED" ? `${path}: ${m.replace(/^Unresolved tag/, "unknown YAML tag")}; use plain YAML without tags (see ${example})` : `${path} is not valid YAML: ${m}`,
        { path },
      );
    }
    return doc.toJS();
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`${path} is not valid YAML: ${(e as Error).message.split("\n")[0]}`, { path });
  }
}
