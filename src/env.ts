/**
 * The one place environment variables are read. Everything else takes options and falls
 * back to these values.
 */
/** onnxruntime's log level (SPLITWATT_LOG): errors only unless asked. */
export type OrtLogLevel = "error" | "warning" | "info" | "verbose";

export interface SplitwattEnv {
  /** root of the sysfs tree (default "/sys"): SPLITWATT_SYSFS_ROOT */
  sysfsRoot: string;
  /** root of the procfs tree (default "/proc"): SPLITWATT_PROC_ROOT */
  procRoot: string;
  /** root of the devfs tree (default "/dev"): SPLITWATT_DEV_ROOT */
  devRoot: string;
  /** directory for the cpufreq restore state file: SPLITWATT_STATE_DIR */
  stateDir: string | undefined;
  /** explicit path of the native addon: SPLITWATT_NATIVE_PATH */
  nativePath: string | undefined;
  /** NVML library to dlopen (default "libnvidia-ml.so.1"): SPLITWATT_NVML_LIB */
  nvmlLib: string;
  /** board profile name or path for the estimate power model: SPLITWATT_BOARD */
  board: string | undefined;
  /** directory for built zoo models (default models/cache in the package): SPLITWATT_MODEL_CACHE */
  modelCache: string | undefined;
  /** bearer token for `splitwatt serve` and clients: SPLITWATT_TOKEN */
  token: string | undefined;
  /** CI=true: no progress bars, plain output */
  ci: boolean;
  /** SPLITWATT_DEBUG=1: print stacks of internal errors */
  debug: boolean;
  /** SPLITWATT_LOG: onnxruntime's log level, error (default), warning, info, or debug / verbose (everything) */
  ortLogLevel: OrtLogLevel;
  /** XDG_STATE_HOME / HOME, for the default state directory */
  xdgStateHome: string | undefined;
  home: string | undefined;
}

export function env(source: NodeJS.ProcessEnv = process.env): SplitwattEnv {
  const nonEmpty = (v: string | undefined): string | undefined => (v === undefined || v === "" ? undefined : v);
  return {
    sysfsRoot: nonEmpty(source.SPLITWATT_SYSFS_ROOT) ?? "/sys",
    procRoot: nonEmpty(source.SPLITWATT_PROC_ROOT) ?? "/proc",
    devRoot: nonEmpty(source.SPLITWATT_DEV_ROOT) ?? "/dev",
    stateDir: nonEmpty(source.SPLITWATT_STATE_DIR),
    nativePath: nonEmpty(source.SPLITWATT_NATIVE_PATH),
    nvmlLib: nonEmpty(source.SPLITWATT_NVML_LIB) ?? "libnvidia-ml.so.1",
    board: nonEmpty(source.SPLITWATT_BOARD),
    modelCache: nonEmpty(source.SPLITWATT_MODEL_CACHE),
    token: nonEmpty(source.SPLITWATT_TOKEN),
    ci: nonEmpty(source.CI) !== undefined && source.CI !== "false" && source.CI !== "0",
    debug: nonEmpty(source.SPLITWATT_DEBUG) !== undefined && source.SPLITWATT_DEBUG !== "0",
    ortLogLevel: ortLogLevel(nonEmpty(source.SPLITWATT_LOG)),
    xdgStateHome: nonEmpty(source.XDG_STATE_HOME),
    home: nonEmpty(source.HOME),
  };
}

function ortLogLevel(v: string | undefined): OrtLogLevel {
  switch (v?.toLowerCase()) {
    case "warning":
    case "warn":
      return "warning";
    case "info":
      return "info";
    case "debug":
    case "verbose":
      return "verbose";
    default:
      return "error";
  }
}
