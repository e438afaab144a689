import { z } from "zod";

/**
 * A number option from the command line, checked by `schema` (e.g. `z.number().int().min(0)`).
 * Use this instead of `z.coerce.number()`, which turns "" (as in `--cut ''`) and blanks into 0:
 * here a blank or non-numeric string is an error naming what was given. Numbers (from a config
 * file merged with the options) pass unchanged; `.optional()` / `.default()` go outside. `hint`
 * replaces "expected a number" in that error, e.g. "give the deadline as a positive number of ms".
 */
export function cliNumber<T extends z.ZodNumber>(schema: T, hint?: string) {
  return z.preprocess((v, ctx) => {
    if (typeof v !== "string") return v;
    const n = v.trim() === "" ? Number.NaN : Number(v);
    if (Number.isNaN(n)) {
      const got = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
      ctx.addIssue({ code: "custom", message: hint === undefined ? `expected a number, got ${got}` : `${hint} (got ${got})`, input: v });
      return z.NEVER;
    }
    return n;
  }, schema);
}
