/**
 * Where the batch sits in each graph input. Exporters write the batch as a symbolic dim
 * (dim_param) that every input carrying it shares ("batch", "N", "batch_size", "unk__0"), and
 * not always at dim 0: recurrent state inputs are [directions, batch, hidden], time-major
 * sequences [seq, batch, features]. The rule, from the declared input types alone:
 *
 * 1. candidates are the dim_params at dim 0 of some input and those named like a batch
 *    (containing "batch", or exactly N, B or bs, any case);
 * 2. the batch symbol is the candidate the most inputs carry; ties go to a name like a batch,
 *    then to one at some input's dim 0, then to the first seen;
 * 3. an input carrying the symbol has its batch at every position of it; an input without it
 *    has its batch at dim 0 when that dim is symbolic and no other input carries the same name
 *    (tf2onnx names each input's batch apart: unk__0, unk__1) or has no name; else no batch dim.
 *
 * Dims inside the model that follow the batch are found by running it at two batch sizes
 * (tensorShapes.ts); value_info dims named by one of `symbols` are batch dims too.
 */
import type { GraphInfo } from "./graphInfo.js";

export interface BatchLayout {
  /** the batch's dim_param shared by the inputs, or null when no input has a candidate */
  symbol: string | null;
  /** per graph input: true where the dim follows the batch */
  batchDims: Record<string, boolean[]>;
  /** every dim_param standing for the batch (the symbol and the per-input dim-0 names) */
  symbols: Set<string>;
}

const BATCH_NAME = /batch|^(n|b|bs)$/i;

export function batchLayout(info: GraphInfo): BatchLayout {
  const dimsOf = (name: string) => info.declared.get(name)?.dims ?? null;
  const carriers = new Map<string, Set<string>>();
  const atDim0 = new Set<string>();
  for (const input of info.inputs) {
    (dimsOf(input) ?? []).forEach((d, i) => {
      if (typeof d !== "string") return;
      if (!carriers.has(d)) carriers.set(d, new Set());
      carriers.get(d)?.add(input);
      if (i === 0) atDim0.add(d);
    });
  }
  const candidates = [...carriers.keys()].filter((s) => atDim0.has(s) || BATCH_NAME.test(s));
  const score = (s: string): number[] => [carriers.get(s)?.size ?? 0, BATCH_NAME.test(s) ? 1 : 0, atDim0.has(s) ? 1 : 0];
  let symbol: string | null = null;
  for (const s of candidates) {
    if (symbol === null) {
      symbol = s;
      continue;
    }
    const a = score(s);
    const b = score(symbol);
    const i = a.findIndex((x, k) => x !== b[k]);
    if (i >= 0 && (a[i] as number) > (b[i] as number)) symbol = s;
  }
  const symbols = new Set<string>(symbol === null ? [] : [symbol]);
  const batchDims: Record<string, boolean[]> = {};
  for (const input of info.inputs) {
    const dims = dimsOf(input) ?? [];
    if (symbol !== null && dims.includes(symbol)) {
      batchDims[input] = dims.map((d) => d === symbol);
      continue;
    }
    const first = dims[0];
    const own = first === null || (typeof first === "string" && carriers.get(first)?.size === 1);
    if (dims.length > 0 && own) {
      if (typeof first === "string") symbols.add(first);
      batchDims[input] = dims.map((_, i) => i === 0);
    } else batchDims[input] = dims.map(() => false);
  }
  return { symbol, batchDims, symbols };
}
