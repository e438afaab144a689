import type { BoardProfile } from "./boardProfile.js";

/** What the estimate's board profile is compared with. */
export interface MachineFacts {
  /** Node's process.arch: arm64, arm, x64, ... */
  arch: string;
  /** CPUs present */
  cpus: number;
}

/**
 * One warning line when a board profile plainly describes another machine (a different CPU
 * architecture, or a different number of cores), else null. Profiles without a `cpu` block
 * (generic-x86) match anything; without `cpu.arch` only the cores are compared.
 */
export function boardMismatch(profile: BoardProfile, machine: MachineFacts): string | null {
  const cpu = profile.cpu;
  if (cpu === undefined) return null;
  const archOk = cpu.arch === undefined || cpu.arch.includes(machine.arch);
  const coresOk = cpu.cores === machine.cpus;
  if (archOk && coresOk) return null;
  const board = `${cpu.cores}-core${cpu.arch === undefined ? "" : ` ${cpu.arch.join("/")}`}`;
  return (
    `board profile ${profile.name} is for a ${board} board, but this machine is ${machine.arch} with ${machine.cpus} CPU${machine.cpus === 1 ? "" : "s"}: ` +
    `the estimate uses ${profile.name} anyway (name this board's profile with --board or SPLITWATT_BOARD, or attach a meter)`
  );
}
