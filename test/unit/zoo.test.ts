import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fromBinary } from "@bufbuild/protobuf";
import { ModelProtoSchema, type ModelProto, type TensorProto } from "onnx-buf";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../../src/errors.js";
import { lazyZooModel } from "../../src/model/zoo/registry.js";
import { WeightStream } from "../../src/model/zoo/weights.js";
import { zooBuild, zooList, zooPath } from "../../src/model/zoo/zoo.js";

/** torchvision: sum(p.numel() for p in model.parameters()) */
const TORCHVISION_PARAMS: Record<string, number> = {
  vgg16: 138_357_544,
  resnet18: 11_689_512,
  resnet50: 25_557_032,
  mobilenet_v2: 3_504_872,
};

const NAMES = ["vgg16", "resnet18", "resnet50", "mobilenet_v2", "tiny_cnn", "resnet_tiny"];

const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const elements = (t: TensorProto): number => t.dims.reduce((a, d) => a * Number(d), 1);
const skeleton = (name: string, inputSize?: number): ModelProto => fromBinary(ModelProtoSchema, lazyZooModel(name, { inputSize }).skeleton());

/** What torchvision's parameters() counts: conv/linear weight+bias and BN weight+bias (not running stats, not constants). */
function countParams(proto: ModelProto): number {
  let n = 0;
  for (const t of proto.graph?.initializer ?? []) {
    if (t.name.endsWith(".weight") || t.name.endsWith(".bias")) n += elements(t);
    else expect(t.name).toMatch(/\.running_(mean|var)$|^const\./);
  }
  return n;
}

function opCounts(proto: ModelProto): Record<string, number> {
  const c: Record<string, number> = {};
  for (const n of proto.graph?.node ?? []) c[n.opType] = (c[n.opType] ?? 0) + 1;
  return c;
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

describe("zoo registry", () => {
  it("lists the models with defaults", () => {
    const list = zooList();
    expect(list.map((z) => z.name)).toEqual(NAMES);
    for (const z of list) {
      expect(z.description.length).toBeGreaterThan(10);
      expect(z.defaultInputSize).toBe(z.name.includes("tiny") ? 32 : 224);
    }
    expect(list.find((z) => z.name === "vgg16")?.description).toMatch(/other than 224/);
  });

  it("params() equal torchvision's published totals at 224", () => {
    for (const [name, n] of Object.entries(TORCHVISION_PARAMS)) expect(zooList().find((z) => z.name === name)?.params(224), name).toBe(n);
  });

  it("vgg16's first Linear follows the input size; the others' counts do not depend on it", () => {
    const vgg = zooList().find((z) => z.name === "vgg16");
    // the feature map is 2x2 at 64 instead of 7x7: classifier.0 has 512*4*4096 weights instead of 512*49*4096
    expect(vgg?.params(64)).toBe(TORCHVISION_PARAMS.vgg16! - 512 * (49 - 4) * 4096);
    for (const name of ["resnet18", "resnet50", "mobilenet_v2"]) {
      const z = zooList().find((e) => e.name === name);
      expect(z?.params(64)).toBe(z?.params());
    }
  });
});

describe("zoo graphs (parameters counted from the ONNX initializers)", () => {
  it("resnet18, resnet50 and mobilenet_v2 at 224 (full models)", () => {
    for (const name of ["resnet18", "resnet50", "mobilenet_v2"]) {
      const bytes = zooBuild(name);
      const proto = fromBinary(ModelProtoSchema, bytes);
      expect(countParams(proto), name).toBe(TORCHVISION_PARAMS[name]);
      for (const t of proto.graph?.initializer ?? []) {
        expect(t.dataType).toBe(1);
        expect(t.rawData.length, t.name).toBe(4 * elements(t));
      }
    }
  });

  it("vgg16 at 224 (skeleton: the same ModelProto without raw_data) and at 32 (full model)", () => {
    expect(countParams(skeleton("vgg16", 224))).toBe(TORCHVISION_PARAMS.vgg16);
    const small = fromBinary(ModelProtoSchema, zooBuild("vgg16", { inputSize: 32 }));
    const sk = skeleton("vgg16", 32);
    expect(small.graph?.initializer.map((t) => [t.name, t.dims])).toEqual(sk.graph?.initializer.map((t) => [t.name, t.dims]));
    expect(small.graph?.node.length).toBe(sk.graph?.node.length);
  });

  it("mirror torchvision's structure: op counts and module names", () => {
    const expected: Record<string, Record<string, number>> = {
      vgg16: { Conv: 13, Relu: 15, MaxPool: 5, Flatten: 1, Gemm: 3 },
      resnet18: { Conv: 20, BatchNormalization: 20, Relu: 17, MaxPool: 1, Add: 8, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
      resnet50: { Conv: 53, BatchNormalization: 53, Relu: 49, MaxPool: 1, Add: 16, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
      mobilenet_v2: { Conv: 52, BatchNormalization: 52, Clip: 35, Add: 10, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
      tiny_cnn: { Conv: 4, Relu: 4, MaxPool: 3, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
      resnet_tiny: { Conv: 6, BatchNormalization: 6, Relu: 5, Add: 2, GlobalAveragePool: 1, Flatten: 1, Gemm: 1 },
    };
    for (const name of NAMES) expect(opCounts(skeleton(name)), name).toEqual(expected[name]);
    const names = (name: string): string[] => skeleton(name).graph?.node.map((n) => n.name) ?? [];
    expect(names("vgg16")).toEqual(expect.arrayContaining(["features.0", "features.1", "features.4", "features.28", "features.30", "classifier.0", "classifier.6"]));
    expect(names("resnet18")).toEqual(expect.arrayContaining(["conv1", "bn1", "maxpool", "layer1.0.conv1", "layer2.0.downsample.0", "layer2.0.downsample.1", "layer4.1.relu_1", "fc"]));
    expect(names("resnet50")).toEqual(expect.arrayContaining(["layer1.0.downsample.0", "layer3.5.conv3", "layer4.2.relu_2"]));
    expect(names("mobilenet_v2")).toEqual(expect.arrayContaining(["features.0.0", "features.1.conv.0.0", "features.1.conv.1", "features.2.conv.3", "features.3.add", "features.18.2", "classifier.1"]));
    // the stride of a v1.5 Bottleneck is on its 3x3 conv; MobileNetV2's depthwise convs are grouped
    const r50 = skeleton("resnet50").graph!;
    const attr = (node: string, a: string): number[] => r50.node.find((n) => n.name === node)!.attribute.find((x) => x.name === a)!.ints.map(Number);
    expect(attr("layer2.0.conv2", "strides")).toEqual([2, 2]);
    expect(attr("layer2.0.conv1", "strides")).toEqual([1, 1]);
    const dw = skeleton("mobilenet_v2").graph!.node.find((n) => n.name === "features.2.conv.1.0")!;
    expect(Number(dw.attribute.find((a) => a.name === "group")!.i)).toBe(96);
  });

  it("declare a value_info for every node output; names are unique; input/output are [N,3,S,S] -> [N,classes]", () => {
    for (const name of NAMES) {
      for (const size of name.includes("tiny") ? [32, 16] : [224, 64]) {
        const proto = skeleton(name, size);
        expect(Number(proto.irVersion)).toBe(8);
        expect(proto.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([["", 17]]);
        const g = proto.graph!;
        const shapeOf = (v: (typeof g.valueInfo)[number]): Array<number | string> => {
          expect(v.type?.value.case).toBe("tensorType");
          const tt = v.type?.value.value as { elemType: number; shape?: { dim: Array<{ value: { case?: string; value?: unknown } }> } };
          expect(tt.elemType).toBe(1);
          return tt.shape!.dim.map((d) => (d.value.case === "dimParam" ? (d.value.value as string) : Number(d.value.value)));
        };
        expect(g.input.map((v) => [v.name, shapeOf(v)])).toEqual([["input", ["N", 3, size, size]]]);
        expect(g.output.map((v) => [v.name, shapeOf(v)])).toEqual([["logits", ["N", name.includes("tiny") ? 10 : 1000]]]);
        const declared = new Map(g.valueInfo.map((v) => [v.name, shapeOf(v)]));
        expect(declared.size).toBe(g.valueInfo.length);
        const nodeNames = new Set<string>();
        for (const n of g.node) {
          expect(n.name).not.toBe("");
          expect(nodeNames.has(n.name), n.name).toBe(false);
          nodeNames.add(n.name);
          for (const o of n.output) {
            const s = o === "logits" ? ["N"] : declared.get(o);
            expect(s, `${name}: value_info of ${o}`).toBeDefined();
            expect(s?.[0]).toBe("N");
          }
        }
        // nothing declared that no node produces
        const produced = new Set(g.node.flatMap((n) => n.output));
        for (const v of g.valueInfo) expect(produced.has(v.name)).toBe(true);
      }
    }
  });

  it("writes metadata", () => {
    const p = fromBinary(ModelProtoSchema, zooBuild("tiny_cnn", { seed: 7 }));
    expect(Object.fromEntries(p.metadataProps.map((m) => [m.key, m.value]))).toMatchObject({
      "splitwatt.zoo.name": "tiny_cnn",
      "splitwatt.zoo.input_size": "32",
      "splitwatt.zoo.seed": "7",
    });
    expect(p.producerName).toBe("splitwatt");
  });
});

describe("zoo weights", () => {
  it("are deterministic per seed", () => {
    const a = sha(zooBuild("resnet18", { inputSize: 64, seed: 1 }));
    expect(sha(zooBuild("resnet18", { inputSize: 64, seed: 1 }))).toBe(a);
    expect(sha(zooBuild("resnet18", { inputSize: 64, seed: 2 }))).not.toBe(a);
    expect(sha(zooBuild("resnet18", { inputSize: 64 }))).toBe(sha(zooBuild("resnet18", { inputSize: 64, seed: 0 })));
    expect(sha(zooBuild("tiny_cnn"))).toBe(sha(zooBuild("tiny_cnn")));
  });

  it("are pinned: when these change, bump ZOO_FORMAT in registry.ts so cached files are rebuilt", () => {
    const v = new Float32Array(4);
    new WeightStream("resnet18/conv1.weight", 0, { kind: "uniform", bound: 1 }).fill(v);
    expect(sha(new Uint8Array(v.buffer))).toMatchInlineSnapshot(`"65a451439e27acc774ab920b4a233220aa139148def420effa6dadf3aca1dfc4"`);
    expect(sha(zooBuild("resnet_tiny", { inputSize: 16 }))).toMatchInlineSnapshot(`"26d131dbd3b7aceca20d7f03d1bcd6db5790110a8df4c7fc11550c97737bf728"`);
  });

  it("fill in pieces exactly as in one go (the serialiser generates 4 MB at a time)", () => {
    for (const init of [
      { kind: "normal", std: 0.1, row: 6 },
      { kind: "uniform", bound: 2 },
    ] as const) {
      const whole = new Float32Array(60);
      new WeightStream("k", 3, init).fill(whole);
      const parts = new Float32Array(60);
      const s = new WeightStream("k", 3, init);
      s.fill(parts.subarray(0, 12));
      s.fill(parts.subarray(12, 18));
      s.fill(parts.subarray(18));
      expect(parts).toEqual(whole);
    }
  });

  it("are Kaiming-scaled, zero-mean per filter; BN is near identity", () => {
    const p = fromBinary(ModelProtoSchema, zooBuild("resnet18", { inputSize: 64 }));
    const get = (n: string): Float32Array => {
      const t = p.graph!.initializer.find((x) => x.name === n)!;
      return new Float32Array(t.rawData.slice().buffer);
    };
    const w = get("layer3.0.conv2.weight"); // [256, 256, 3, 3], fan_in 2304
    const fanIn = 256 * 9;
    let sq = 0;
    for (const x of w) sq += x * x;
    expect(Math.sqrt(sq / w.length)).toBeCloseTo(Math.sqrt(2 / fanIn), 3);
    for (const f of [0, 17, 255]) {
      let s = 0;
      for (let i = f * fanIn; i < (f + 1) * fanIn; i++) s += w[i]!;
      expect(Math.abs(s / fanIn)).toBeLessThan(1e-6);
    }
    const gamma = get("layer3.0.bn2.weight");
    const rv = get("layer3.0.bn2.running_var");
    for (const x of gamma) expect(Math.abs(x - 1)).toBeLessThanOrEqual(0.1);
    for (const x of rv) expect(x).toBeGreaterThan(0.89);
    expect(new Set(gamma).size).toBeGreaterThan(200);
  });
});

describe("zoo errors", () => {
  it("unknown names list the valid ones", () => {
    expect(() => zooBuild("vgg19")).toThrow(UsageError);
    expect(() => zooBuild("vgg19")).toThrow(/vgg16, resnet18, resnet50, mobilenet_v2, tiny_cnn, resnet_tiny/);
    expect(() => zooList()[0]!.params(100)).toThrow(UsageError);
  });

  it("bad input sizes say which are valid", () => {
    for (const [name, size] of [
      ["resnet18", 100],
      ["resnet18", 0],
      ["mobilenet_v2", 16],
      ["vgg16", 480],
      ["resnet50", 224.5],
      ["tiny_cnn", 12],
    ] as const) {
      expect(() => zooBuild(name, { inputSize: size }), `${name} ${size}`).toThrow(UsageError);
    }
    expect(() => zooBuild("resnet18", { inputSize: 100 })).toThrow(/multiple of 32 from 32 to 1024/);
    expect(() => zooBuild("vgg16", { inputSize: 480 })).toThrow(/from 32 to 448/);
    expect(() => zooBuild("tiny_cnn", { seed: -1 })).toThrow(UsageError);
  });

  it("zooPath rejects with UsageError too", async () => {
    await expect(zooPath("nope", { cacheDir: tmpdir() })).rejects.toThrow(UsageError);
    await expect(zooPath("resnet50", { inputSize: 33, cacheDir: tmpdir() })).rejects.toThrow(/multiple of 32/);
  });
});

describe("zooPath", () => {
  it("builds once into the cache dir, atomically, and reuses the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zoo-cache-"));
    tmpDirs.push(dir);
    const msgs: string[] = [];
    const p = await zooPath("tiny_cnn", { cacheDir: join(dir, "sub"), onProgress: (m) => msgs.push(m) });
    expect(p).toBe(join(dir, "sub", "tiny_cnn-32.onnx"));
    expect(readFileSync(p)).toEqual(Buffer.from(zooBuild("tiny_cnn")));
    expect(msgs.some((m) => m.startsWith("building tiny_cnn"))).toBe(true);
    expect(readdirSync(join(dir, "sub"))).toEqual(["tiny_cnn-32.onnx"]);
    const mtime = statSync(p).mtimeMs;
    msgs.length = 0;
    expect(await zooPath("tiny_cnn", { cacheDir: join(dir, "sub"), onProgress: (m) => msgs.push(m) })).toBe(p);
    expect(statSync(p).mtimeMs).toBe(mtime);
    expect(msgs).toEqual([]);
    // a truncated file, or one from another builder (same size, different graph bytes), is rebuilt
    truncateSync(p, 100);
    await zooPath("tiny_cnn", { cacheDir: join(dir, "sub") });
    expect(sha(readFileSync(p))).toBe(sha(zooBuild("tiny_cnn")));
    const other = Buffer.from(zooBuild("tiny_cnn"));
    other[20] = other[20]! ^ 1;
    writeFileSync(p, other);
    await zooPath("tiny_cnn", { cacheDir: join(dir, "sub") });
    expect(sha(readFileSync(p))).toBe(sha(zooBuild("tiny_cnn")));
  });

  it("takes SPLITWATT_MODEL_CACHE when no cacheDir is given", async () => {
    const dir = mkdtempSync(join(tmpdir(), "zoo-env-"));
    tmpDirs.push(dir);
    const old = process.env.SPLITWATT_MODEL_CACHE;
    process.env.SPLITWATT_MODEL_CACHE = dir;
    try {
      expect(await zooPath("resnet_tiny", { inputSize: 16 })).toBe(join(dir, "resnet_tiny-16.onnx"));
    } finally {
      if (old === undefined) delete process.env.SPLITWATT_MODEL_CACHE;
      else process.env.SPLITWATT_MODEL_CACHE = old;
    }
  });
});
