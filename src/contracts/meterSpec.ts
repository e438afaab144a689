/**
 * The external power meter SPEC people write after `--meter` or `meter:` in a YAML config, and
 * the zod pieces commands and config files take it with. Grammar (one reading = watts):
 *
 *   http:URL#PATH        poll a JSON endpoint, the watts at the dot PATH (`a.b.0.c`; numbers index arrays)
 *   shelly:HOST          Shelly Gen2+ plug/relay: http://HOST/rpc/Switch.GetStatus?id=0, field `apower`
 *   tasmota:HOST         Tasmota plug: http://HOST/cm?cmnd=Status%208, field `StatusSNS.ENERGY.Power`
 *   scpi:HOST:PORT#QUERY a bench meter on raw TCP: QUERY + newline, one line back with a number in W
 *   cmd:COMMAND          a long-running command printing one reading per line: `W` or `epoch_ms W`
 *   csv:FILE             a recorded trace, one `epoch_ms,W` row per reading (may grow during the run)
 *
 * HOST may carry a port (`127.0.0.1:8080`, `[::1]:5025`). A URL given without the `http:` prefix
 * (`http://...#PATH`) is taken as `http:` too.
 */
import { z } from "zod";
import { UsageError } from "../errors.js";

export type MeterSpec =
  | { kind: "http"; spec: string; url: string; path: string[]; vendor: "shelly" | "tasmota" | null }
  | { kind: "scpi"; spec: string; host: string; port: number; query: string }
  | { kind: "cmd"; spec: string; command: string }
  | { kind: "csv"; spec: string; file: string };

export type MeterKind = MeterSpec["kind"];

const EXAMPLES = "http:http://10.0.0.5/status#meters.0.power, shelly:10.0.0.5, tasmota:10.0.0.6, scpi:10.0.0.7:5025#MEAS:POW?, cmd:./read-usb-meter, csv:trace.csv";

function bad(spec: string, what: string): UsageError {
  return new UsageError(`meter "${spec}": ${what}`);
}

/** `host` or `host:port` or `[v6]:port`, as given (for shorthand URLs). */
function checkHost(spec: string, host: string): string {
  if (host === "" || /[\s/#?@]/.test(host)) throw bad(spec, `"${host}" is not a host name or address (host or host:port, e.g. 10.0.0.5 or 10.0.0.5:8080)`);
  return host;
}

function dotPath(spec: string, text: string): string[] {
  const parts = text.split(".");
  if (text === "" || parts.some((p) => p === "")) throw bad(spec, `"#${text}" is not a dot path to the watts in the JSON (e.g. #meters.0.power)`);
  return parts;
}

/** Parse a SPEC; a UsageError that says what is wrong and shows the forms otherwise. */
export function parseMeterSpec(spec: string): MeterSpec {
  const s = spec.trim();
  const colon = s.indexOf(":");
  const prefix = colon < 0 ? "" : s.slice(0, colon);
  const rest = colon < 0 ? "" : s.slice(colon + 1);
  if (/^https?:\/\//i.test(s) || prefix === "http") {
    const body = /^https?:\/\//i.test(s) ? s : rest;
    const hash = body.lastIndexOf("#");
    if (hash < 0) throw bad(spec, "give the dot path of the watts after # (http:URL#PATH, e.g. http:http://10.0.0.5/status#meters.0.power)");
    const url = body.slice(0, hash);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw bad(spec, `"${url}" is not a URL (http:URL#PATH with URL like http://10.0.0.5/status)`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw bad(spec, `${parsed.protocol} URLs are not supported: use http:// or https://`);
    return { kind: "http", spec: s, url, path: dotPath(spec, body.slice(hash + 1)), vendor: null };
  }
  switch (prefix) {
    case "shelly":
      return { kind: "http", spec: s, url: `http://${checkHost(spec, rest)}/rpc/Switch.GetStatus?id=0`, path: ["apower"], vendor: "shelly" };
    case "tasmota":
      return { kind: "http", spec: s, url: `http://${checkHost(spec, rest)}/cm?cmnd=Status%208`, path: ["StatusSNS", "ENERGY", "Power"], vendor: "tasmota" };
    case "scpi": {
      const hash = rest.indexOf("#");
      const query = hash < 0 ? "" : rest.slice(hash + 1);
      const addr = hash < 0 ? rest : rest.slice(0, hash);
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s[\]]+):(\d{1,5})$/.exec(addr);
      if (m === null) throw bad(spec, "give HOST:PORT#QUERY, e.g. scpi:10.0.0.7:5025#MEAS:POW?");
      const port = Number(m[2]);
      if (port < 1 || port > 65535) throw bad(spec, `port ${m[2]} is outside 1-65535`);
      if (query.trim() === "" || /[\r\n]/.test(query)) throw bad(spec, "give the meter's query after # (e.g. #MEAS:POW?), on one line");
      return { kind: "scpi", spec: s, host: (m[1] as string).replace(/^\[|\]$/g, ""), port, query: query.trim() };
    }
    case "cmd":
      if (rest.trim() === "") throw bad(spec, "give the command after cmd: (it prints one reading per line: W or epoch_ms W)");
      return { kind: "cmd", spec: s, command: rest };
    case "csv":
      if (rest.trim() === "") throw bad(spec, "give the file after csv: (rows of epoch_ms,W)");
      return { kind: "csv", spec: s, file: rest };
    default:
      throw bad(spec, `unknown meter kind "${prefix || s}": use one of ${EXAMPLES}`);
  }
}

/** The spec as outputs show it: a password in the URL (user info or a password= parameter) replaced by ***. */
export function meterLabel(spec: string): string {
  return spec.trim().replace(/(\/\/[^/@\s]*?:)[^/@\s]*@/, "$1***@").replace(/([?&]password=)[^&#\s]*/gi, "$1***");
}

/** A meter SPEC string, checked against the grammar (for CLI options and config files alike). */
export const meterSpecString = z
  .string()
  .min(1)
  .superRefine((s, ctx) => {
    try {
      parseMeterSpec(s);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  });

/** Sampling period of a polled meter, ms. */
export const meterPeriodMs = z.number().int("the meter period is a whole number of ms").min(10).max(60_000);

/**
 * The meter keys of a YAML/JSON config file (optimize, and later daemon and bench):
 * `meter: SPEC` and `meterPeriodMs: N` (default 200). Spread `MeterConfig.shape` into a schema.
 */
export const MeterConfig = z.object({
  meter: meterSpecString.optional(),
  meterPeriodMs: meterPeriodMs.optional(),
});
export type MeterConfig = z.infer<typeof MeterConfig>;

/** What --meter-period-ms / meterPeriodMs default to: DynaSplit sampled its network power meter every 0.2 s. */
export const DEFAULT_METER_PERIOD_MS = 200;
