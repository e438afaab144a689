/**
 * Rows of a batch: tensors joined along their first dimension (the batch) and cut back into
 * rows, for the pipeline executor's device and server batches. Row-major data makes both plain
 * copies of contiguous ranges.
 */
import * as ort from "onnxruntime-node";

type Data = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

function dataOf(t: ort.Tensor): Data {
  const d = t.data as unknown;
  if (Array.isArray(d) || typeof (d as { subarray?: unknown }).subarray !== "function") throw new Error(`tensor of type ${t.type} cannot be batched (no typed data)`);
  return d as Data;
}

/** The tensors (same type, same dims after the first) joined along dimension 0; one tensor is returned as it is. */
export function concatRows(tensors: readonly ort.Tensor[]): ort.Tensor {
  const first = tensors[0];
  if (first === undefined) throw new Error("concatRows needs at least one tensor");
  if (tensors.length === 1) return first;
  const tail = first.dims.slice(1);
  let rows = 0;
  let length = 0;
  for (const t of tensors) {
    if (t.type !== first.type || t.dims.length !== first.dims.length || t.dims.slice(1).some((d, i) => d !== tail[i])) {
      throw new Error(`cannot batch a ${t.type} [${t.dims.join(",")}] with a ${first.type} [${first.dims.join(",")}]: rows must agree after the first dimension`);
    }
    rows += t.dims[0] ?? 0;
    length += dataOf(t).length;
  }
  const d0 = dataOf(first);
  const out = new (d0.constructor as new (n: number) => Data)(length);
  let at = 0;
  for (const t of tensors) {
    const d = dataOf(t);
    (out as { set(a: ArrayLike<number | bigint>, o: number): void }).set(d as ArrayLike<number | bigint>, at);
    at += d.length;
  }
  return new ort.Tensor(first.type as "float32", out as Float32Array, [rows, ...tail]);
}

/** Rows [start, start + count) of `t` as a tensor of its own (a view of the same data). */
export function sliceRows(t: ort.Tensor, start: number, count: number): ort.Tensor {
  const rows = t.dims[0] ?? 0;
  if (start < 0 || count < 0 || start + count > rows) throw new Error(`rows ${start}..${start + count} are outside a tensor of ${rows} rows`);
  if (start === 0 && count === rows) return t;
  const d = dataOf(t);
  const per = rows === 0 ? 0 : d.length / rows;
  return new ort.Tensor(t.type as "float32", d.subarray(start * per, (start + count) * per) as Float32Array, [count, ...t.dims.slice(1)]);
}

/** Each record's tensors joined row-wise by name (every record has the same names). */
export function concatRecords(records: readonly Record<string, ort.Tensor>[], names: readonly string[]): Record<string, ort.Tensor> {
  return Object.fromEntries(names.map((n) => [n, concatRows(records.map((r) => r[n] as ort.Tensor))]));
}

/** A record of batched tensors cut into `rows.length` records of rows[i] rows each. */
export function splitRecord(record: Record<string, ort.Tensor>, names: readonly string[], rows: readonly number[]): Record<string, ort.Tensor>[] {
  const out: Record<string, ort.Tensor>[] = rows.map(() => ({}));
  for (const n of names) {
    const t = record[n];
    if (t === undefined) throw new Error(`no tensor ${n} to cut into rows`);
    let at = 0;
    rows.forEach((r, i) => {
      (out[i] as Record<string, ort.Tensor>)[n] = sliceRows(t, at, r);
      at += r;
    });
    if (at !== (t.dims[0] ?? 0)) throw new Error(`tensor ${n} has ${t.dims[0]} rows, the batch has ${at}`);
  }
  return out;
}
