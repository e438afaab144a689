/**
 * DynaSplit (hpc-tuwien/SPLINTER) measured-pool CSV <-> Measurements, so their published
 * testbed data replays unchanged. Column names and default order are those of
 * `simulation_pool_vgg16.csv`; the ViT pool is the same without `accuracy`.
 *
 * Column mapping (DynaSplit column -> Measurement field):
 *
 * | column                      | Measurement field              | conversion / meaning                                      |
 * | --------------------------- | ------------------------------ | --------------------------------------------------------- |
 * | accuracy                    | accuracy.value                 | top-1 fraction; n = 1000 images, ci95 = Wilson; optional  |
 * | latency                     | latencyMs.mean                 | ms per inference, mean over n = 1000 images; p50/95/99 null |
 * | energy                      | energyJ.total                  | J per inference = edge + cloud node                       |
 * | avg energy edge (J)         | energyJ.device                 | J, edge power meter -> energySource.device = "meter"      |
 * | avg latency edge (ms)       | breakdownMs.head               | ms on the edge (head + serialisation)                     |
 * | avg latency cloud (ms)      | breakdownMs.server             | ms on the cloud node                                      |
 * | avg latency transfer (ms)   | breakdownMs.transfer           | ms on the network                                         |
 * | avg energy cloud (J)        | energyJ.server                 | J, whole cloud node -> energySource.server = "node"       |
 * | avg energy cloud gpu (J)    | energyJ.serverGpu              | J, GPU share of the cloud figure (not added to total)     |
 * | utilization cloud cpu (%)   | utilizationPct.serverCpu       | percent                                                   |
 * | utilization cloud gpu (%)   | utilizationPct.serverGpu       | percent                                                   |
 * | utilization edge cpu (%)    | utilizationPct.deviceCpu       | percent                                                   |
 * | tensor size (KB)            | bytes                          | KiB x 1024 (exact: sizes are multiples of 1/1024)         |
 * | cpu-freq                    | config["cpu-freq"]             | MHz, number                                               |
 * | layer                       | config["layer"]                | split index, number (0 = all cloud, L = all edge)         |
 * | edge-accelerator            | config["edge-accelerator"]     | string off / std / max (Coral Edge TPU)                   |
 * | server-accelerator          | config["server-accelerator"]   | boolean, True = GPU                                       |
 *
 * Not in their columns: energyJ.network and energySource.network are null (transfer energy is
 * inside the edge and cloud figures), breakdownMs.encode/decode are null, source = "imported".
 * Numbers are written the way Python prints floats (`1200.0`, `1e-05`), so their files
 * round-trip byte for byte; an empty cell reads as null where the field may be null.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, extname } from "node:path";
import { MalformedError, UsageError } from "../errors.js";
import { measurementKey, wilson95, type Config, type ConfigValue, type Measurement } from "./measurement.js";

/** DynaSplit's columns in the order of simulation_pool_vgg16.csv */
export const DYNASPLIT_COLUMNS = [
  "accuracy",
  "latency",
  "energy",
  "avg energy edge (J)",
  "avg latency edge (ms)",
  "avg latency cloud (ms)",
  "avg latency transfer (ms)",
  "avg energy cloud (J)",
  "avg energy cloud gpu (J)",
  "utilization cloud cpu (%)",
  "utilization cloud gpu (%)",
  "utilization edge cpu (%)",
  "tensor size (KB)",
  "cpu-freq",
  "layer",
  "edge-accelerator",
  "server-accelerator",
] as const;
export type DynasplitColumn = (typeof DYNASPLIT_COLUMNS)[number];

/** images per measured configuration (README: averaged over 1000 ImageNet images) */
export const DYNASPLIT_N = 1000;

const OPTIONAL_COLUMNS: ReadonlySet<string> = new Set(["accuracy"]);

// ---------------------------------------------------------------------------------------------
// RFC 4180 CSV

/** Parse RFC 4180 CSV (comma, `"` quoting with `""`, LF or CRLF). Returns rows with their 1-based start line. */
export function parseCsv(text: string, what = "CSV"): { line: number; fields: string[] }[] {
  const rows: { line: number; fields: string[] }[] = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  if (text.charCodeAt(0) === 0xfeff) i = 1;
  while (i < n) {
    const rowLine = line;
    const fields: string[] = [];
    for (;;) {
      let field = "";
      if (text[i] === '"') {
        const qLine = line;
        i++;
        for (;;) {
          if (i >= n) throw new MalformedError(`${what} line ${qLine}: unterminated quoted field; close it with "`);
          const c = text[i]!;
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === "\n") line++;
          field += c;
          i++;
        }
        const next = text[i];
        if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
          throw new MalformedError(`${what} line ${line}: text after a closing quote; quote the whole field and double inner quotes`);
        }
      } else {
        const start = i;
        while (i < n && text[i] !== "," && text[i] !== "\n" && text[i] !== "\r") {
          if (text[i] === '"') throw new MalformedError(`${what} line ${line}: quote inside an unquoted field; quote the field and double inner quotes`);
          i++;
        }
        field = text.slice(start, i);
      }
      fields.push(field);
      if (i >= n) break;
      const c = text[i];
      if (c === ",") {
        i++;
        continue;
      }
      if (c === "\r") {
        if (text[i + 1] !== "\n") throw new MalformedError(`${what} line ${line}: bare carriage return; use LF or CRLF line ends`);
        i++;
      }
      i++; // "\n"
      line++;
      break;
    }
    rows.push({ line: rowLine, fields });
  }
  return rows;
}

function csvField(s: string): string {
  return /[",\r\n]/.test(s) || s !== s.trim() ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Write rows as RFC 4180 CSV with LF line ends and a final newline. */
export function writeCsv(rows: readonly (readonly string[])[]): string {
  return rows.map((r) => r.map(csvField).join(",")).join("\n") + (rows.length > 0 ? "\n" : "");
}

/** Format a number the way Python's repr(float) does: 1200.0, 0.603, 1e-05, 1.5e+16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  const [mant, expStr] = Math.abs(x).toExponential().split("e") as [string, string];
  const e = Number(expStr);
  const digits = mant.replace(".", "");
  if (e < -4 || e >= 16) {
    return `${sign}${mant}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (e < 0) return `${sign}0.${"0".repeat(-e - 1)}${digits}`;
  if (digits.length <= e + 1) return `${sign}${digits}${"0".repeat(e + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
}

// ---------------------------------------------------------------------------------------------
// import

const NUM_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

export interface ImportOptions {
  model: { name: string; sha256: string };
  host: { name: string; board?: string; [fact: string]: unknown };
  /** ISO timestamp to record (their files carry none); default: now */
  measuredAt?: string;
  /** file name used in error messages */
  fileName?: string;
}

/** Import a DynaSplit pool CSV (header + one row per measured run) as Measurements with source "imported". */
export function importDynasplitCsv(text: string, opts: ImportOptions): Measurement[] {
  const what = opts.fileName ?? "DynaSplit CSV";
  const rows = parseCsv(text, what);
  const header = rows[0];
  if (!header) throw new MalformedError(`${what} is empty; expected a header line with DynaSplit's columns`);
  const col = new Map<string, number>();
  header.fields.forEach((h, i) => {
    if (col.has(h)) throw new MalformedError(`${what} line 1: column "${h}" appears twice`);
    col.set(h, i);
  });
  const known: ReadonlySet<string> = new Set(DYNASPLIT_COLUMNS);
  const unknown = header.fields.filter((h) => !known.has(h));
  if (unknown.length > 0) throw new MalformedError(`${what} line 1: unknown column(s) ${unknown.map((u) => `"${u}"`).join(", ")}; expected DynaSplit's pool columns`);
  const missing = DYNASPLIT_COLUMNS.filter((c) => !OPTIONAL_COLUMNS.has(c) && !col.has(c));
  if (missing.length > 0) throw new MalformedError(`${what} line 1: missing column(s) ${missing.map((u) => `"${u}"`).join(", ")}`);
  const measuredAt = opts.measuredAt ?? new Date().toISOString();
  const width = header.fields.length;

  const out: Measurement[] = [];
  for (const row of rows.slice(1)) {
    if (row.fields.length === 1 && row.fields[0] === "") continue; // blank line
    if (row.fields.length !== width) {
      throw new MalformedError(`${what} line ${row.line}: expected ${width} fields, got ${row.fields.length}`);
    }
    const cell = (c: DynasplitColumn): string | undefined => {
      const i = col.get(c);
      return i === undefined ? undefined : row.fields[i];
    };
    const bad = (c: string, v: string, want: string) =>
      new MalformedError(`${what} line ${row.line}: column "${c}" is "${v}", expected ${want}`);
    // every column is a measured quantity, a cut index or a frequency: none is negative
    const num = (c: DynasplitColumn): number => {
      const v = cell(c) ?? "";
      if (!NUM_RE.test(v)) throw bad(c, v, "a number");
      const x = Number(v);
      if (x < 0) throw bad(c, v, "a number >= 0");
      return x;
    };
    const numOrNull = (c: DynasplitColumn): number | null => {
      const v = cell(c);
      return v === undefined || v === "" ? null : num(c);
    };
    const sa = cell("server-accelerator") ?? "";
    const serverAcc = sa === "True" || sa === "true" ? true : sa === "False" || sa === "false" ? false : null;
    if (serverAcc === null) throw bad("server-accelerator", sa, "True or False");
    const edgeAcc = cell("edge-accelerator") ?? "";
    if (edgeAcc === "") throw bad("edge-accelerator", edgeAcc, "off, std or max");
    const config: Config = {
      layer: num("layer"),
      "cpu-freq": num("cpu-freq"),
      "edge-accelerator": edgeAcc,
      "server-accelerator": serverAcc,
    };
    const kb = num("tensor size (KB)");
    const bytes = Math.round(kb * 1024);
    if (Math.abs(bytes - kb * 1024) > 1e-6) throw bad("tensor size (KB)", cell("tensor size (KB)") ?? "", "a whole number of bytes / 1024");
    const acc = numOrNull("accuracy");
    if (acc !== null && (acc < 0 || acc > 1)) throw bad("accuracy", cell("accuracy") ?? "", "a fraction in [0, 1]");
    const device = numOrNull("avg energy edge (J)");
    const server = numOrNull("avg energy cloud (J)");
    const m: Measurement = {
      version: 1,
      key: measurementKey(config, opts.host.name, opts.model.sha256),
      config,
      model: { name: opts.model.name, sha256: opts.model.sha256 },
      host: { ...opts.host },
      latencyMs: { mean: num("latency"), p50: null, p95: null, p99: null, n: DYNASPLIT_N },
      breakdownMs: {
        head: numOrNull("avg latency edge (ms)"),
        encode: null,
        transfer: numOrNull("avg latency transfer (ms)"),
        server: numOrNull("avg latency cloud (ms)"),
        decode: null,
      },
      bytes,
      energyJ: { device, network: null, server, total: num("energy"), serverGpu: numOrNull("avg energy cloud gpu (J)") },
      energySource: { device: device === null ? null : "meter", network: null, server: server === null ? null : "node" },
      accuracy: acc === null ? null : { value: acc, n: DYNASPLIT_N, ci95: wilson95(acc, DYNASPLIT_N) },
      utilizationPct: {
        deviceCpu: numOrNull("utilization edge cpu (%)"),
        serverCpu: numOrNull("utilization cloud cpu (%)"),
        serverGpu: numOrNull("utilization cloud gpu (%)"),
      },
      measuredAt,
      source: "imported",
    };
    out.push(m);
  }
  return out;
}

/**
 * A measured pool file in DynaSplit's CSV format, read for replay: the runs, the file's sha256
 * and a model name from the file name. A missing or malformed file is the user's error (exit 2).
 */
export function readDynasplitPool(poolPath: string): { pool: Measurement[]; sha256: string; model: string } {
  let text: string;
  try {
    text = readFileSync(poolPath, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new UsageError(`cannot read pool ${poolPath} (${code}); give the path of a measured pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
  }
  const sha256 = createHash("sha256").update(text).digest("hex");
  const model = basename(poolPath, extname(poolPath)) || "pool";
  try {
    return { pool: importDynasplitCsv(text, { model: { name: model, sha256 }, host: { name: "replay" }, fileName: poolPath }), sha256, model };
  } catch (e) {
    if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the file or give a pool in DynaSplit's CSV format`, { path: poolPath, cause: e });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// export

const num = (x: number | null | undefined): string => (x === null || x === undefined ? "" : pyFloat(x));

function configCell(m: Measurement, dim: string): ConfigValue {
  const v = m.config[dim];
  if (v === undefined) throw new UsageError(`measurement ${m.key} has no "${dim}" dimension; DynaSplit's CSV needs layer, cpu-freq, edge-accelerator, server-accelerator`);
  return v;
}

const EXPORTERS: Record<DynasplitColumn, (m: Measurement) => string> = {
  accuracy: (m) => num(m.accuracy?.value),
  latency: (m) => num(m.latencyMs.mean),
  energy: (m) => num(m.energyJ.total),
  "avg energy edge (J)": (m) => num(m.energyJ.device),
  "avg latency edge (ms)": (m) => num(m.breakdownMs.head),
  "avg latency cloud (ms)": (m) => num(m.breakdownMs.server),
  "avg latency transfer (ms)": (m) => num(m.breakdownMs.transfer),
  "avg energy cloud (J)": (m) => num(m.energyJ.server),
  "avg energy cloud gpu (J)": (m) => num(m.energyJ.serverGpu),
  "utilization cloud cpu (%)": (m) => num(m.utilizationPct?.serverCpu),
  "utilization cloud gpu (%)": (m) => num(m.utilizationPct?.serverGpu),
  "utilization edge cpu (%)": (m) => num(m.utilizationPct?.deviceCpu),
  "tensor size (KB)": (m) => pyFloat(m.bytes / 1024),
  "cpu-freq": (m) => {
    const v = configCell(m, "cpu-freq");
    return typeof v === "number" ? pyFloat(v) : String(v);
  },
  layer: (m) => {
    const v = configCell(m, "layer");
    return typeof v === "number" ? pyFloat(v) : String(v);
  },
  "edge-accelerator": (m) => String(configCell(m, "edge-accelerator")),
  "server-accelerator": (m) => {
    const v = configCell(m, "server-accelerator");
    return typeof v === "boolean" ? (v ? "True" : "False") : String(v);
  },
};

/**
 * A record's config in DynaSplit's dimensions: as it is when it has them (an imported pool), or a
 * live config mapped: `split` -> layer, `cpuFreqMHz` -> cpu-freq (a number: "current", an
 * uncontrolled frequency, has no figure to write), a CPU `deviceTarget` -> edge-accelerator off
 * (the profiler runs heads on the CPU only), `serverTarget` -> server-accelerator (false on a CPU,
 * true on anything else). DynaSplit's columns have no codec: export one codec at a time.
 */
export function dynasplitConfigOf(m: Measurement): { ok: true; config: Config } | { ok: false; reason: string } {
  const c = m.config;
  if (["layer", "cpu-freq", "edge-accelerator", "server-accelerator"].every((d) => d in c)) return { ok: true, config: c };
  const { split, cpuFreqMHz, deviceTarget, serverTarget } = c;
  if (typeof split !== "number" || deviceTarget === undefined || serverTarget === undefined || cpuFreqMHz === undefined) {
    return { ok: false, reason: "its config has neither DynaSplit's dimensions nor split, cpuFreqMHz, deviceTarget and serverTarget" };
  }
  if (typeof cpuFreqMHz !== "number") return { ok: false, reason: `cpuFreqMHz is "${String(cpuFreqMHz)}" (not controlled), and DynaSplit's cpu-freq column needs a number` };
  if (!/^cpu(:\d+)?$/.test(String(deviceTarget))) return { ok: false, reason: `deviceTarget ${String(deviceTarget)} has no edge-accelerator value` };
  return { ok: true, config: { layer: split, "cpu-freq": cpuFreqMHz, "edge-accelerator": "off", "server-accelerator": !/^cpu(:\d+)?$/.test(String(serverTarget)) } };
}

export interface ExportOptions {
  /** columns to write, in order; default DYNASPLIT_COLUMNS, without `accuracy` when no record has one */
  columns?: readonly DynasplitColumn[];
}

/** Export Measurements as DynaSplit pool CSV (one row per record, header first). */
export function exportDynasplitCsv(measurements: readonly Measurement[], opts: ExportOptions = {}): string {
  const columns =
    opts.columns ?? (measurements.some((m) => m.accuracy !== null) ? DYNASPLIT_COLUMNS : DYNASPLIT_COLUMNS.filter((c) => c !== "accuracy"));
  for (const c of columns) {
    if (!(c in EXPORTERS)) throw new UsageError(`unknown DynaSplit column "${c}"; use one of ${DYNASPLIT_COLUMNS.join(", ")}`);
  }
  const rows: string[][] = [[...columns]];
  for (const m of measurements) rows.push(columns.map((c) => EXPORTERS[c](m)));
  return writeCsv(rows);
}
