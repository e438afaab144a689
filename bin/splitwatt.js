#!/usr/bin/env node
// Entry point: the CLI is compiled to dist/ by `npm ci` (prepare) or `npm run build:ts`.
import("../dist/cli/main.js").then(
  (m) => m.main(process.argv),
  (err) => {
    if (err && err.code === "ERR_MODULE_NOT_FOUND" && String(err.message).includes("dist/cli/main.js")) {
      process.stderr.write("splitwatt: error[E_NOT_BUILT]: the TypeScript is not compiled; run `npm run build:ts` (or `npm ci`) in the splitwatt directory\n");
    } else {
      process.stderr.write(`splitwatt: internal error: ${err && err.message ? err.message : err}\n`);
    }
    process.exit(1);
  },
);
