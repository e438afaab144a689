import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { UsageError } from "../errors.js";

const NetworkProfileSchema = z.looseObject({
  $schema: z.literal("splitwatt network profile v1").optional(),
  name: z.string().min(1),
  description: z.string().optional(),
  /** device -> server rate, Mbit/s */
  uplinkMbps: z.number().positive(),
  /** server -> device rate, Mbit/s */
  downlinkMbps: z.number().positive(),
  /** round-trip time, ms */
  rttMs: z.number().nonnegative(),
  radio: z.object({
    /** the device's radio power while sending at uplinkMbps, W */
    txW: z.number().nonnegative(),
    /** while receiving at downlinkMbps, W */
    rxW: z.number().nonnegative(),
    /** connected but not transferring (LTE's tail in RRC_CONNECTED, an associated WiFi radio), W */
    idleW: z.number().nonnegative(),
    /** true only when txW/rxW/idleW themselves were measured at these rates */
    measured: z.boolean(),
    /** how the figures were obtained */
    basis: z.string().min(1),
    /** the published model the figures were evaluated from, when there is one: P = alphaUp x up + alphaDown x down + beta */
    model: z
      .object({
        kind: z.literal("linear-throughput"),
        alphaUpWPerMbps: z.number().nonnegative(),
        alphaDownWPerMbps: z.number().nonnegative(),
        betaW: z.number().nonnegative(),
      })
      .optional(),
  }),
  /** which figures are assumptions */
  assumptions: z.array(z.string().min(1)).optional(),
  sources: z.array(z.object({ title: z.string().min(1), url: z.string().min(1), used: z.string().min(1) })).min(1),
});

export type NetworkProfile = z.infer<typeof NetworkProfileSchema>;

/** configs/networks of the installed package (src/transport and dist/transport are two levels below the root). */
export function networksDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "configs", "networks");
}

/** Names of the shipped network profiles (configs/networks/*.json), sorted. */
export function listNetworkProfiles(): string[] {
  try {
    return readdirSync(networksDir())
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
  } catch {
    return [];
  }
}

/** Load a network profile by name (configs/networks/NAME.json) or path to a JSON file. */
export function networkProfile(nameOrPath: string): NetworkProfile {
  const isPath = nameOrPath.includes("/") || nameOrPath.endsWith(".json");
  const path = isPath ? resolve(nameOrPath) : join(networksDir(), `${nameOrPath}.json`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError(`network profile "${nameOrPath}" not found at ${path}: name one of ${listNetworkProfiles().join(", ") || "(none shipped)"} or give a path to a JSON file`, { path });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`network profile ${path} is not valid JSON: ${(err as Error).message}`, { path });
  }
  const parsed = NetworkProfileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`network profile ${path}: ${issue?.path.join(".") ?? ""} ${issue?.message ?? "invalid"}`, { path });
  }
  const p = parsed.data;
  const m = p.radio.model;
  if (m !== undefined) {
    // the stated powers must be the model evaluated at the stated rates (catches a rate edited without the powers)
    const check = (field: "txW" | "rxW" | "idleW", want: number): void => {
      if (Math.abs(p.radio[field] - want) > 0.01 * Math.max(want, 0.01)) {
        throw new UsageError(`network profile ${path}: radio.${field} is ${p.radio[field]} W but radio.model gives ${want.toFixed(3)} W at the profile's rates: update radio.${field} or remove radio.model`, { path });
      }
    };
    check("txW", m.betaW + m.alphaUpWPerMbps * p.uplinkMbps);
    check("rxW", m.betaW + m.alphaDownWPerMbps * p.downlinkMbps);
    check("idleW", m.betaW);
  }
  return p;
}

/**
 * Radio energy of one transfer, J: txW x txMs + rxW x rxMs (ms -> s). It counts only the time the
 * radio spends sending and receiving, at the profile's powers for that state. Idle and tail
 * energy (LTE keeps the radio in RRC_CONNECTED for seconds after the last packet, at about
 * idleW) is NOT counted: it depends on the request rate, not on one request; callers that
 * want it add idleW x their own window.
 */
export function radioEnergyJ(profile: NetworkProfile, t: { txMs: number; rxMs: number }): number {
  for (const [k, v] of Object.entries(t)) {
    if (!Number.isFinite(v) || v < 0) throw new UsageError(`radio energy needs a non-negative ${k}, got ${v}: pass the measured send and receive times in ms`);
  }
  return (profile.radio.txW * t.txMs + profile.radio.rxW * t.rxMs) / 1000;
}
