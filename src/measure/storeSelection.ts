/**
 * Which records of a measurement store a `splitwatt store` command works on: filters by host,
 * model and testbed, all optional, all of them applied (pure; no I/O).
 *
 * - host: the record's host name, exactly;
 * - model: the model's name as it was given when measured (`tiny_cnn`, `paddle:cls`, a path), the
 *   file name of that path, or a prefix of its sha256 of at least 8 hex digits;
 * - testbed: `KEY=VALUE[,KEY=VALUE]` over the testbed's fields (server, network, link, board,
 *   deviceEnergy, serverEnergy), each equal; `none` selects records without a testbed (stored
 *   before splitwatt keyed by testbed, or imported pools).
 */
import { basename } from "node:path";
import { canonicalTestbedKey, testbedSchema, type Measurement, type Testbed } from "../contracts/measurement.js";
import { UsageError } from "../errors.js";

export interface StoreFilter {
  host?: string | undefined;
  model?: string | undefined;
  testbed?: string | undefined;
}

const TESTBED_FIELDS = Object.keys(testbedSchema.shape) as Array<keyof Testbed>;

type TestbedMatch = { none: true } | { none: false; fields: Partial<Record<keyof Testbed, string>> };

/** `--testbed` text -> what it matches; a UsageError naming the bad part. */
export function parseTestbedFilter(text: string): TestbedMatch {
  if (text.trim() === "none") return { none: true };
  const fields: Partial<Record<keyof Testbed, string>> = {};
  for (const part of text.split(",")) {
    const eq = part.indexOf("=");
    const k = part.slice(0, Math.max(0, eq)).trim();
    const v = part.slice(eq + 1).trim();
    if (eq <= 0 || v === "") throw new UsageError(`--testbed "${part}": give KEY=VALUE pairs separated by commas (e.g. server=local,link=kernel), or none`);
    if (!(TESTBED_FIELDS as string[]).includes(k)) throw new UsageError(`--testbed: unknown field "${k}"; use ${TESTBED_FIELDS.join(", ")}`);
    fields[k as keyof Testbed] = v;
  }
  return { none: false, fields };
}

function modelMatches(m: Measurement, model: string): boolean {
  if (m.model.name === model || basename(m.model.name) === model) return true;
  return /^[0-9a-f]{8,64}$/i.test(model) && m.model.sha256.startsWith(model.toLowerCase());
}

/** The records `filter` selects, in their order. */
export function selectRecords(records: readonly Measurement[], filter: StoreFilter): Measurement[] {
  const tb = filter.testbed === undefined ? null : parseTestbedFilter(filter.testbed);
  return records.filter((m) => {
    if (filter.host !== undefined && m.host.name !== filter.host) return false;
    if (filter.model !== undefined && !modelMatches(m, filter.model)) return false;
    if (tb === null) return true;
    if (tb.none) return m.testbed === undefined;
    const t = m.testbed;
    return t !== undefined && Object.entries(tb.fields).every(([k, v]) => t[k as keyof Testbed] === v);
  });
}

/** A testbed as one line: its fields as `--testbed` takes them, or "none" when not recorded. */
export function testbedLine(t: Testbed | undefined): string {
  return t === undefined ? "none (not recorded: stored before splitwatt keyed by testbed, or imported)" : TESTBED_FIELDS.map((k) => `${k}=${t[k]}`).join(",");
}

/** Where a record was measured: host, model and testbed (records that share it form one pool). */
export function placeKey(m: Measurement): string {
  return `${m.host.name}|${m.model.sha256}|${m.testbed === undefined ? "" : canonicalTestbedKey(m.testbed)}`;
}
