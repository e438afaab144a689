import type { NodeProto } from "onnx-buf";

function intAttr(n: NodeProto, name: string, fallback: number): number {
  const a = n.attribute.find((x) => x.name === name);
  return a === undefined ? fallback : Number(a.i);
}

const prod = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);

/**
 * Multiply-accumulates of one node at batch 1 (Neurosurgeon-style per-layer cost): Conv,
 * ConvTranspose, Gemm and MatMul; 0 for element-wise and data-movement ops.
 * `shape` returns a tensor's concrete dims, or undefined when unknown (then the node counts 0).
 */
export function nodeMacs(n: NodeProto, shape: (name: string) => number[] | undefined): number {
  const x = shape(n.input[0] ?? "");
  const w = shape(n.input[1] ?? "");
  const y = shape(n.output[0] ?? "");
  switch (n.opType) {
    case "Conv": {
      // y: [N, Cout, ...spatial]; w: [Cout, Cin/group, ...kernel]
      if (y === undefined || w === undefined) return 0;
      return prod(y) * prod(w.slice(1));
    }
    case "ConvTranspose": {
      // every input element scatters into Cout/group x kernel outputs; w: [Cin, Cout/group, ...kernel]
      if (x === undefined || w === undefined) return 0;
      return prod(x) * prod(w.slice(1));
    }
    case "Gemm": {
      if (x === undefined || y === undefined) return 0;
      const k = intAttr(n, "transA", 0) === 1 ? (x[0] ?? 0) : (x[1] ?? 0);
      return prod(y) * k;
    }
    case "MatMul": {
      if (x === undefined || y === undefined) return 0;
      return prod(y) * (x[x.length - 1] ?? 0);
    }
    default:
      return 0;
  }
}
