import { binding } from "../native/binding.js";
import { UsageError } from "../errors.js";
import { ioError } from "./ioError.js";

/**
 * CPU affinity (sched_setaffinity) so inference threads can be pinned to cores. pid 0 is the
 * calling thread; threads created afterwards inherit it.
 */
export const affinity = {
  get(pid = 0): number[] {
    return new (binding().Affinity)().get(pid);
  },
  set(cpus: number[], pid = 0): void {
    if (cpus.length === 0 || cpus.some((c) => !Number.isInteger(c) || c < 0)) {
      throw new UsageError(`CPU list must be non-negative integers, got [${cpus.join(", ")}]`);
    }
    try {
      new (binding().Affinity)().set(pid, cpus);
    } catch (err) {
      if (err instanceof RangeError || err instanceof TypeError) throw new UsageError(err.message);
      throw ioError(err, "write", `affinity of pid ${pid} to CPUs ${cpus.join(",")}`, { notPermitted: "pinning another user's process needs CAP_SYS_NICE" });
    }
  },
};
