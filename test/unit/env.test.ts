import { describe, expect, it } from "vitest";
import { env } from "../../src/env.js";

describe("env", () => {
  it("defaults to the real roots", () => {
    const e = env({});
    expect([e.sysfsRoot, e.procRoot, e.devRoot]).toEqual(["/sys", "/proc", "/dev"]);
    expect(e.nvmlLib).toBe("libnvidia-ml.so.1");
    expect(e.ci).toBe(false);
  });
  it("takes overrides, ignoring empty values", () => {
    const e = env({ SPLITWATT_SYSFS_ROOT: "/tmp/fake/sys", SPLITWATT_PROC_ROOT: "", CI: "true" });
    expect(e.sysfsRoot).toBe("/tmp/fake/sys");
    expect(e.procRoot).toBe("/proc");
    expect(e.ci).toBe(true);
  });
});
