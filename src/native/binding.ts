import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { env } from "../env.js";
import { NativeMissingError } from "../errors.js";
import type { NativeBinding } from "./types.js";

const ADDON_FILE = "splitwatt.node";

/** Where the loader looks for the addon, in order. */
export function candidatePaths(explicit: string | undefined = env().nativePath): string[] {
  // src/native/binding.ts and dist/native/binding.js both sit two levels below the package root.
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
  const paths = [
    join(packageRoot, "build", "Release", ADDON_FILE),
    join(packageRoot, "build", "Debug", ADDON_FILE),
  ];
  return explicit === undefined ? paths : [resolve(explicit), ...paths];
}

let cached: NativeBinding | undefined;

/**
 * Load the native addon on first use. Throws NativeMissingError listing where it looked and
 * how to build it. Nothing else in the code base loads the .node file.
 */
export function binding(): NativeBinding {
  if (cached !== undefined) return cached;
  const require = createRequire(import.meta.url);
  const paths = candidatePaths();
  const failures: string[] = [];
  for (const path of paths) {
    if (!existsSync(path)) {
      failures.push(`${path} (not found)`);
      continue;
    }
    try {
      cached = require(path) as NativeBinding;
      return cached;
    } catch (err) {
      const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
      failures.push(`${path} (${reason})`);
    }
  }
  throw new NativeMissingError(
    `the splitwatt native addon is not built; looked in: ${failures.join("; ")}. ` +
      "Build it with `npm run build:native` (needs cmake >= 3.15 and a C++17 compiler), or set SPLITWATT_NATIVE_PATH to a built splitwatt.node",
  );
}
