import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, equals, fromBinary, isFieldSet, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { ModelProtoSchema, TensorProto_DataType, TensorProtoSchema, type ModelProto, type TensorProto } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeModel } from "../../src/model/cutPoints.js";
import { loadModel, parseModel, saveModel, serializeModel } from "../../src/model/onnxModel.js";
import { splitModel } from "../../src/model/splitModel.js";
import { seededFloats, verifySplit } from "../../src/runtime/verifySplit.js";
import { TailModels } from "../../src/transport/tailModels.js";
import { bytesOf, chain, STORAGE_CASES, storageFields } from "../fixtures/onnxGraphs.js";

const dir = mkdtempSync(join(tmpdir(), "sw-storage-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rawSet = (t: TensorProto) => isFieldSet(t, TensorProtoSchema.field.rawData);

describe("initializers in every TensorProto storage field (tf2onnx-style files)", () => {
  it("serializeModel writes what toBinary writes: a tensor without raw_data stays without it", () => {
    const m = storageFields();
    const ours = serializeModel(m);
    const reference = toBinary(ModelProtoSchema, m);
    expect(ours.length).toBe(reference.length);
    const back = fromBinary(ModelProtoSchema, ours);
    expect(equals(ModelProtoSchema, back, m)).toBe(true);
    const byName = new Map(back.graph?.initializer.map((t) => [t.name, t]));
    for (const c of STORAGE_CASES) expect([c.field, rawSet(byName.get(c.tensor.name) as TensorProto)]).toEqual([c.field, c.field === "raw_data"]);
  });

  it("property: any mix of storage fields (and raw_data present but empty) round-trips through the chunked writer", () => {
    const empty = create(TensorProtoSchema, { name: "w_empty", dataType: TensorProto_DataType.FLOAT, dims: [0n], rawData: new Uint8Array(0) });
    const tensor = fc.oneof(
      fc.constantFrom(...STORAGE_CASES.map((c) => c.tensor), empty),
      fc.uint8Array({ maxLength: 64 }).map((b) => create(TensorProtoSchema, { name: "w_bytes", dataType: TensorProto_DataType.UINT8, dims: [BigInt(b.length)], rawData: b })),
      fc.array(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), { maxLength: 8 }).map((v) => create(TensorProtoSchema, { name: "w_i64", dataType: TensorProto_DataType.INT64, dims: [BigInt(v.length)], int64Data: v })),
    );
    fc.assert(
      fc.property(fc.array(tensor, { maxLength: 6 }), (ts) => {
        const m: ModelProto = chain();
        m.graph?.initializer.push(...ts.map((t, i) => ({ ...t, name: `${t.name}_${i}` })));
        const ours = serializeModel(m);
        expect(ours.length).toBe(toBinary(ModelProtoSchema, m).length);
        const back = fromBinary(ModelProtoSchema, ours);
        expect(back.graph?.initializer.map(rawSet)).toEqual(ts.map(rawSet));
        expect(equals(ModelProtoSchema, back, m)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("shapes are probed and head then tail equals the full model bit for bit at every cut", async () => {
    const a = await analyzeModel(parseModel(bytesOf(storageFields()), "storage.onnx"));
    expect(a.shapes.get("idx")).toMatchObject({ dtype: "int64", shape: [1, 4], from: "onnxruntime" });
    expect(a.cuts.length).toBeGreaterThan(STORAGE_CASES.length);
    const checks = await verifySplit(a, { batch: 3 });
    expect(checks.filter((c) => c.maxAbsDiff !== 0)).toEqual([]);
  });

  it("saved parts keep each tensor in the field it came in", async () => {
    const a = await analyzeModel(parseModel(bytesOf(storageFields()), "storage.onnx"));
    const mid = a.cuts[Math.floor(a.cuts.length / 2)]?.index as number;
    const { head, tail } = splitModel(a, mid);
    saveModel(head as ModelProto, join(dir, "head.onnx"));
    saveModel(tail as ModelProto, join(dir, "tail.onnx"));
    const parts = [loadModel(join(dir, "head.onnx")), loadModel(join(dir, "tail.onnx"))];
    const written = new Map(parts.flatMap((p) => p.proto.graph?.initializer ?? []).map((t) => [t.name, t]));
    for (const c of STORAGE_CASES) {
      const t = written.get(c.tensor.name);
      expect(t, c.tensor.name).toBeDefined();
      expect(equals(TensorProtoSchema, t as TensorProto, c.tensor), c.tensor.name).toBe(true);
    }
  });

  it("the tail server's on-demand split serves every tail, bit-exact with the full model", async () => {
    const path = join(dir, "storage.onnx");
    writeFileSync(path, bytesOf(storageFields()));
    const a = await analyzeModel(loadModel(path));
    const x = new ort.Tensor("float32", seededFloats(3 * 4, 5), [3, 4]);
    const full = await ort.InferenceSession.create(path, { graphOptimizationLevel: "disabled" });
    const want = [...((await full.run({ x })).y?.data as Float32Array)];
    await full.release();
    const tails = new TailModels({ models: { m: path } });
    try {
      for (const c of a.cuts.slice(1, -1)) {
        const head = await ort.InferenceSession.create(serializeModel(splitModel(a, c.index).head as ModelProto), { graphOptimizationLevel: "disabled" });
        const mid = await head.run({ x });
        await head.release();
        const { outputs } = await tails.run(`m.tail.${c.index}`, mid);
        expect([c.index, [...(outputs.y?.data as Float32Array)]]).toEqual([c.index, want]);
      }
    } finally {
      await tails.close();
    }
  });
});
