import { join } from "node:path";
import type { Roots } from "./roots.js";

/** Processes that can change cpufreq settings behind splitwatt's back (names as in /proc/PID/comm, 15 chars max). */
const OVERRIDERS: Array<[RegExp, string]> = [
  [/^nvpmodel$/, "nvpmodel is running: Jetson power modes change CPU limits and can undo splitwatt's frequency settings"],
  [/^jetson_clocks$/, "jetson_clocks is running: it pins clocks to their maximum and overrides splitwatt's settings"],
  [/^power-profiles-/, "power-profiles-daemon is running: it can switch the governor or EPP; stop it (systemctl stop power-profiles-daemon) while measuring"],
  [/^tuned$/, "tuned is running: its profiles can rewrite cpufreq settings; stop it while measuring"],
  [/^auto-cpufreq$/, "auto-cpufreq is running: it changes governors and limits on its own; stop it while measuring"],
];

/**
 * Warnings about what can override frequency settings: running daemons (from /proc/PID/comm)
 * and a Jetson board, where nvpmodel and jetson_clocks manage clocks.
 */
export async function overrideWarnings(r: Roots): Promise<string[]> {
  const out: string[] = [];
  let pids: string[] = [];
  try {
    pids = (await r.io.list(r.procRoot)).map((e) => e.name).filter((n) => /^\d+$/.test(n));
  } catch {
    return out;
  }
  const comms = await r.io.readMany(pids.map((p) => join(r.procRoot, p, "comm")));
  const seen = new Set<string>();
  for (const c of comms) {
    if (!c.ok) continue;
    const name = c.text.trim();
    for (const [re, msg] of OVERRIDERS) if (re.test(name) && !seen.has(msg)) seen.add(msg);
  }
  out.push(...seen);
  const [model, family] = await r.io.readMany([r.proc("device-tree/model"), r.sys("devices/soc0/family")]);
  const isJetson = (model?.ok === true && /jetson/i.test(model.text)) || (family?.ok === true && /tegra/i.test(family.text));
  if (isJetson && ![...seen].some((m) => m.startsWith("nvpmodel") || m.startsWith("jetson_clocks"))) {
    out.push("Jetson board: nvpmodel and jetson_clocks can override cpufreq limits; do not run them while splitwatt controls the clocks");
  }
  return out;
}
