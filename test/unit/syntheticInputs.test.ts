import { describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { syntheticInputs, syntheticTensor } from "../../src/runtime/syntheticInputs.js";

describe("synthetic inputs", () => {
  it("honours every input's type: floats seeded in [-1, 1), integers and bool zeros", () => {
    const specs = ["float32", "float64", "float16", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "bool"].map((dtype) => ({ name: dtype, dtype, shape: [2, 3] }));
    const t = syntheticInputs(specs, { seed: 3 });
    for (const s of specs) {
      expect(t[s.name]?.type).toBe(s.dtype);
      expect(t[s.name]?.dims).toEqual([2, 3]);
    }
    const f = [...(t.float32?.data as Float32Array)];
    expect(f.every((x) => x >= -1 && x < 1)).toBe(true);
    expect(new Set(f).size).toBe(6);
    expect([...(t.float64?.data as Float64Array)].every((x) => x >= -1 && x < 1)).toBe(true);
    expect([...(t.int64?.data as BigInt64Array)]).toEqual([0n, 0n, 0n, 0n, 0n, 0n]);
    expect([...(t.bool?.data as Uint8Array)]).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it("is seeded: the same (seed, sample) gives the same values, another sample or input other values", () => {
    const specs = [
      { name: "a", dtype: "float32", shape: [4] },
      { name: "b", dtype: "float32", shape: [4] },
    ];
    const x = syntheticInputs(specs, { seed: 1, sample: 2 });
    const y = syntheticInputs(specs, { seed: 1, sample: 2 });
    const z = syntheticInputs(specs, { seed: 1, sample: 3 });
    expect([...(x.a?.data as Float32Array)]).toEqual([...(y.a?.data as Float32Array)]);
    expect([...(x.a?.data as Float32Array)]).not.toEqual([...(z.a?.data as Float32Array)]);
    expect([...(x.a?.data as Float32Array)]).not.toEqual([...(x.b?.data as Float32Array)]);
  });

  it("scales the batch dimensions, wherever they are, and nothing else", () => {
    const h = syntheticTensor({ name: "h", dtype: "float32", shape: [2, 1, 64], batchDims: [false, true, false] }, { batch: 4 });
    expect(h.dims).toEqual([2, 4, 64]);
    const x = syntheticTensor({ name: "x", dtype: "float32", shape: [1, 3], batchDims: [true, false] }, { batch: 5 });
    expect(x.dims).toEqual([5, 3]);
  });

  it("takes given values (repeated over the tensor), zeros on request, and refuses an unknown input naming the real ones", () => {
    const sr = syntheticTensor({ name: "sr", dtype: "int64", shape: [3] }, { values: { sr: [16000] } });
    expect([...(sr.data as BigInt64Array)]).toEqual([16000n, 16000n, 16000n]);
    const v = syntheticTensor({ name: "v", dtype: "float32", shape: [5] }, { values: { v: [1, 2] } });
    expect([...(v.data as Float32Array)]).toEqual([1, 2, 1, 2, 1]);
    const z = syntheticTensor({ name: "z", dtype: "float32", shape: [3] }, { fill: "zeros" });
    expect([...(z.data as Float32Array)]).toEqual([0, 0, 0]);
    expect(() => syntheticInputs([{ name: "x", dtype: "float32", shape: [1] }], { values: { y: [1] } })).toThrow(/no input named y; the model's inputs are x/);
    expect(() => syntheticTensor({ name: "s", dtype: "string", shape: [1] })).toThrow(UsageError);
  });
});
