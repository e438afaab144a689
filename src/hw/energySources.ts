import { join } from "node:path";
import { binding } from "../native/binding.js";
import type { SamplerSourceSpec } from "../native/types.js";
import { env } from "../env.js";
import { errnoCode } from "./ioError.js";
import { parseCpuList, parseCpuVendor, parseFloatStrict, parseInt64, parsePerfEventConfig, parseProcStat, parseUBigInt, parseUInt } from "./parse.js";
import { roots, type HwRootOptions, type Roots } from "./roots.js";
import type { ReadResult } from "./sysIO.js";

/** `meter` = an external power meter (src/hw/meters/), given with --meter, never discovered. */
export type EnergyKind = "rapl" | "perf" | "msr" | "hwmon" | "ina3221" | "nvml" | "meter" | "estimate";


export interface EnergySource {
  /** stable id, e.g. "rapl:package-0", "rapl:package-0/dram", "ina3221:VDD_IN", "nvml:0" */
  id: string;
  kind: EnergyKind;
  /** package, dram, core, uncore, psys, gpu, rail name, ... */
  domain: string;
  /** CPU socket (physical package) where it applies */
  socket: number | null;
  /** "energy" for counters, "power" for instantaneous power integrated by the sampler */
  measures: "energy" | "power";
  /** the main file read (or library), for messages */
  path: string | null;
  /** what the native sampler reads; null for the estimate source */
  spec: SamplerSourceSpec | null;
}

/** Per kind: found and usable or not, why, and what the user can do. */
export interface EnergyProbe {
  kind: EnergyKind;
  available: boolean;
  reason: string;
  fix: string | null;
}

export interface EnergyDiscovery {
  /** every usable source, in discovery order */
  sources: EnergySource[];
  /** the non-overlapping subset whose sum is the device's energy */
  device: EnergySource[];
  /** true when the device figure comes from the estimate source */
  estimated: boolean;
  probes: EnergyProbe[];
  warnings: string[];
}

export interface EnergyDiscoveryOptions extends HwRootOptions {
  /** NVML library to dlopen (default SPLITWATT_NVML_LIB or libnvidia-ml.so.1) */
  nvmlLib?: string | undefined;
}

const ESTIMATE_SOURCE: EnergySource = { id: "estimate", kind: "estimate", domain: "cpu", socket: null, measures: "energy", path: null, spec: null };

interface KindResult {
  sources: EnergySource[];
  probe: EnergyProbe;
}

const POWERCAP_FIX =
  'energy_uj is readable by root only (Linux >= 5.10, CVE-2020-8694): run as root, or add a udev rule: ACTION=="add", SUBSYSTEM=="powercap", RUN+="/bin/chmod o+r /sys%p/energy_uj"';

function readMap(names: string[], results: ReadResult[]): Map<string, ReadResult> {
  const m = new Map<string, ReadResult>();
  names.forEach((n, i) => m.set(n, results[i] as ReadResult));
  return m;
}

function textOf(m: Map<string, ReadResult>, name: string): string | null {
  const r = m.get(name);
  return r !== undefined && r.ok ? r.text : null;
}

async function listNames(r: Roots, dir: string): Promise<string[]> {
  if (r.io.access(dir, "f") !== 0) return [];
  try {
    return (await r.io.list(dir)).map((e) => e.name);
  } catch {
    return [];
  }
}

/** RAPL through powercap: packages (several sockets), their subzones, psys; MMIO duplicates dropped. */
async function discoverPowercap(r: Roots, warnings: string[]): Promise<KindResult> {
  const dir = r.sys("class/powercap");
  const names = (await listNames(r, dir)).filter((n) => /^intel-rapl(-mmio)?:\d+(:\d+)*$/.test(n));
  if (names.length === 0) {
    return {
      sources: [],
      probe: { kind: "rapl", available: false, reason: `missing: no RAPL zones under ${dir}`, fix: "on x86 load the driver (modprobe intel_rapl_msr); virtual machines do not expose RAPL" },
    };
  }
  interface Zone {
    zone: string;
    name: string;
    energyPath: string;
    maxRange: bigint;
    mmio: boolean;
  }
  const zones: Zone[] = [];
  let denied = 0;
  let deniedPath = "";
  for (const zone of names) {
    const files = ["name", "energy_uj", "max_energy_range_uj"];
    const m = readMap(files, await r.io.readMany(files.map((f) => join(dir, zone, f))));
    const name = textOf(m, "name")?.trim();
    const energy = m.get("energy_uj");
    if (name === undefined || name === "") continue;
    if (energy === undefined || !energy.ok) {
      if (energy !== undefined && (energy.code === "EACCES" || energy.code === "EPERM")) {
        denied++;
        deniedPath = join(dir, zone, "energy_uj");
      }
      continue;
    }
    try {
      parseUBigInt(energy.text, join(dir, zone, "energy_uj"));
      const rangeText = textOf(m, "max_energy_range_uj");
      const maxRange = rangeText === null ? 0n : parseUBigInt(rangeText, join(dir, zone, "max_energy_range_uj"));
      zones.push({ zone, name, energyPath: join(dir, zone, "energy_uj"), maxRange, mmio: zone.startsWith("intel-rapl-mmio") });
    } catch (err) {
      warnings.push(`rapl: ${zone} ignored: ${(err as Error).message}`);
    }
  }
  const msrNames = new Set(zones.filter((z) => !z.mmio).map((z) => z.name));
  const kept = zones.filter((z) => !(z.mmio && msrNames.has(z.name)));
  const sources: EnergySource[] = [];
  for (const z of kept) {
    const parts = z.zone.split(":").slice(1);
    const isSub = parts.length > 1;
    const parent = isSub ? kept.find((p) => p.zone === z.zone.split(":").slice(0, 2).join(":")) : undefined;
    const pkgName = isSub ? parent?.name : z.name;
    const pkgMatch = pkgName === undefined ? null : /^package-(\d+)$/.exec(pkgName);
    const socket = pkgMatch === null ? null : Number(pkgMatch[1]);
    const domain = /^package-\d+$/.test(z.name) ? "package" : z.name.replace(/-\d+$/, "");
    const prefix = z.mmio ? "rapl-mmio" : "rapl";
    const id = isSub && pkgName !== undefined ? `${prefix}:${pkgName}/${domain}` : `${prefix}:${z.name}`;
    sources.push({
      id,
      kind: "rapl",
      domain,
      socket,
      measures: "energy",
      path: z.energyPath,
      spec: { kind: "counter-file", id, path: z.energyPath, scaleToNJ: 1000, maxRange: z.maxRange },
    });
  }
  if (sources.length === 0) {
    return {
      sources,
      probe:
        denied > 0
          ? { kind: "rapl", available: false, reason: `not permitted: cannot read ${deniedPath}`, fix: POWERCAP_FIX }
          : { kind: "rapl", available: false, reason: `malformed: no readable RAPL zone under ${dir}`, fix: "check the intel_rapl driver" },
    };
  }
  const dropped = zones.length - kept.length;
  return {
    sources,
    probe: {
      kind: "rapl",
      available: true,
      reason: `${sources.length} zone(s)${dropped > 0 ? `, ${dropped} intel-rapl-mmio duplicate(s) dropped` : ""}${denied > 0 ? `, ${denied} not readable` : ""}`,
      fix: denied > 0 ? POWERCAP_FIX : null,
    },
  };
}

const PERF_EVENTS: Array<[string, string]> = [
  ["energy-pkg", "package"],
  ["energy-ram", "dram"],
  ["energy-cores", "core"],
  ["energy-gpu", "gpu"],
  ["energy-psys", "psys"],
];

/** The perf_event `power` PMU (RAPL through perf, usable without root when perf_event_paranoid <= 0 or with CAP_PERFMON). */
async function discoverPerf(r: Roots, warnings: string[]): Promise<KindResult> {
  const pmu = r.sys("bus/event_source/devices/power");
  if (r.io.access(join(pmu, "type"), "f") !== 0) {
    return { sources: [], probe: { kind: "perf", available: false, reason: `missing: no perf power PMU (${pmu})`, fix: "needs an x86 CPU with RAPL and a kernel with the perf power PMU" } };
  }
  const files = ["type", "cpumask", ...PERF_EVENTS.flatMap(([e]) => [`events/${e}`, `events/${e}.scale`])];
  const m = readMap(files, await r.io.readMany(files.map((f) => join(pmu, f))));
  let type: number;
  let cpus: number[];
  try {
    type = parseUInt(textOf(m, "type") ?? "", join(pmu, "type"));
    cpus = parseCpuList(textOf(m, "cpumask") ?? "0", join(pmu, "cpumask"));
  } catch (err) {
    warnings.push(`perf: ${(err as Error).message}`);
    return { sources: [], probe: { kind: "perf", available: false, reason: `malformed: ${(err as Error).message}`, fix: null } };
  }
  const events: Array<{ event: string; domain: string; config: number; scale: number }> = [];
  for (const [event, domain] of PERF_EVENTS) {
    const enc = textOf(m, `events/${event}`);
    if (enc === null) continue;
    try {
      const scaleText = textOf(m, `events/${event}.scale`);
      events.push({ event, domain, config: parsePerfEventConfig(enc, join(pmu, "events", event)), scale: scaleText === null ? 1 : parseFloatStrict(scaleText, join(pmu, "events", `${event}.scale`)) });
    } catch (err) {
      warnings.push(`perf: ${event} ignored: ${(err as Error).message}`);
    }
  }
  const first = events[0];
  if (first === undefined) return { sources: [], probe: { kind: "perf", available: false, reason: "missing: the power PMU lists no energy events", fix: null } };
  const paranoidText = textOf((readMap(["p"], await r.io.readMany([r.proc("sys/kernel/perf_event_paranoid")]))), "p");
  const paranoid = paranoidText === null ? null : Number(paranoidText.trim());
  try {
    new (binding().Perf)().probe(type, first.config, cpus[0] ?? 0);
  } catch (err) {
    const code = errnoCode(err) ?? "EIO";
    const denied = code === "EACCES" || code === "EPERM";
    return {
      sources: [],
      probe: {
        kind: "perf",
        available: false,
        reason: denied
          ? `not permitted: perf_event_open refused (perf_event_paranoid = ${paranoid ?? "?"})`
          : `perf_event_open(type ${type}, ${first.event}) failed: ${code}`,
        fix: denied ? "sysctl kernel.perf_event_paranoid=0, or grant CAP_PERFMON (setcap cap_perfmon+ep $(which node)), or run as root" : null,
      },
    };
  }
  const sources: EnergySource[] = [];
  cpus.forEach((cpu, socket) => {
    for (const ev of events) {
      const id = `perf:${ev.domain}-${socket}`;
      sources.push({
        id,
        kind: "perf",
        domain: ev.domain,
        socket,
        measures: "energy",
        path: join(pmu, "events", ev.event),
        spec: { kind: "counter-perf", id, type, config: ev.config, cpu, scaleToNJ: ev.scale * 1e9, maxRange: 0n },
      });
    }
  });
  return { sources, probe: { kind: "perf", available: true, reason: `${events.length} event(s) on ${cpus.length} socket(s)`, fix: null } };
}

/** One CPU per physical package, from topology (cpu0 only when topology is absent). */
async function socketCpus(r: Roots): Promise<Map<number, number>> {
  const cpuDir = r.sys("devices/system/cpu");
  const cpus = (await listNames(r, cpuDir)).filter((n) => /^cpu\d+$/.test(n)).map((n) => Number(n.slice(3))).sort((a, b) => a - b);
  const res = await r.io.readMany(cpus.map((c) => join(cpuDir, `cpu${c}`, "topology/physical_package_id")));
  const out = new Map<number, number>();
  cpus.forEach((cpu, i) => {
    const rr = res[i];
    const socket = rr !== undefined && rr.ok && /^\d+$/.test(rr.text.trim()) ? Number(rr.text.trim()) : 0;
    if (!out.has(socket)) out.set(socket, cpu);
  });
  if (out.size === 0) out.set(0, 0);
  return out;
}

const MSR_REGISTERS = {
  // DRAM (0x619) is left out: server parts count it in a fixed 15.3 uJ unit that 0x606 does not give.
  intel: { unit: 0x606, domains: [["package", 0x611], ["core", 0x639]] as Array<[string, number]> },
  amd: { unit: 0xc0010299, domains: [["package", 0xc001029b]] as Array<[string, number]> },
};

/** RAPL energy status MSRs through /dev/cpu/N/msr (Intel 0x606/0x611, AMD 0xC0010299/0xC001029B). */
async function discoverMsr(r: Roots, warnings: string[]): Promise<KindResult> {
  const [info] = await r.io.readMany([r.proc("cpuinfo")]);
  const vendor = info !== undefined && info.ok ? parseCpuVendor(info.text) : null;
  if (vendor === null) return { sources: [], probe: { kind: "msr", available: false, reason: "missing: not an Intel or AMD x86 CPU", fix: null } };
  const regs = MSR_REGISTERS[vendor];
  const msr = new (binding().Msr)();
  const sources: EnergySource[] = [];
  for (const [socket, cpu] of await socketCpus(r)) {
    const path = r.dev(`cpu/${cpu}/msr`);
    let unitRaw: bigint;
    try {
      unitRaw = msr.read(path, regs.unit);
    } catch (err) {
      const code = errnoCode(err);
      if (code === "ENOENT")
        return { sources: [], probe: { kind: "msr", available: false, reason: `missing: ${path} does not exist`, fix: "modprobe msr" } };
      if (code === "EACCES" || code === "EPERM")
        return { sources: [], probe: { kind: "msr", available: false, reason: `not permitted: cannot read ${path}`, fix: "run as root (reading MSRs needs CAP_SYS_RAWIO)" } };
      return { sources: [], probe: { kind: "msr", available: false, reason: `cannot read ${path}: ${code ?? (err as Error).message}`, fix: null } };
    }
    const esu = Number((unitRaw >> 8n) & 0x1fn);
    const scaleToNJ = 1e9 / 2 ** esu;
    for (const [domain, reg] of regs.domains) {
      try {
        const v = msr.read(path, reg);
        if (domain !== "package" && v === 0n) continue; // register present but domain not implemented
      } catch {
        if (domain === "package") warnings.push(`msr: cannot read package energy register on ${path}`);
        continue;
      }
      const id = `msr:${domain}-${socket}`;
      sources.push({ id, kind: "msr", domain, socket, measures: "energy", path, spec: { kind: "counter-msr", id, path, register: reg, scaleToNJ, maxRange: 1n << 32n } });
    }
  }
  return {
    sources,
    probe: sources.length > 0 ? { kind: "msr", available: true, reason: `${vendor} RAPL MSRs, ${sources.length} domain(s)`, fix: null } : { kind: "msr", available: false, reason: "no readable energy register", fix: null },
  };
}

/** hwmon energyN_input (uJ counters) and powerN_input (uW); INA3221 handled by discoverIna3221. */
async function discoverHwmon(r: Roots, warnings: string[]): Promise<KindResult & { ina3221Dirs: string[] }> {
  const dir = r.sys("class/hwmon");
  const devices = (await listNames(r, dir)).filter((n) => /^hwmon\d+$/.test(n));
  const sources: EnergySource[] = [];
  const ina3221Dirs: string[] = [];
  for (const dev of devices) {
    const d = join(dir, dev);
    const [nameR] = await r.io.readMany([join(d, "name")]);
    const name = nameR !== undefined && nameR.ok ? nameR.text.trim() : dev;
    if (name === "ina3221") {
      ina3221Dirs.push(d);
      continue;
    }
    const files = (await listNames(r, d)).filter((f) => /^(energy|power)\d+_input$/.test(f));
    const labels = readMap(
      files.map((f) => f.replace("_input", "_label")),
      await r.io.readMany(files.map((f) => join(d, f.replace("_input", "_label")))),
    );
    const values = await r.io.readMany(files.map((f) => join(d, f)));
    files.forEach((f, i) => {
      const path = join(d, f);
      const v = values[i];
      if (v === undefined || !v.ok) return;
      try {
        if (f.startsWith("energy")) parseUBigInt(v.text, path);
        else parseInt64(v.text, path);
      } catch (err) {
        warnings.push(`hwmon: ${name}/${f} ignored: ${(err as Error).message}`);
        return;
      }
      const label = textOf(labels, f.replace("_input", "_label"))?.trim() ?? f.replace("_input", "");
      const id = `hwmon:${name}/${label}`;
      const energy = f.startsWith("energy");
      sources.push({
        id,
        kind: "hwmon",
        domain: label,
        socket: null,
        measures: energy ? "energy" : "power",
        path,
        spec: energy ? { kind: "counter-file", id, path, scaleToNJ: 1000, maxRange: 0n } : { kind: "power-file", id, path, scaleToUW: 1 },
      });
    });
  }
  return {
    sources,
    ina3221Dirs,
    probe:
      sources.length > 0
        ? { kind: "hwmon", available: true, reason: `${sources.length} energy/power input(s)`, fix: null }
        : { kind: "hwmon", available: false, reason: devices.length === 0 ? `missing: no ${dir}` : "missing: no hwmon device reports energy or power", fix: null },
  };
}

/** An INA3221 rail whose power is bus voltage (mV) x current (mA) = uW. */
function viRail(label: string, voltagePath: string, currentPath: string): EnergySource {
  const id = `ina3221:${label}`;
  return { id, kind: "ina3221", domain: label, socket: null, measures: "power", path: voltagePath, spec: { kind: "power-vi", id, voltagePath, currentPath, scaleToUW: 1 } };
}

/** Jetson INA3221 rails: JetPack 5/6 hwmon (inN_label, inN_input mV, currN_input mA) and JetPack 4 IIO (rail_name_N, in_power N_input mW). */
async function discoverIna3221(r: Roots, hwmonDirs: string[], warnings: string[]): Promise<KindResult> {
  const sources: EnergySource[] = [];
  for (const d of hwmonDirs) {
    for (let ch = 1; ch <= 3; ch++) {
      const files = [`in${ch}_label`, `in${ch}_input`, `curr${ch}_input`];
      const m = readMap(files, await r.io.readMany(files.map((f) => join(d, f))));
      const label = textOf(m, `in${ch}_label`)?.trim();
      const v = textOf(m, `in${ch}_input`);
      const c = textOf(m, `curr${ch}_input`);
      if (label === undefined || v === null || c === null) continue;
      try {
        parseInt64(v, join(d, `in${ch}_input`));
        parseInt64(c, join(d, `curr${ch}_input`));
      } catch (err) {
        warnings.push(`ina3221: ${label} ignored: ${(err as Error).message}`);
        continue;
      }
      sources.push(viRail(label, join(d, `in${ch}_input`), join(d, `curr${ch}_input`)));
    }
  }
  // JetPack 4: IIO devices of the ina3221x driver.
  const drv = r.sys("bus/i2c/drivers/ina3221x");
  for (const client of (await listNames(r, drv)).filter((n) => /^\d+-[0-9a-f]{4}$/.test(n))) {
    for (const iio of (await listNames(r, join(drv, client))).filter((n) => n.startsWith("iio:device"))) {
      const d = join(drv, client, iio);
      for (let ch = 0; ch <= 2; ch++) {
        const files = [`rail_name_${ch}`, `in_power${ch}_input`, `in_voltage${ch}_input`, `in_current${ch}_input`];
        const m = readMap(files, await r.io.readMany(files.map((f) => join(d, f))));
        const label = textOf(m, `rail_name_${ch}`)?.trim();
        if (label === undefined) continue;
        const [p, v, c] = [`in_power${ch}_input`, `in_voltage${ch}_input`, `in_current${ch}_input`];
        try {
          if (textOf(m, p) !== null) {
            parseInt64(textOf(m, p) as string, join(d, p));
            const id = `ina3221:${label}`;
            sources.push({ id, kind: "ina3221", domain: label, socket: null, measures: "power", path: join(d, p), spec: { kind: "power-file", id, path: join(d, p), scaleToUW: 1000 } });
          } else if (textOf(m, v) !== null && textOf(m, c) !== null) {
            parseInt64(textOf(m, v) as string, join(d, v));
            parseInt64(textOf(m, c) as string, join(d, c));
            sources.push(viRail(label, join(d, v), join(d, c)));
          }
        } catch (err) {
          warnings.push(`ina3221: ${label} ignored: ${(err as Error).message}`);
        }
      }
    }
  }
  return {
    sources,
    probe:
      sources.length > 0
        ? { kind: "ina3221", available: true, reason: `${sources.length} rail(s): ${sources.map((s) => s.domain).join(", ")}`, fix: null }
        : { kind: "ina3221", available: false, reason: "missing: no INA3221 rails (not a Jetson)", fix: null },
  };
}

/** NVIDIA GPUs through NVML (dlopen of libnvidia-ml.so.1): total energy where supported, else power. */
function discoverNvml(libPath: string): KindResult {
  let nvml;
  try {
    nvml = new (binding().Nvml)(libPath);
  } catch (err) {
    const code = errnoCode(err);
    return {
      sources: [],
      probe: {
        kind: "nvml",
        available: false,
        reason: code === "ENOENT" ? `missing: ${libPath} not found (no NVIDIA driver)` : `NVML failed: ${(err as Error).message}`,
        fix: code === "ENOENT" ? "install the NVIDIA driver, or set SPLITWATT_NVML_LIB to the library's path" : null,
      },
    };
  }
  const sources: EnergySource[] = [];
  try {
    const n = nvml.deviceCount();
    for (let i = 0; i < n; i++) {
      const id = `nvml:${i}`;
      const energy = nvml.totalEnergyMJ(i) !== null;
      if (!energy && nvml.powerMW(i) === null) continue;
      sources.push({
        id,
        kind: "nvml",
        domain: "gpu",
        socket: null,
        measures: energy ? "energy" : "power",
        path: libPath,
        spec: energy ? { kind: "counter-nvml", id, libPath, index: i, scaleToNJ: 1e6, maxRange: 0n } : { kind: "power-nvml", id, libPath, index: i, scaleToUW: 1000 },
      });
    }
  } finally {
    nvml.close();
  }
  return {
    sources,
    probe: sources.length > 0 ? { kind: "nvml", available: true, reason: `${sources.length} GPU(s)`, fix: null } : { kind: "nvml", available: false, reason: "NVML reports no GPU with energy or power readings", fix: null },
  };
}

/** Rails that carry the whole board's input power (the others are parts of it). */
const TOTAL_RAILS = /^(VDD_IN|POM_5V_IN|VIN)$/i;

/** The non-overlapping sources that add up to the device's energy. */
export function selectDeviceSources(sources: EnergySource[]): EnergySource[] {
  const sumDomains = (s: EnergySource): boolean => s.domain === "package" || s.domain === "dram";
  const gpus = sources.filter((s) => s.kind === "nvml");
  for (const kind of ["rapl", "perf", "msr"] as const) {
    const chosen = sources.filter((s) => s.kind === kind && sumDomains(s));
    if (chosen.length > 0) return [...chosen, ...gpus];
  }
  const rails = sources.filter((s) => s.kind === "ina3221");
  if (rails.length > 0) {
    const total = rails.filter((s) => TOTAL_RAILS.test(s.domain));
    return [...(total.length > 0 ? total : rails), ...gpus];
  }
  const hw = sources.filter((s) => s.kind === "hwmon");
  if (hw.length > 0) {
    // Counters beat power readings; socket-level counters (amd_energy's Esocket0) already contain the cores.
    const counters = hw.filter((s) => s.measures === "energy");
    const sockets = counters.filter((s) => /socket|package|pkg/i.test(s.domain));
    return [...(sockets.length > 0 ? sockets : counters.length > 0 ? counters : hw), ...gpus];
  }
  return gpus;
}

/** Find every energy source this machine (or fake tree) offers, in the documented order. */
export async function energySources(opts: EnergyDiscoveryOptions = {}): Promise<EnergyDiscovery> {
  const r = roots(opts);
  const warnings: string[] = [];
  const rapl = await discoverPowercap(r, warnings);
  const perf = await discoverPerf(r, warnings);
  const msr = await discoverMsr(r, warnings);
  const hwmon = await discoverHwmon(r, warnings);
  const ina = await discoverIna3221(r, hwmon.ina3221Dirs, warnings);
  const nvml = discoverNvml(opts.nvmlLib ?? env().nvmlLib);
  const found = [rapl, perf, msr, hwmon, ina, nvml];
  const sources = found.flatMap((k) => k.sources);
  const device = selectDeviceSources(sources);

  const [stat] = await r.io.readMany([r.proc("stat")]);
  let estimateProbe: EnergyProbe;
  try {
    if (stat === undefined || !stat.ok) throw new Error(`cannot read ${r.proc("stat")}`);
    parseProcStat(stat.text, r.proc("stat"));
    estimateProbe = {
      kind: "estimate",
      available: true,
      reason: device.length > 0 ? "available, not used (a measured source exists)" : "used: no energy counter here; board power model x CPU utilisation from /proc/stat (an estimate, not a measurement)",
      fix: device.length > 0 ? null : "give the board a profile (--board / SPLITWATT_BOARD) with measured idle and full-load power, or attach a meter",
    };
  } catch (err) {
    estimateProbe = { kind: "estimate", available: false, reason: (err as Error).message, fix: null };
  }
  const estimated = device.length === 0 && estimateProbe.available;
  return {
    sources: estimated ? [...sources, ESTIMATE_SOURCE] : sources,
    device: estimated ? [ESTIMATE_SOURCE] : device,
    estimated,
    probes: [...found.map((k) => k.probe), estimateProbe],
    warnings,
  };
}
