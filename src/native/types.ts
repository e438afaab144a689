/**
 * Hand-written types for the native addon (native/src). Imported only by src/native and src/hw.
 *
 * The addon is thin OS I/O: it reads and writes files, opens perf events, reads MSRs, calls
 * NVML, the Vulkan loader and sched_setaffinity, and runs the sampler thread. Parsing, units and policy live in
 * TypeScript. Every error thrown or rejected by the addon is a NativeIoError.
 */

/** Error shape produced by the addon for a failed syscall (an `Error` with these fields). */
export interface NativeIoError extends Error {
  /** errno value, e.g. 13 */
  errno: number;
  /** symbolic errno name, e.g. "EACCES" */
  code: string;
  /** the syscall that failed, e.g. "open", "write", "perf_event_open" */
  syscall: string;
  /** the path (or resource description) involved */
  path: string;
  /** only on code "ENVML" errors (errno is then EIO): the nvmlReturn_t value */
  nvmlReturn?: number;
}

/** Result of one file read in a batch: either the text or the errno. */
export type ReadResult =
  | { ok: true; text: string }
  | { ok: false; errno: number; code: string; syscall: string };

export interface DirEntry {
  name: string;
  type: "file" | "dir" | "link" | "other";
}

/** Stateless file I/O for sysfs/procfs/devfs trees (real or fake). */
export interface NativeSysfs {
  /** Read many small files on the libuv pool; one result per path, never rejects. */
  readMany(paths: string[]): Promise<ReadResult[]>;
  /** Read one file synchronously (used for the cost benchmark and the exit path). Throws NativeIoError. */
  readSync(path: string): string;
  /** open(O_WRONLY) + write + close on the pool. Rejects with NativeIoError (EINVAL, EACCES, EROFS, EBUSY, ...). */
  write(path: string, text: string): Promise<void>;
  /** Synchronous write; only for the restore-on-exit path where no event loop is left. */
  writeSync(path: string, text: string): void;
  /** List a directory, sorted by name. Rejects with NativeIoError. */
  list(dir: string): Promise<DirEntry[]>;
  /** realpath(3). Throws NativeIoError. */
  realpathSync(path: string): string;
  /** access(2): 0 when allowed, else the errno. mode: "r" | "w" | "rw" | "x" | "f" (exists). */
  access(path: string, mode: "r" | "w" | "rw" | "x" | "f"): number;
}

/** Read a 64-bit MSR at `register` from a msr device file (/dev/cpu/N/msr, or a fake file). Throws NativeIoError. */
export interface NativeMsr {
  read(devicePath: string, register: number): bigint;
}

export interface NativePerf {
  /**
   * perf_event_open(type, config) on `cpu` (pid -1), read once, close. Returns the 64-bit count.
   * Used to probe permission; the sampler opens its own fds. Throws NativeIoError.
   */
  probe(type: number, config: number, cpu: number): bigint;
}

/** NVML loaded through dlopen. */
export interface NativeNvml {
  /** Number of devices. */
  deviceCount(): number;
  deviceName(index: number): string;
  /** nvmlDeviceGetTotalEnergyConsumption in mJ, or null when unsupported (NVML_ERROR_NOT_SUPPORTED). */
  totalEnergyMJ(index: number): bigint | null;
  /** nvmlDeviceGetPowerUsage in mW, or null when unsupported. */
  powerMW(index: number): number | null;
  /** nvmlShutdown and dlclose. Idempotent. */
  close(): void;
}

export interface NativeNvmlConstructor {
  /** dlopen(libPath) + nvmlInit_v2. Throws NativeIoError (code "ENOENT" when the library is absent, "ENVML" with the NVML error string otherwise). */
  new (libPath: string): NativeNvml;
}

/** One source the sampler reads every period. Energy is kept in nanojoules (uint64 + remainder). */
export type SamplerSourceSpec =
  | {
      /** monotonic energy counter in a text file (powercap energy_uj, hwmon energy*_input) */
      kind: "counter-file";
      id: string;
      path: string;
      /** multiply the raw counter by this to get nanojoules (1000 for microjoules) */
      scaleToNJ: number;
      /** raw value at which the counter wraps to 0 (max_energy_range_uj), or 0 when unknown */
      maxRange: bigint;
    }
  | {
      /** 32-bit RAPL energy status MSR in a msr device file */
      kind: "counter-msr";
      id: string;
      path: string;
      register: number;
      scaleToNJ: number;
      /** 2^32 for RAPL status registers */
      maxRange: bigint;
    }
  | {
      /** perf_event_open counter (the `power` PMU) */
      kind: "counter-perf";
      id: string;
      type: number;
      config: number;
      cpu: number;
      scaleToNJ: number;
      maxRange: bigint;
    }
  | {
      /** NVML total energy counter (mJ) */
      kind: "counter-nvml";
      id: string;
      libPath: string;
      index: number;
      scaleToNJ: number;
      maxRange: bigint;
    }
  | {
      /** instantaneous power in one text file (hwmon power*_input in uW, IIO in_power*_input in mW) */
      kind: "power-file";
      id: string;
      path: string;
      /** multiply the raw value by this to get microwatts */
      scaleToUW: number;
    }
  | {
      /** power = voltage x current from two text files (INA3221: mV x mA = uW) */
      kind: "power-vi";
      id: string;
      voltagePath: string;
      currentPath: string;
      /** multiply voltage*current by this to get microwatts */
      scaleToUW: number;
    }
  | {
      /** NVML power usage (mW) */
      kind: "power-nvml";
      id: string;
      libPath: string;
      index: number;
      scaleToUW: number;
    };

/** Accumulated state of one source at a sample instant. */
export interface SamplerSourceState {
  id: string;
  /** energy accumulated since the sampler was created, in nanojoules */
  energyNJ: bigint;
  /** number of samples taken successfully */
  samples: number;
  /** read failures (errno) since creation */
  errors: number;
  /** intervals dropped because the counter went backwards without a usable range (or implausibly far) */
  resets: number;
  /** last errno seen, 0 when none */
  lastErrno: number;
  /** last raw reading (counter value, or power in uW for power sources) */
  last: number;
}

export interface SamplerSnapshot {
  /** CLOCK_MONOTONIC of this sample, or the injected time in manual mode, in ns */
  tNs: bigint;
  sources: SamplerSourceState[];
}

/** Batch of samples handed to JS from the sampler thread. */
export interface SamplerBatch {
  /** sample times, ns relative to the sampler's creation (or the injected clock) */
  tNs: Float64Array;
  /** per source id: cumulative energy in microjoules at each sample time */
  energyUJ: Record<string, Float64Array>;
  /** batches the thread could not hand over because JS was behind (queue full) since the last batch */
  droppedBatches: number;
}

export interface SamplerOptions {
  sources: SamplerSourceSpec[];
  /** sampling period, 1..10000 ms (default 10) */
  periodMs?: number;
  /** how many samples per batch handed to JS (default: enough for ~100 ms) */
  batchSize?: number;
  /** receives batches on the JS thread; optional */
  onBatch?: (batch: SamplerBatch) => void;
}

export interface NativeSampler {
  /** Start the background thread. Throws if already running or disposed. */
  start(): void;
  /** Stop and join the thread; pending batches are flushed to onBatch first. */
  stop(): Promise<void>;
  /** Take one sample now on the calling thread (thread-safe with the sampler thread) and return the state. */
  sampleNow(): SamplerSnapshot;
  /** Manual mode (thread not running): take one sample as if the clock read `tNs`. */
  tick(tNs: bigint): SamplerSnapshot;
  /** Last state without taking a sample. */
  snapshot(): SamplerSnapshot;
  /** Process CPU time consumed by the sampler thread so far, ns (CLOCK_THREAD_CPUTIME_ID). */
  threadCpuNs(): bigint;
  readonly running: boolean;
  /** Stop (without waiting for JS) and release everything. Idempotent. */
  dispose(): void;
}

export interface NativeSamplerConstructor {
  new (options: SamplerOptions): NativeSampler;
}

export interface NativeAffinity {
  /** sched_getaffinity; pid 0 = calling thread. */
  get(pid: number): number[];
  /** sched_setaffinity; pid 0 = calling thread. Throws NativeIoError (EINVAL for no usable cpu). */
  set(pid: number, cpus: number[]): void;
  /** number of CPUs configured */
  cpuCount(): number;
}

/** One Vulkan physical device as vkGetPhysicalDeviceProperties(2) reports it (raw numbers; decoded in src/hw/vulkanDevices.ts). */
export interface NativeVulkanDevice {
  /** VK_MAKE_API_VERSION-encoded */
  apiVersion: number;
  /** vendor-specific encoding */
  driverVersion: number;
  /** PCI vendor id, or a Khronos VkVendorId (0x10005 = Mesa) */
  vendorId: number;
  deviceId: number;
  /** VkPhysicalDeviceType: 0 other, 1 integrated GPU, 2 discrete GPU, 3 virtual GPU, 4 CPU */
  deviceType: number;
  deviceName: string;
  /** VkDriverId, driverName, driverInfo (VkPhysicalDeviceDriverProperties); null below Vulkan 1.2 */
  driverId: number | null;
  driverName: string | null;
  driverInfo: string | null;
}

export interface NativeVulkan {
  /**
   * dlopen(libPath) + vkCreateInstance + vkEnumeratePhysicalDevices + vkDestroyInstance + dlclose,
   * on the libuv pool. A loader that finds no driver resolves with createResult -9
   * (VK_ERROR_INCOMPATIBLE_DRIVER) and no devices. Rejects with NativeIoError: ENOENT (syscall
   * "dlopen") when the library cannot be loaded, ENOSYS when it is not a Vulkan loader.
   */
  physicalDevices(libPath: string): Promise<{ loaderApiVersion: number; createResult: number; devices: NativeVulkanDevice[] }>;
}

export interface NativeBinding {
  /** NAPI_VERSION the addon was compiled with */
  napiVersion: number;
  /** addon build description (compiler, build type) */
  buildInfo: string;
  Sysfs: new () => NativeSysfs;
  Msr: new () => NativeMsr;
  Perf: new () => NativePerf;
  Nvml: NativeNvmlConstructor;
  Sampler: NativeSamplerConstructor;
  Affinity: new () => NativeAffinity;
  Vulkan: new () => NativeVulkan;
  /**
   * The one delta function for energy counters: cur - prev, or across one wrap when
   * maxRange > 0 and the wrapped delta is at most maxRange / 2; null when the counter went
   * backwards with no usable range (a reset: the interval is dropped, never negative).
   */
  energyDelta(prev: bigint, cur: bigint, maxRange: bigint): bigint | null;
}
