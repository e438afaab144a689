import { describe, expect, it } from "vitest";
import { ioError } from "../../src/hw/ioError.js";

const errno = (code: string) => Object.assign(new Error(code), { code, errno: 1, syscall: "open", path: "/x" });

describe("ioError maps errno to stable codes, naming the path and the fix", () => {
  it.each([
    ["EACCES", "E_NOT_PERMITTED"],
    ["EPERM", "E_NOT_PERMITTED"],
    ["EROFS", "E_READ_ONLY"],
    ["EINVAL", "E_REJECTED"],
    ["EBUSY", "E_REJECTED"],
    ["ENOENT", "E_UNSUPPORTED"],
    ["EOPNOTSUPP", "E_UNSUPPORTED"],
    ["EIO", "E_IO"],
  ])("%s -> %s", (code, stable) => {
    const e = ioError(errno(code), "write", "/sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed", {}, "1200000");
    expect(e.code).toBe(stable);
    expect(e.message).toContain("/sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed");
    expect(e.path).toBe("/sys/devices/system/cpu/cpufreq/policy0/scaling_setspeed");
  });
  it("puts the fix in the message", () => {
    expect(ioError(errno("EACCES"), "write", "/p", { notPermitted: "run as root" }).message).toMatch(/run as root/);
    expect(ioError(errno("EROFS"), "write", "/p").message).toMatch(/read-only/);
  });
  it("user errors exit 2", () => {
    expect(ioError(errno("EACCES"), "write", "/p").exitCode).toBe(2);
  });
});
