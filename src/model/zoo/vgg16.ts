/**
 * VGG16 (torchvision `vgg16`, configuration "D", no batch norm): 13 3x3 convs with bias in
 * `features`, 5 max pools, and the classifier Linear(512*7*7, 4096) - ReLU - Dropout -
 * Linear(4096, 4096) - ReLU - Dropout - Linear(4096, 1000). Dropout is the identity at
 * inference and is not emitted. Node and initializer names are torchvision's module names and
 * state-dict keys (`features.0`, `features.0.weight`, `classifier.6.bias`, ...).
 *
 * One deviation: torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier is the identity
 * at 224 (the feature map is already 7x7) and is not emitted. At other input sizes the feature
 * map (S/32 x S/32) is flattened as it is and the first Linear takes 512*(S/32)^2 features,
 * instead of pooling to 7x7.
 */
import { BATCH, GraphBuilder, type Tensor } from "./graphBuilder.js";

/** torchvision cfgs["D"]: output channels, "M" = MaxPool2d(2, 2) */
const CFG_D: ReadonlyArray<number | "M"> = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"];

export function buildVgg16(inputSize: number, numClasses = 1000): GraphBuilder {
  const b = new GraphBuilder("vgg16");
  let x: Tensor = b.input("input", [BATCH, 3, inputSize, inputSize]);
  let i = 0;
  for (const v of CFG_D) {
    if (v === "M") {
      x = b.maxPool(x, `features.${i}`, 2, 2);
      i += 1;
    } else {
      x = b.conv(x, { name: `features.${i}`, cout: v, kernel: 3, pad: 1, bias: true });
      x = b.relu(x, `features.${i + 1}`);
      i += 2;
    }
  }
  x = b.flatten(x, "flatten");
  x = b.linear(x, { name: "classifier.0", out: 4096, gain: Math.SQRT2 });
  x = b.relu(x, "classifier.1");
  x = b.linear(x, { name: "classifier.3", out: 4096, gain: Math.SQRT2 });
  x = b.relu(x, "classifier.4");
  b.output(b.linear(x, { name: "classifier.6", out: numClasses, output: "logits" }));
  return b;
}
