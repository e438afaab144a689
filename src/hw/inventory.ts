import si from "systeminformation";

/** What the board is, for people: from systeminformation (not parsed by hand). */
export interface Inventory {
  manufacturer: string;
  model: string;
  cpu: string;
  cores: number;
  physicalCores: number;
  memoryBytes: number;
  os: string;
  kernel: string;
  arch: string;
}

export async function inventory(): Promise<Inventory> {
  const [cpu, mem, os, sys] = await Promise.all([si.cpu(), si.mem(), si.osInfo(), si.system()]);
  return {
    manufacturer: sys.manufacturer,
    model: sys.model,
    cpu: `${cpu.manufacturer} ${cpu.brand}`.trim(),
    cores: cpu.cores,
    physicalCores: cpu.physicalCores,
    memoryBytes: mem.total,
    os: `${os.distro} ${os.release}`.trim(),
    kernel: os.kernel,
    arch: os.arch,
  };
}
