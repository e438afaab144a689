import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ValueInfoProto } from "onnx-buf";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { zooBuild } from "../../src/model/zoo/zoo.js";

/** Small sizes keep the file fast; vgg16 at 32 is still 151 MB of weights. */
const CASES: Array<{ name: string; inputSize: number; classes: number }> = [
  { name: "tiny_cnn", inputSize: 32, classes: 10 },
  { name: "resnet_tiny", inputSize: 16, classes: 10 },
  { name: "resnet18", inputSize: 64, classes: 1000 },
  { name: "resnet50", inputSize: 64, classes: 1000 },
  { name: "mobilenet_v2", inputSize: 64, classes: 1000 },
  { name: "vgg16", inputSize: 32, classes: 1000 },
];

/** Seeded uniform(-2, 2) inputs (roughly ImageNet-normalised range). */
function randomInput(batch: number, size: number, seed: number): ort.Tensor {
  const data = new Float32Array(batch * 3 * size * size);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    data[i] = ((s >>> 0) / 4294967296) * 4 - 2;
  }
  return new ort.Tensor("float32", data, [batch, 3, size, size]);
}

function declaredDims(v: ValueInfoProto, batch: number): number[] {
  if (v.type?.value.case !== "tensorType") throw new Error(`${v.name}: not a tensor type`);
  return v.type.value.value.shape!.dim.map((d) => (d.value.case === "dimParam" ? batch : Number(d.value.value)));
}

function argmaxes(t: ort.Tensor): number[] {
  const [n, k] = t.dims as [number, number];
  const d = t.data as Float32Array;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (d[i * k + j]! > d[i * k + best]!) best = j;
    out.push(best);
  }
  return out;
}

describe("zoo models run in onnxruntime-node", () => {
  for (const c of CASES) {
    it(`${c.name} @${c.inputSize}: logits [2,${c.classes}] finite, every declared value_info shape is the real one, inputs give different classes`, async () => {
      const bytes = zooBuild(c.name, { inputSize: c.inputSize });

      // a copy with every value_info tensor added as a graph output
      const proto = fromBinary(ModelProtoSchema, bytes);
      const g = proto.graph!;
      const declared = g.valueInfo;
      g.output.push(...declared);
      g.valueInfo = [];
      const probe = await ort.InferenceSession.create(toBinary(ModelProtoSchema, proto));
      try {
        const out = await probe.run({ input: randomInput(2, c.inputSize, 1) });
        const logits = out.logits!;
        expect(logits.dims).toEqual([2, c.classes]);
        for (const x of logits.data as Float32Array) expect(Number.isFinite(x)).toBe(true);
        expect(declared.length).toBeGreaterThan(5);
        for (const v of declared) {
          const t = out[v.name];
          expect(t, v.name).toBeDefined();
          expect([v.name, ...t!.dims]).toEqual([v.name, ...declaredDims(v, 2)]);
          expect(t!.type).toBe("float32");
        }
      } finally {
        await probe.release();
      }

      // the model itself: random inputs do not all land in one class
      const session = await ort.InferenceSession.create(bytes);
      try {
        const out = await session.run({ input: randomInput(6, c.inputSize, 42) });
        const classes = new Set(argmaxes(out.logits!));
        expect(classes.size, `argmax classes ${[...classes].join(",")}`).toBeGreaterThan(1);
        for (const x of out.logits!.data as Float32Array) expect(Math.abs(x)).toBeLessThan(1e3);
      } finally {
        await session.release();
      }
    }, 60_000);
  }
});
