import { join } from "node:path";
import { env } from "../env.js";
import { binding } from "../native/binding.js";
import type { SysIO } from "./sysIO.js";

/** Where the hardware layer reads the OS: every root is overridable so tests run on fake trees. */
export interface HwRootOptions {
  sysfsRoot?: string | undefined;
  procRoot?: string | undefined;
  devRoot?: string | undefined;
  /** file I/O; default: the native addon's Sysfs */
  io?: SysIO | undefined;
}

export interface Roots {
  sysfsRoot: string;
  procRoot: string;
  devRoot: string;
  io: SysIO;
  sys(...parts: string[]): string;
  proc(...parts: string[]): string;
  dev(...parts: string[]): string;
}

export function roots(opts: HwRootOptions = {}): Roots {
  const e = env();
  const sysfsRoot = opts.sysfsRoot ?? e.sysfsRoot;
  const procRoot = opts.procRoot ?? e.procRoot;
  const devRoot = opts.devRoot ?? e.devRoot;
  const io = opts.io ?? new (binding().Sysfs)();
  return {
    sysfsRoot,
    procRoot,
    devRoot,
    io,
    sys: (...parts) => join(sysfsRoot, ...parts),
    proc: (...parts) => join(procRoot, ...parts),
    dev: (...parts) => join(devRoot, ...parts),
  };
}
