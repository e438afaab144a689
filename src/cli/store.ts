/**
 * `splitwatt store list|export|import|clear`: see and manage the measurement store (the JSON-lines
 * file measure and optimize keep every measurement in). Filters (--host, --model, --testbed) as
 * src/measure/storeSelection.ts defines them. `clear` and `import` rewrite the file atomically
 * (MeasurementStore.rewrite): a crash leaves the old file or the new one.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { Command } from "commander";
import { z } from "zod";
import type { Measurement } from "../contracts/measurement.js";
import { IoError, MalformedError, UsageError } from "../errors.js";
import { outputDir } from "../outputDir.js";
import { defaultStorePath } from "./profilerOptions.js";
import { run } from "./run.js";

const Filters = z.object({
  store: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  testbed: z.string().min(1).optional(),
});

const ListOptions = Filters.extend({ json: z.boolean().default(false) });
const ExportOptions = Filters.extend({ dynasplitCsv: z.string().min(1, "--dynasplit-csv takes a file name"), codec: z.string().min(1).optional() });
const ImportOptions = z.object({ store: z.string().min(1).optional(), model: z.string().min(1).optional(), host: z.string().min(1).default("imported") });
const ClearOptions = Filters.extend({ yes: z.boolean().default(false) });

const storeOf = (o: { store?: string | undefined }): string => resolve(o.store ?? defaultStorePath());

function addFilters(c: Command): Command {
  return c
    .option("--store <file>", "the measurement store (default: $SPLITWATT_STATE_DIR or ~/.local/state/splitwatt/measurements.jsonl)")
    .option("--host <name>", "only records of this host")
    .option("--model <name>", "only records of this model: the name it was measured as, its file name, or a sha256 prefix (8+ hex digits)")
    .option("--testbed <k=v,...>", "only records of this testbed: server=, network=, link=, board=, deviceEnergy=, serverEnergy= (as store list shows them), or none");
}

const f = (x: number | null | undefined, digits: number): string => (x === null || x === undefined ? "-" : x.toFixed(digits));
const configLine = (m: Measurement): string =>
  Object.entries(m.config)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(" ");

async function list(o: z.infer<typeof ListOptions>): Promise<void> {
  const [{ MeasurementStore }, { selectRecords, testbedLine, placeKey }] = await Promise.all([import("../measure/measurementStore.js"), import("../measure/storeSelection.js")]);
  const file = storeOf(o);
  const store = MeasurementStore.read(file);
  const all = selectRecords(store.all(), o);
  const runs = new Map<string, number>();
  for (const m of all) runs.set(m.key, (runs.get(m.key) ?? 0) + 1);
  const latest = selectRecords(store.latest(), o);
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ store: file, configurations: latest.length, records: all.length, unreadableLines: store.warnings.length, measurements: latest.map((m) => ({ ...m, runs: runs.get(m.key) ?? 1 })) }, null, 2)}\n`);
    return;
  }
  for (const w of store.warnings) process.stderr.write(`splitwatt: warning: measurement store ${w}\n`);
  const lines = [`${file}: ${latest.length} configuration(s), ${all.length} record(s)${o.host ?? o.model ?? o.testbed ? " selected" : ""}`];
  // one block per host + model + testbed: the records that were measured together
  const places = new Map<string, Measurement[]>();
  for (const m of latest) places.set(placeKey(m), [...(places.get(placeKey(m)) ?? []), m]);
  for (const ms of places.values()) {
    const m0 = ms[0] as Measurement;
    lines.push("", `${m0.model.name} (sha256 ${m0.model.sha256.slice(0, 12)}) on host ${m0.host.name}: ${ms.length} configuration(s)`, `  testbed ${testbedLine(m0.testbed)}`);
    lines.push("    latency ms    energy J  runs  measured          config");
    for (const m of ms) {
      lines.push(`    ${f(m.latencyMs.mean, 2).padStart(10)}  ${f(m.energyJ.total, 4).padStart(10)}  ${String(runs.get(m.key) ?? 1).padStart(4)}  ${m.measuredAt.slice(0, 16).replace("T", " ")}  ${configLine(m)}`);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function exportCsv(o: z.infer<typeof ExportOptions>): Promise<void> {
  const [{ MeasurementStore }, { selectRecords, testbedLine, placeKey }, { dynasplitConfigOf, exportDynasplitCsv }] = await Promise.all([
    import("../measure/measurementStore.js"),
    import("../measure/storeSelection.js"),
    import("../contracts/dynasplitCsv.js"),
  ]);
  const out = resolve(o.dynasplitCsv);
  if (existsSync(out)) throw new UsageError(`${out} exists: remove it or give another file to --dynasplit-csv`, { path: out });
  outputDir(dirname(out), "--dynasplit-csv");
  const store = MeasurementStore.read(storeOf(o));
  let picked = selectRecords(store.all(), o);
  if (o.codec !== undefined) picked = picked.filter((m) => m.config.codec === o.codec);
  if (picked.length === 0) throw new UsageError(`no record of ${storeOf(o)} matches${o.host ? ` --host ${o.host}` : ""}${o.model ? ` --model ${o.model}` : ""}${o.testbed ? ` --testbed ${o.testbed}` : ""}${o.codec ? ` --codec ${o.codec}` : ""}: see splitwatt store list`);
  // one pool = one model on one host and testbed
  const models = [...new Set(picked.map((m) => m.model.name))];
  if (new Set(picked.map((m) => m.model.sha256)).size > 1) throw new UsageError(`the selection holds several models (${models.join(", ")}): choose one with --model`);
  const places = [...new Set(picked.map(placeKey))];
  if (places.length > 1) {
    const tbs = [...new Set(picked.map((m) => `${m.host.name}: ${testbedLine(m.testbed)}`))];
    throw new UsageError(`the selection holds ${places.length} testbeds (${tbs.slice(0, 2).join(" | ")}${tbs.length > 2 ? " | ..." : ""}): choose one with --host and --testbed`);
  }
  const codecs = [...new Set(picked.map((m) => m.config.codec).filter((c) => c !== undefined).map(String))];
  if (codecs.length > 1) throw new UsageError(`the selection holds codecs ${codecs.join(", ")}, and DynaSplit's columns have no codec: choose one with --codec`);
  const rows: Measurement[] = [];
  const skipped = new Map<string, number>();
  for (const m of picked) {
    const c = dynasplitConfigOf(m);
    if (c.ok) rows.push({ ...m, config: c.config });
    else skipped.set(c.reason, (skipped.get(c.reason) ?? 0) + 1);
  }
  const [firstReason] = skipped.keys();
  if (rows.length === 0) throw new UsageError(`none of the ${picked.length} selected record(s) fits DynaSplit's columns: ${firstReason}`);
  const tmp = join(dirname(out), `.${basename(out)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, exportDynasplitCsv(rows));
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new IoError(`cannot write ${out} (${(e as NodeJS.ErrnoException).code ?? "error"}); check that its directory is writable`, { path: out, cause: e });
  }
  for (const [reason, n] of skipped) process.stderr.write(`splitwatt: warning: ${n} record(s) left out: ${reason}\n`);
  process.stdout.write(`wrote ${rows.length} row(s) of ${models[0]}${codecs.length === 1 ? ` (codec ${codecs[0]}, not a DynaSplit column)` : ""} to ${out}\n`);
}

async function importFile(file: string, o: z.infer<typeof ImportOptions>): Promise<void> {
  const [{ MeasurementStore, parseStoreText }, { importDynasplitCsv }] = await Promise.all([import("../measure/measurementStore.js"), import("../contracts/dynasplitCsv.js")]);
  let text: string;
  let mtime: Date;
  try {
    text = readFileSync(file, "utf8");
    mtime = statSync(file).mtime;
  } catch (e) {
    throw new UsageError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? "error"}); give a measurement store (.jsonl) or a DynaSplit pool (.csv)`, { path: file, cause: e });
  }
  const first = text.trimStart()[0];
  let incoming: Measurement[];
  if (first === undefined) throw new UsageError(`${file} is empty; give a measurement store (.jsonl) or a DynaSplit pool (.csv)`, { path: file });
  if (first === "{") {
    const lines = parseStoreText(text);
    const bad = lines.find((l) => l.record === null);
    if (bad !== undefined) throw new UsageError(`${file} ${bad.warning?.replace(/, skipped$/, "") ?? `line ${bad.line}: not a record`}: fix or remove that line; nothing was imported`, { path: file });
    incoming = lines.map((l) => l.record as Measurement);
  } else {
    // a DynaSplit pool: keyed by the pool's sha256 (as optimize --replay does), stamped with the file's time so importing it again adds nothing
    const sha256 = createHash("sha256").update(text).digest("hex");
    try {
      incoming = importDynasplitCsv(text, { model: { name: o.model ?? (basename(file, extname(file)) || "pool"), sha256 }, host: { name: o.host }, measuredAt: mtime.toISOString(), fileName: file });
    } catch (e) {
      if (e instanceof MalformedError) throw new UsageError(`${e.message}; fix the file, or give a measurement store (.jsonl) or a DynaSplit pool (.csv)`, { path: file, cause: e });
      throw e;
    }
  }
  const store = storeOf(o);
  const { added, present } = MeasurementStore.rewrite(store, (lines) => {
    const have = new Set(lines.flatMap((l) => (l.record === null ? [] : [JSON.stringify(l.record)])));
    const fresh: string[] = [];
    let dup = 0;
    for (const m of incoming) {
      const s = JSON.stringify(m);
      if (have.has(s)) dup++;
      else {
        have.add(s);
        fresh.push(s);
      }
    }
    return { lines: [...lines.map((l) => l.text), ...fresh], result: { added: fresh.length, present: dup } };
  });
  process.stdout.write(`imported ${added} record(s) into ${store}${present > 0 ? ` (${present} already there, not added again)` : ""}\n`);
}

async function clear(o: z.infer<typeof ClearOptions>): Promise<void> {
  const [{ MeasurementStore }, { selectRecords }] = await Promise.all([import("../measure/measurementStore.js"), import("../measure/storeSelection.js")]);
  const file = storeOf(o);
  const store = MeasurementStore.read(file);
  const selected = selectRecords(store.all(), o);
  if (selected.length === 0) {
    process.stdout.write(`nothing to remove: no record of ${file} matches\n`);
    return;
  }
  const what = `${selected.length} record(s) (${new Set(selected.map((m) => m.key)).size} configuration(s)) from ${file}`;
  if (!o.yes) {
    if (process.stdin.isTTY !== true || process.stderr.isTTY !== true) throw new UsageError(`store clear would remove ${what}: give --yes to confirm (there is no terminal to ask)`);
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    const answer = await rl.question(`remove ${what}? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      process.stdout.write("nothing removed\n");
      return;
    }
  }
  const { removed, left, unreadable } = MeasurementStore.rewrite(file, (lines) => {
    // the same filter on what the file holds now (another run may have appended since it was read)
    const gone = new Set(selectRecords(lines.flatMap((l) => (l.record === null ? [] : [l.record])), o));
    const kept = lines.filter((l) => l.record === null || !gone.has(l.record));
    return { lines: kept.map((l) => l.text), result: { removed: lines.length - kept.length, left: kept.filter((l) => l.record !== null).length, unreadable: kept.filter((l) => l.record === null).length } };
  });
  process.stdout.write(`removed ${removed} record(s); ${left} left${unreadable > 0 ? ` (and ${unreadable} unreadable line(s), kept as they are)` : ""}\n`);
}

export function storeCommand(): Command {
  const store = new Command("store").description("see and manage the measurement store: list, export (DynaSplit CSV), import, clear");
  store.addCommand(
    addFilters(new Command("list"))
      .description("the stored measurements by host, model and testbed (the latest record of each configuration)")
      .option("--json", "print JSON")
      .action(run(async (raw: unknown) => list(ListOptions.parse(raw)))),
  );
  store.addCommand(
    addFilters(new Command("export"))
      .description("write the selected records as a DynaSplit pool CSV (one model on one testbed; optimize --replay reads it)")
      .requiredOption("--dynasplit-csv <file>", "the CSV file to write (must not exist)")
      .option("--codec <codec>", "only records of this codec (DynaSplit's columns have none)")
      .action(run(async (raw: unknown) => exportCsv(ExportOptions.parse(raw)))),
  );
  store.addCommand(
    new Command("import")
      .description("add the records of another store (.jsonl) or of a DynaSplit pool (.csv) to the store; records already there are not added again")
      .argument("<file>", "a measurement store (JSON lines) or a DynaSplit pool CSV")
      .option("--store <file>", "the measurement store (default: $SPLITWATT_STATE_DIR or ~/.local/state/splitwatt/measurements.jsonl)")
      .option("--model <name>", "a DynaSplit pool's model name (default: the file name; its key is the pool's sha256)")
      .option("--host <name>", "a DynaSplit pool's host name", "imported")
      .action(run(async (file: string, raw: unknown) => importFile(file, ImportOptions.parse(raw)))),
  );
  store.addCommand(
    addFilters(new Command("clear"))
      .description("remove the selected records (all without a filter); asks first, or --yes")
      .option("--yes", "do not ask")
      .action(run(async (raw: unknown) => clear(ClearOptions.parse(raw)))),
  );
  return store;
}
