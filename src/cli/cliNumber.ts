import { z } from "zod";

/**
 * A number option from the command line, checked by `schema` (e.g. `z.number().int().min(0)`).
 * Use this instead of `z.coerce.number()`, which turns "" (as in `--cut ''`) and blanks into 0:
 * here a blank or non-numeric string is an error naming what was given. Numbers (from a config
 * file merged with the options) pass unchanged; `.optional()` / `.default()` go outside.
 */
export function cliNumber<T extends z.ZodNumber>(schema: T) {
  return z.preprocess((v, ctx) => {
    if (typeof v !== "string") return v;
    const n = v.trim() === "" ? Number.NaN : Number(v);
    if (Number.isNaN(n)) {
      ctx.addIssue({ code: "custom", message: `expected a number, got ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`, input: v });
      return z.NEVER;
    }
    return n;
  }, schema);
}
