import { existsSync, statSync } from "node:fs";
import { Command } from "commander";
import { z } from "zod";
import { UsageError } from "../errors.js";
import { onInterrupt, signalExitCode, type ShutdownSignal } from "../shutdown.js";
import type { SetFrequencyResult } from "../hw/cpufreq.js";
import type { SetGpuFrequencyResult } from "../hw/gpufreq.js";
import type { HardwareReport } from "../hw/hardwareReport.js";
import type { Inventory } from "../hw/inventory.js";
import { addMeterOptions, MeterCliOptions } from "./meterOptions.js";
import { run } from "./run.js";
import { cliNumber } from "./cliNumber.js";

const RootOptions = z.object({
  sysfsRoot: z.string().min(1).optional(),
  procRoot: z.string().min(1).optional(),
  devRoot: z.string().min(1).optional(),
});

const ShowOptions = RootOptions.extend({
  json: z.boolean().default(false),
  /** default 250 ms, with a meter 5 of its periods */
  readingMs: cliNumber(z.number().int().min(0).max(60_000)).optional(),
  board: z.string().min(1).optional(),
  stateDir: z.string().min(1).optional(),
}).extend(MeterCliOptions.shape);

const SetOptions = RootOptions.extend({
  json: z.boolean().default(false),
  freqMhz: cliNumber(z.number().positive("must be a positive number of MHz")).optional(),
  governor: z.string().min(1).optional(),
  policy: z.string().min(1).optional(),
  gpuFreqMhz: cliNumber(z.number().positive("must be a positive number of MHz")).optional(),
  gpu: z.string().min(1).optional(),
  hold: cliNumber(z.number().min(0).max(7 * 24 * 3600)).optional(),
  stateDir: z.string().min(1).optional(),
});

function checkRoots(o: z.infer<typeof RootOptions>): void {
  for (const [flag, dir] of [["--sysfs-root", o.sysfsRoot], ["--proc-root", o.procRoot], ["--dev-root", o.devRoot]] as const) {
    if (dir !== undefined && (!existsSync(dir) || !statSync(dir).isDirectory())) {
      throw new UsageError(`${flag} ${dir} is not a directory: give the root of a sysfs/procfs/devfs tree`);
    }
  }
}

function addRootOptions(c: Command): Command {
  return c
    .option("--sysfs-root <dir>", "read sysfs from this directory instead of /sys (env SPLITWATT_SYSFS_ROOT)")
    .option("--proc-root <dir>", "read procfs from this directory instead of /proc (env SPLITWATT_PROC_ROOT)")
    .option("--dev-root <dir>", "read device files from this directory instead of /dev (env SPLITWATT_DEV_ROOT)");
}

const mhz = (kHz: number | null): string => (kHz === null ? "?" : `${+(kHz / 1000).toFixed(1)}`);

function cpuRanges(cpus: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < cpus.length; ) {
    let j = i;
    while (j + 1 < cpus.length && (cpus[j + 1] as number) === (cpus[j] as number) + 1) j++;
    parts.push(i === j ? `${cpus[i]}` : `${cpus[i]}-${cpus[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

function formatWatts(w: number | null): string {
  if (w === null) return "n/a";
  return w >= 100 ? `${w.toFixed(0)} W` : w >= 1 ? `${w.toFixed(2)} W` : `${(w * 1000).toFixed(0)} mW`;
}

function humanReport(r: HardwareReport, inv: Inventory): string {
  const lines: string[] = [];
  const gib = (inv.memoryBytes / 2 ** 30).toFixed(1);
  lines.push(`board    ${[inv.manufacturer, inv.model].filter((x) => x !== "").join(" ") || "unknown"} | ${inv.cpu}, ${inv.cores} cores | ${gib} GiB | ${inv.os}, kernel ${inv.kernel} (${inv.arch})`);
  if (r.roots.sysfs !== "/sys" || r.roots.proc !== "/proc" || r.roots.dev !== "/dev") {
    lines.push(`roots    sysfs ${r.roots.sysfs}, proc ${r.roots.proc}, dev ${r.roots.dev} (the board line and the vulkan capability describe this machine)`);
  }
  lines.push("", "CPU frequency");
  if (r.cpufreq.policies.length === 0) {
    lines.push("  none: this machine offers no CPU frequency control (no cpufreq policies); splitwatt runs at the current frequency");
  }
  for (const p of r.cpufreq.policies) {
    const offline = p.cpus.filter((c) => !p.onlineCpus.includes(c));
    lines.push(
      `  ${p.id.padEnd(9)} cpus ${cpuRanges(p.cpus)}${offline.length > 0 ? ` (offline: ${cpuRanges(offline)})` : ""}  ${p.driver}  governor ${p.governor}  ` +
        `${mhz(p.minKHz)}-${mhz(p.maxKHz)} MHz (limits ${mhz(p.scalingMinKHz)}-${mhz(p.scalingMaxKHz)})  now ${mhz(p.curKHz)} MHz`,
    );
    lines.push(`            offered MHz: ${p.availableKHz === null ? `no table (${p.driver} takes any value in range)` : p.availableKHz.map(mhz).join(" ")}`);
    lines.push(`            governors: ${p.governors.join(" ")}`);
  }
  lines.push("", "GPU frequency");
  if (r.gpufreq.devices.length === 0) lines.push("  none: no devfreq GPU or i915 card (GPU clocks are not controllable here)");
  for (const g of r.gpufreq.devices) {
    lines.push(
      `  ${g.id}  ${g.driver ?? "?"}${g.governor === null ? "" : `  governor ${g.governor}`}  ${mhz(g.minKHz)}-${mhz(g.maxKHz)} MHz ` +
        `(limits ${mhz(g.limitMinKHz)}-${mhz(g.limitMaxKHz)})  now ${mhz(g.curKHz)} MHz${g.boostKHz === null ? "" : `  boost ${mhz(g.boostKHz)} MHz`}`,
    );
    lines.push(`            offered MHz: ${g.availableKHz === null ? "no table (any value in range)" : g.availableKHz.map(mhz).join(" ")}`);
    if (g.governors.length > 0) lines.push(`            governors: ${g.governors.join(" ")}`);
  }
  lines.push("", `Energy sources (device total from: ${r.energy.deviceSource}${r.energy.estimated ? " (ESTIMATE: board power model x CPU utilisation, not a measurement)" : ""})`);
  const idWidth = Math.max(10, ...r.energy.sources.map((s) => s.id.length));
  for (const s of r.energy.sources) {
    const reading =
      s.reading === null
        ? ""
        : s.reading.energyJ === null
          ? `n/a (${s.reading.note ?? "no reading"})`
          : `${formatWatts(s.reading.powerW)} over ${r.energy.readingWindowMs} ms${s.reading.note === undefined ? "" : ` (${s.reading.note})`}`;
    lines.push(
      `  ${s.id.padEnd(idWidth)}  ${s.kind.padEnd(8)} ${s.domain.padEnd(10)} ${s.socket === null ? "      " : `sock ${s.socket}`}  ${s.kind === "estimate" ? "model  " : s.measures === "energy" ? "counter" : "power  "}  ${reading}${s.device ? "  [device]" : ""}${s.gpu === null ? "" : `  [gpu: ${s.gpu}]`}${s.kind === "estimate" ? "  (estimate)" : ""}`,
    );
  }
  if (r.energy.sources.length === 0) lines.push("  none");
  lines.push("", "Capabilities");
  for (const c of r.capabilities) {
    lines.push(`  ${c.available ? "yes" : "no "}  ${c.name.padEnd(16)} ${c.reason}`);
    if (c.fix !== null && !c.available) lines.push(`       ${"".padEnd(16)} fix: ${c.fix}`);
  }
  const warnings = [...r.cpufreq.warnings, ...r.gpufreq.warnings, ...r.energy.warnings];
  if (warnings.length > 0) lines.push("", "Warnings", ...warnings.map((w) => `  ${w}`));
  return `${lines.join("\n")}\n`;
}

function humanSet(results: Array<SetFrequencyResult | SetGpuFrequencyResult>): string {
  return (
    results.map((r) => `${"policy" in r ? r.policy : r.device}: requested ${mhz(r.requestedKHz)} MHz, applied ${mhz(r.appliedKHz)} MHz via ${r.method}, now ${mhz(r.curKHz)} MHz`).join("\n") + "\n"
  );
}

export function hwCommand(): Command {
  const hw = addMeterOptions(addRootOptions(new Command("hw").enablePositionalOptions()))
    .description("show CPU frequency policies, GPU clocks, energy sources with a reading, and capabilities")
    .option("--json", "print one JSON object (stable shape, see README)")
    .option("--reading-ms <ms>", "window of the one-line energy readings (0 = no reading; default 250, with --meter 5 meter periods)")
    .option("--board <name|path>", "board profile for the estimate source (configs/boards; env SPLITWATT_BOARD)")
    .option("--state-dir <dir>", "where the cpufreq restore state file lives (env SPLITWATT_STATE_DIR)")
    .action(
      run(async (raw: unknown) => {
        const o = ShowOptions.parse(raw);
        checkRoots(o);
        const [{ hardwareReport }, { inventory }] = await Promise.all([import("../hw/hardwareReport.js"), import("../hw/inventory.js")]);
        const [report, inv] = await Promise.all([hardwareReport(o), inventory()]);
        process.stdout.write(o.json ? `${JSON.stringify({ ...report, board: inv }, null, 2)}\n` : humanReport(report, inv));
      }),
    );

  hw.addCommand(
    addRootOptions(new Command("set"))
      .description("run CPU policies and/or GPUs at one frequency (or a CPU governor), hold it, then restore the previous settings")
      .option("--freq-mhz <mhz>", "CPU frequency in MHz (snapped to the nearest offered one within 1%)")
      .option("--governor <name>", "CPU governor to switch to (e.g. performance)")
      .option("--policy <id>", "only this policy (e.g. policy0); default: all")
      .option("--gpu-freq-mhz <mhz>", "GPU frequency in MHz (devfreq: snapped to the nearest offered one within 1%; i915: within RPn..RP0)")
      .option("--gpu <id>", "only this GPU (e.g. fb000000.gpu, card0, devfreq:17000000.ga10b); default: all")
      .option("--hold <seconds>", "keep the setting this long, then restore (default: until Ctrl-C)")
      .option("--state-dir <dir>", "where the restore state file lives (env SPLITWATT_STATE_DIR)")
      .option("--json", "print the results as JSON")
      .action(
        run(async (raw: unknown) => {
          const o = SetOptions.parse(raw);
          checkRoots(o);
          if (o.gpu !== undefined && o.gpuFreqMhz === undefined) throw new UsageError("--gpu needs --gpu-freq-mhz");
          if (o.freqMhz === undefined && o.governor === undefined && o.gpuFreqMhz === undefined) throw new UsageError("give --freq-mhz and/or --governor, or --gpu-freq-mhz");
          const [{ Cpufreq }, { Gpufreq }] = await Promise.all([import("../hw/cpufreq.js"), import("../hw/gpufreq.js")]);
          const cf = new Cpufreq({ ...o, restoreOnExit: true });
          const gf = new Gpufreq({ ...o, restoreOnExit: true, guard: cf.guard });
          const results: SetFrequencyResult[] = [];
          if (o.freqMhz !== undefined || o.governor !== undefined) {
            const ids = o.policy !== undefined ? [(await cf.policy(o.policy)).id] : (await cf.policies()).map((p) => p.id);
            if (ids.length === 0) throw new UsageError("this machine offers no CPU frequency control (no cpufreq policies)");
            for (const id of ids) {
              if (o.governor !== undefined) await cf.setGovernor(id, o.governor);
              if (o.freqMhz !== undefined) results.push(await cf.setFrequency(id, Math.round(o.freqMhz * 1000)));
            }
          }
          const gpuResults: SetGpuFrequencyResult[] = [];
          if (o.gpuFreqMhz !== undefined) {
            const gpus = o.gpu !== undefined ? [(await gf.device(o.gpu)).id] : (await gf.devices()).map((d) => d.id);
            if (gpus.length === 0) throw new UsageError("this machine offers no GPU frequency control (no devfreq GPU, no i915 card): see `splitwatt hw`");
            for (const id of gpus) gpuResults.push(await gf.setFrequency(id, Math.round(o.gpuFreqMhz * 1000)));
          }
          for (const w of [...cf.warnings, ...gf.warnings]) process.stderr.write(`splitwatt: warning: ${w}\n`);
          process.stdout.write(o.json ? `${JSON.stringify({ results, gpus: gpuResults, governor: o.governor ?? null }, null, 2)}\n` : humanSet([...results, ...gpuResults]));
          const holdMs = o.hold === undefined ? null : o.hold * 1000;
          if (holdMs === null) process.stderr.write("holding; press Ctrl-C to restore the previous settings\n");
          // the hold ends after --hold or at a signal (src/shutdown.ts); either way this restores, a signal then exits 130 / 143
          let stoppedBy = null as ShutdownSignal | null;
          let removeInterrupt = (): void => {};
          await new Promise<void>((resolve) => {
            const keep = holdMs !== null ? setTimeout(resolve, holdMs) : setInterval(() => undefined, 1 << 30);
            removeInterrupt = onInterrupt((signal) => {
              stoppedBy = signal;
              clearTimeout(keep);
              clearInterval(keep);
              resolve();
            });
          });
          removeInterrupt();
          const restored = cf.restore();
          process.stderr.write(`restored ${restored.join(", ")}\n`);
          if (stoppedBy !== null) process.exitCode = signalExitCode(stoppedBy);
        }),
      ),
  );

  hw.addCommand(
    addRootOptions(new Command("restore"))
      .description("put back CPU and GPU clock settings that a splitwatt run killed with SIGKILL (or a crash) left behind")
      .option("--state-dir <dir>", "where the restore state file lives (env SPLITWATT_STATE_DIR)")
      .action(
        run(async (raw: unknown) => {
          const o = SetOptions.parse(raw);
          checkRoots(o);
          const { Cpufreq } = await import("../hw/cpufreq.js");
          const cf = new Cpufreq({ ...o, restoreOnExit: false });
          const restored = cf.recover();
          for (const w of cf.warnings) process.stderr.write(`splitwatt: warning: ${w}\n`);
          process.stdout.write(restored.length > 0 ? `restored ${restored.join(", ")}\n` : "nothing to restore\n");
        }),
      ),
  );
  return hw;
}
