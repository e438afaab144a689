/**
 * The .npy reader against numpy's own writer (Debian's python3-numpy, installed by .ci/run with
 * python3-onnx): each array is saved by numpy.save (or numpy.lib.format.write_array for formats
 * 2.0 and 3.0), read back by parseNpy, and compared with numpy's row-major `tolist()` of the same array.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { parseNpy } from "../../src/runtime/npy.js";

const dir = mkdtempSync(join(tmpdir(), "sw-npy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WRITER = `
import json, sys, numpy as np
d = sys.argv[1]
cases = {
  "f4_c": np.arange(6, dtype="<f4").reshape(2, 3) / 4 - 0.5,
  "f8_fortran": np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3) * 1.5),
  "i1_fortran_3d": np.asfortranarray(np.arange(24, dtype="i1").reshape(2, 3, 4) - 12),
  "i8_big_endian": np.array([1, -2, 2**40, -(2**40)], dtype=">i8"),
  "u2": np.array([[0, 65535], [7, 300]], dtype="<u2"),
  "bool": np.array([True, False, True, True, False]),
  "f2": np.array([1.0, -2.5, 65504.0], dtype="<f2"),
  "u8_scalar": np.array(16000, dtype="<u8"),
  "f4_v2": np.arange(3, dtype="<f4"),
  "i2_v3": np.array([[-1, 2], [300, -32768]], dtype="<i2"),
}
out = {}
for name, a in cases.items():
    f = d + "/" + name + ".npy"
    if name[-3:] in ("_v2", "_v3"):
        with open(f, "wb") as h:
            np.lib.format.write_array(h, a, version=(int(name[-1]), 0))
    else:
        np.save(f, a)
    out[name] = {"shape": list(a.shape), "data": [float(x) for x in np.asarray(a).flatten(order="C").tolist()]}
np.save(d + "/object.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
print(json.dumps(out))
`;

describe("NumPy .npy files (numpy.save as the reference)", () => {
  const r = spawnSync("/usr/bin/python3", ["-c", WRITER, dir], { encoding: "utf8", timeout: 60_000 });
  if (r.status !== 0) throw new Error(`numpy could not write the reference files (apt-get install python3-numpy; .ci/run does): ${r.stderr}`);
  const cases = JSON.parse(r.stdout) as Record<string, { shape: number[]; data: number[] }>;

  it.each(Object.keys(cases))("%s reads back as numpy's row-major list", (name) => {
    const a = parseNpy(readFileSync(join(dir, `${name}.npy`)), `${name}.npy`);
    expect({ shape: a.shape, data: a.data }).toEqual(cases[name]);
  });

  it("refuses in one line: an object array, a cut-short file, not an .npy", () => {
    const refuse = (bytes: Uint8Array) => {
      try {
        parseNpy(bytes, "f.npy");
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      return "accepted";
    };
    expect(refuse(readFileSync(join(dir, "object.npy")))).toMatch(/^f\.npy: not a NumPy array splitwatt reads: its dtype \|O is not a number or bool type/);
    const full = readFileSync(join(dir, "f4_c.npy"));
    expect(refuse(full.subarray(0, full.length - 3))).toBe("f.npy: not a NumPy array splitwatt reads: shape (2, 3) of <f4 needs 24 data bytes, the file has 21");
    expect(refuse(new TextEncoder().encode("{\"x\": [1]}"))).toMatch(/does not start with \\x93NUMPY/);
  });
});
