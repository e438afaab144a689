import type { NativeSysfs } from "../native/types.js";

/**
 * The file I/O the hardware layer goes through: the native addon's Sysfs by default. Tests
 * wrap it with a fake kernel (test/fixtures/fakeKernel.ts) that applies the rules a real
 * kernel applies on writes to cpufreq files.
 */
export type SysIO = NativeSysfs;
export type { ReadResult, DirEntry, NativeIoError } from "../native/types.js";
