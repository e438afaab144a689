/**
 * The zoo's models: name, description, valid input sizes and builder. zoo.ts is the public API
 * over this table; tests use lazyZooModel/zooGraph to inspect a model without generating weights.
 */
import { UsageError } from "../../errors.js";
import type { GraphBuilder } from "./graphBuilder.js";
import { buildMobilenetV2 } from "./mobilenetV2.js";
import { buildResnet18, buildResnet50, buildResnetTiny } from "./resnet.js";
import { lazyModel, type LazyModel } from "./serialize.js";
import { buildTinyCnn } from "./tinyCnn.js";
import { buildVgg16 } from "./vgg16.js";

/** Bumped whenever a builder's output changes (stale cache files are then rebuilt). */
export const ZOO_FORMAT = 1;
export const DEFAULT_SEED = 0;

export interface ZooModelDef {
  name: string;
  description: string;
  defaultInputSize: number;
  /** input sizes: multiples of sizeMultiple in [minInputSize, maxInputSize] */
  sizeMultiple: number;
  minInputSize: number;
  maxInputSize: number;
  build(inputSize: number): GraphBuilder;
}

export const ZOO_MODELS: readonly ZooModelDef[] = [
  {
    name: "vgg16",
    description:
      "VGG16 (torchvision layout, 13 conv + 3 FC, 1000 classes); at input sizes other than 224 the 7x7 adaptive avg pool is dropped and the first FC takes the (S/32)^2 feature map",
    defaultInputSize: 224,
    sizeMultiple: 32,
    minInputSize: 32,
    // 448 gives a 1.9 GB file; beyond that the first FC pushes the model past protobuf's 2 GB limit
    maxInputSize: 448,
    build: (s) => buildVgg16(s),
  },
  {
    name: "resnet18",
    description: "ResNet-18 (torchvision layout, BasicBlocks, BN not folded, 1000 classes)",
    defaultInputSize: 224,
    sizeMultiple: 32,
    minInputSize: 32,
    maxInputSize: 1024,
    build: (s) => buildResnet18(s),
  },
  {
    name: "resnet50",
    description: "ResNet-50 v1.5 (torchvision layout, Bottlenecks, BN not folded, 1000 classes)",
    defaultInputSize: 224,
    sizeMultiple: 32,
    minInputSize: 32,
    maxInputSize: 1024,
    build: (s) => buildResnet50(s),
  },
  {
    name: "mobilenet_v2",
    description: "MobileNetV2 1.0 (torchvision layout, inverted residuals, ReLU6 as Clip, BN not folded, 1000 classes)",
    defaultInputSize: 224,
    sizeMultiple: 32,
    minInputSize: 32,
    maxInputSize: 1024,
    build: (s) => buildMobilenetV2(s),
  },
  {
    name: "tiny_cnn",
    description: "tiny chain CNN for fast tests (4 conv+ReLU, 3 max pools, GAP, FC; 10 classes)",
    defaultInputSize: 32,
    sizeMultiple: 8,
    minInputSize: 8,
    maxInputSize: 1024,
    build: (s) => buildTinyCnn(s),
  },
  {
    name: "resnet_tiny",
    description: "tiny residual net for fast tests (stem + 2 BasicBlocks, one with a downsample shortcut; 10 classes)",
    defaultInputSize: 32,
    sizeMultiple: 8,
    minInputSize: 8,
    maxInputSize: 1024,
    build: (s) => buildResnetTiny(s),
  },
];

function validSizes(m: ZooModelDef): string {
  return `a multiple of ${m.sizeMultiple} from ${m.minInputSize} to ${m.maxInputSize} (default ${m.defaultInputSize})`;
}

export function zooModel(name: string): ZooModelDef {
  const m = ZOO_MODELS.find((z) => z.name === name);
  if (m === undefined) throw new UsageError(`unknown zoo model "${name}": valid names are ${ZOO_MODELS.map((z) => z.name).join(", ")}`);
  return m;
}

/** The input size to use (default when undefined); UsageError when it is not valid for the model. */
export function checkInputSize(m: ZooModelDef, inputSize: number | undefined): number {
  const s = inputSize ?? m.defaultInputSize;
  if (!Number.isInteger(s) || s < m.minInputSize || s > m.maxInputSize || s % m.sizeMultiple !== 0) {
    throw new UsageError(`input size ${s} is not valid for ${m.name}: use ${validSizes(m)}`);
  }
  return s;
}

export function checkSeed(seed: number | undefined): number {
  const s = seed ?? DEFAULT_SEED;
  if (!Number.isSafeInteger(s) || s < 0) throw new UsageError(`seed ${s} is not valid: use an integer from 0 to ${Number.MAX_SAFE_INTEGER}`);
  return s;
}

/** The graph (structure and initializer specs, no weights) of a validated model and size. */
export function zooGraph(name: string, inputSize?: number): GraphBuilder {
  const m = zooModel(name);
  return m.build(checkInputSize(m, inputSize));
}

/** The serialisable model: exact byte length and a chunk generator that draws the weights. */
export function lazyZooModel(name: string, opts: { inputSize?: number | undefined; seed?: number | undefined } = {}): LazyModel & { inputSize: number; seed: number; params: number } {
  const m = zooModel(name);
  const inputSize = checkInputSize(m, opts.inputSize);
  const seed = checkSeed(opts.seed);
  const b = m.build(inputSize);
  const lazy = lazyModel(
    b,
    {
      producerName: "splitwatt",
      producerVersion: `zoo-${ZOO_FORMAT}`,
      docString: `${m.name} at input ${inputSize}x${inputSize}: ${m.description}. Random weights (seed ${seed}), not trained.`,
      metadata: {
        "splitwatt.zoo.name": m.name,
        "splitwatt.zoo.input_size": String(inputSize),
        "splitwatt.zoo.seed": String(seed),
        "splitwatt.zoo.format": String(ZOO_FORMAT),
      },
    },
    (tensor) => `${m.name}/${tensor}`,
    seed,
  );
  return { ...lazy, inputSize, seed, params: b.paramCount() };
}
