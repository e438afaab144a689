import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { filesystemOf, outputDir } from "../../src/outputDir.js";

const dir = mkdtempSync(join(tmpdir(), "sw-outdir-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A mountinfo in the kernel's format (proc(5)); `mounts` = [mount point, fstype]. */
function mountinfo(mounts: Array<[string, string]>): string {
  const f = join(dir, `mountinfo-${Math.random().toString(16).slice(2)}`);
  writeFileSync(f, mounts.map(([mp, t], i) => `${20 + i} 1 0:${i} / ${mp.replace(/ /g, "\\040")} rw,relatime shared:${i} - ${t} none rw`).join("\n") + "\n");
  return f;
}

describe("outputDir", () => {
  it("creates missing parents one by one and returns the absolute path; an existing directory is fine", () => {
    const d = join(dir, "a", "b", "c");
    expect(outputDir(d, "--out")).toBe(d);
    expect(statSync(d).isDirectory()).toBe(true);
    expect(outputDir(d, "--out")).toBe(d);
  });

  it("refuses /proc and /sys at once, creating nothing", () => {
    const t0 = performance.now();
    expect(() => outputDir("/proc/nope/deeper", "--out")).toThrow(/cannot use \/proc\/nope\/deeper for --out: \/proc is on proc, a pseudo-filesystem/);
    expect(() => outputDir("/sys/nope", "--store")).toThrow(/\/sys is on sysfs/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(existsSync("/proc/nope")).toBe(false);
  });

  it("the mount is the longest mount point that is a prefix, path components matched whole, escapes decoded", () => {
    const mi = mountinfo([
      ["/", "ext4"],
      [join(dir, "k"), "proc"],
      [join(dir, "k", "shm"), "tmpfs"],
      [join(dir, "with space"), "sysfs"],
    ]);
    expect(filesystemOf(join(dir, "k"), mi)).toBe("proc");
    expect(filesystemOf(join(dir, "k", "x"), mi)).toBe("proc");
    expect(filesystemOf(join(dir, "k", "shm", "x"), mi)).toBe("tmpfs");
    expect(filesystemOf(join(dir, "kk"), mi)).toBe("ext4");
    expect(filesystemOf(join(dir, "with space", "y"), mi)).toBe("sysfs");
    expect(filesystemOf("/anything", join(dir, "no-such-mountinfo"))).toBeNull();
    // a directory the (fake) mount table puts on procfs is refused before mkdir is tried
    const k = join(dir, "k");
    outputDir(join(k, "shm"), "setup"); // with the real mount table
    expect(() => outputDir(join(k, "sub"), "--out", mi)).toThrow(UsageError);
    expect(existsSync(join(k, "sub"))).toBe(false);
    outputDir(join(k, "shm", "sub"), "--out", mi);
    expect(existsSync(join(k, "shm", "sub"))).toBe(true);
  });

  it("a file in the way, an empty path: one-line UsageErrors (exit 2) saying what to do", () => {
    const f = join(dir, "file");
    writeFileSync(f, "");
    for (const [p, re] of [
      [f, /file is a file, not a directory; give a directory/],
      [join(f, "below"), /file is in the way: a file, not a directory/],
      ["", /the path is empty/],
    ] as const) {
      let err: unknown;
      try {
        outputDir(p, "--out");
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain("\n");
    }
  });
});
