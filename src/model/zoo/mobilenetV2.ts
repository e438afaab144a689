/**
 * MobileNetV2 (torchvision `mobilenet_v2`, width 1.0): features.0 = Conv-BN-ReLU6 (3->32,
 * stride 2); features.1..17 = inverted residuals with (expansion t, channels c, repeats n,
 * stride s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1);
 * features.18 = Conv-BN-ReLU6 1x1 (320->1280); global average pool; classifier.1 =
 * Linear(1280, 1000) (classifier.0 is Dropout, not emitted). Convs have no bias; ReLU6 is
 * Clip(0, 6). A block adds its input when stride is 1 and channels are unchanged.
 * Names follow torchvision: `features.2.conv.0.0` (expand conv), `.conv.0.1` (BN),
 * `.conv.0.2` (ReLU6), `.conv.1.*` (depthwise), `.conv.2` (project conv), `.conv.3` (BN),
 * `features.2.add` (residual).
 */
import { BATCH, GraphBuilder, type Tensor } from "./graphBuilder.js";

const SETTING: ReadonlyArray<readonly [t: number, c: number, n: number, s: number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** Conv2dNormActivation with ReLU6: `${p}.0` conv, `${p}.1` BN, `${p}.2` Clip. */
function convBnRelu6(b: GraphBuilder, x: Tensor, p: string, cout: number, kernel: number, stride: number, groups = 1): Tensor {
  let y = b.conv(x, { name: `${p}.0`, cout, kernel, stride, pad: (kernel - 1) >> 1, groups });
  y = b.batchNorm(y, `${p}.1`);
  return b.relu6(y, `${p}.2`);
}

function invertedResidual(b: GraphBuilder, x: Tensor, p: string, oup: number, stride: number, t: number): Tensor {
  const inp = x.shape[1] as number;
  const hidden = Math.round(inp * t);
  let y = x;
  let k = 0;
  if (t !== 1) y = convBnRelu6(b, y, `${p}.conv.${k++}`, hidden, 1, 1);
  y = convBnRelu6(b, y, `${p}.conv.${k++}`, hidden, 3, stride, hidden);
  y = b.conv(y, { name: `${p}.conv.${k++}`, cout: oup, kernel: 1, pad: 0 });
  y = b.batchNorm(y, `${p}.conv.${k++}`);
  return stride === 1 && inp === oup ? b.add(x, y, `${p}.add`) : y;
}

export function buildMobilenetV2(inputSize: number, numClasses = 1000): GraphBuilder {
  const b = new GraphBuilder("mobilenet_v2");
  let x: Tensor = b.input("input", [BATCH, 3, inputSize, inputSize]);
  x = convBnRelu6(b, x, "features.0", 32, 3, 2);
  let i = 1;
  for (const [t, c, n, s] of SETTING) {
    for (let j = 0; j < n; j++) {
      x = invertedResidual(b, x, `features.${i}`, c, j === 0 ? s : 1, t);
      i++;
    }
  }
  x = convBnRelu6(b, x, `features.${i}`, 1280, 1, 1);
  x = b.globalAvgPool(x, "avgpool");
  x = b.flatten(x, "flatten");
  b.output(b.linear(x, { name: "classifier.1", out: numClasses, output: "logits" }));
  return b;
}
