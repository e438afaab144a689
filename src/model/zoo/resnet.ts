/**
 * ResNet-18 / ResNet-50 as torchvision builds them (v1.5: the stride of a Bottleneck is on its
 * 3x3 conv), plus `resnet_tiny`, a 2-block BasicBlock net for fast tests. Convs have no bias;
 * every conv is followed by a real BatchNormalization; downsampling shortcuts are 1x1 conv +
 * BN (`layerX.0.downsample.0/1`). Node names follow torchvision's modules; a ReLU module used
 * several times in a block is named like torch.onnx does: `relu`, `relu_1`, `relu_2`.
 */
import { BATCH, GraphBuilder, type Tensor } from "./graphBuilder.js";

type BlockKind = "basic" | "bottleneck";

function downsample(b: GraphBuilder, x: Tensor, p: string, cout: number, stride: number): Tensor {
  const d = b.conv(x, { name: `${p}.downsample.0`, cout, kernel: 1, stride, pad: 0, gain: 1 });
  return b.batchNorm(d, `${p}.downsample.1`);
}

function basicBlock(b: GraphBuilder, x: Tensor, p: string, planes: number, stride: number): Tensor {
  const cin = x.shape[1];
  let y = b.conv(x, { name: `${p}.conv1`, cout: planes, kernel: 3, stride, pad: 1 });
  y = b.batchNorm(y, `${p}.bn1`);
  y = b.relu(y, `${p}.relu`);
  y = b.conv(y, { name: `${p}.conv2`, cout: planes, kernel: 3, pad: 1 });
  y = b.batchNorm(y, `${p}.bn2`);
  const identity = stride !== 1 || cin !== planes ? downsample(b, x, p, planes, stride) : x;
  return b.relu(b.add(y, identity, `${p}.add`), `${p}.relu_1`);
}

function bottleneck(b: GraphBuilder, x: Tensor, p: string, planes: number, stride: number): Tensor {
  const cin = x.shape[1];
  const cout = planes * 4;
  let y = b.conv(x, { name: `${p}.conv1`, cout: planes, kernel: 1, pad: 0 });
  y = b.batchNorm(y, `${p}.bn1`);
  y = b.relu(y, `${p}.relu`);
  y = b.conv(y, { name: `${p}.conv2`, cout: planes, kernel: 3, stride, pad: 1 });
  y = b.batchNorm(y, `${p}.bn2`);
  y = b.relu(y, `${p}.relu_1`);
  y = b.conv(y, { name: `${p}.conv3`, cout, kernel: 1, pad: 0 });
  y = b.batchNorm(y, `${p}.bn3`);
  const identity = stride !== 1 || cin !== cout ? downsample(b, x, p, cout, stride) : x;
  return b.relu(b.add(y, identity, `${p}.add`), `${p}.relu_2`);
}

function resnet(name: string, kind: BlockKind, layers: readonly number[], inputSize: number, numClasses: number): GraphBuilder {
  const b = new GraphBuilder(name);
  let x: Tensor = b.input("input", [BATCH, 3, inputSize, inputSize]);
  x = b.conv(x, { name: "conv1", cout: 64, kernel: 7, stride: 2, pad: 3 });
  x = b.batchNorm(x, "bn1");
  x = b.relu(x, "relu");
  x = b.maxPool(x, "maxpool", 3, 2, 1);
  const block = kind === "basic" ? basicBlock : bottleneck;
  layers.forEach((blocks, li) => {
    const planes = 64 * 2 ** li;
    for (let j = 0; j < blocks; j++) x = block(b, x, `layer${li + 1}.${j}`, planes, j === 0 && li > 0 ? 2 : 1);
  });
  x = b.globalAvgPool(x, "avgpool");
  x = b.flatten(x, "flatten");
  b.output(b.linear(x, { name: "fc", out: numClasses, output: "logits" }));
  return b;
}

export function buildResnet18(inputSize: number, numClasses = 1000): GraphBuilder {
  return resnet("resnet18", "basic", [2, 2, 2, 2], inputSize, numClasses);
}

export function buildResnet50(inputSize: number, numClasses = 1000): GraphBuilder {
  return resnet("resnet50", "bottleneck", [3, 4, 6, 3], inputSize, numClasses);
}

/** conv1 3x3 (3->16, stride 2) + BN + ReLU, layer1.0 BasicBlock(16), layer2.0 BasicBlock(32, stride 2, downsample), avgpool, fc(32 -> 10). */
export function buildResnetTiny(inputSize: number, numClasses = 10): GraphBuilder {
  const b = new GraphBuilder("resnet_tiny");
  let x: Tensor = b.input("input", [BATCH, 3, inputSize, inputSize]);
  x = b.conv(x, { name: "conv1", cout: 16, kernel: 3, stride: 2, pad: 1 });
  x = b.batchNorm(x, "bn1");
  x = b.relu(x, "relu");
  x = basicBlock(b, x, "layer1.0", 16, 1);
  x = basicBlock(b, x, "layer2.0", 32, 2);
  x = b.globalAvgPool(x, "avgpool");
  x = b.flatten(x, "flatten");
  b.output(b.linear(x, { name: "fc", out: numClasses, output: "logits" }));
  return b;
}
