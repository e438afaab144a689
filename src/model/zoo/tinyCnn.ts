/**
 * tiny_cnn: a plain chain CNN for fast tests (no branches, no BN): four 3x3 conv + ReLU
 * stages (3->16->32->64->64), the first three followed by MaxPool 2x2, then global average
 * pool, flatten and Linear(64, 10). Every node has one input activation, so every node
 * boundary is a cut point.
 */
import { BATCH, GraphBuilder, type Tensor } from "./graphBuilder.js";

export function buildTinyCnn(inputSize: number, numClasses = 10): GraphBuilder {
  const b = new GraphBuilder("tiny_cnn");
  let x: Tensor = b.input("input", [BATCH, 3, inputSize, inputSize]);
  const channels = [16, 32, 64, 64];
  channels.forEach((c, i) => {
    const k = i + 1;
    x = b.conv(x, { name: `conv${k}`, cout: c, kernel: 3, pad: 1, bias: true });
    x = b.relu(x, `relu${k}`);
    if (i < 3) x = b.maxPool(x, `pool${k}`, 2, 2);
  });
  x = b.globalAvgPool(x, "avgpool");
  x = b.flatten(x, "flatten");
  b.output(b.linear(x, { name: "fc", out: numClasses, output: "logits" }));
  return b;
}
