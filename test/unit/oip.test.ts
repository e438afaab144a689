import fc from "fast-check";
import { mulberry32 } from "../../src/mulberry32.js";
import { describe, expect, it } from "vitest";
import {
  BINARY_DATA_SIZE,
  DATATYPES,
  DATATYPE_NAMES,
  type Datatype,
  type DecodeLimits,
  type OipTensor,
  OipError,
  binaryOutputs,
  datatypeSize,
  datatypeToOrt,
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  errorBody,
  isDatatype,
  matchesDatatype,
  ortToDatatype,
  parseErrorBody,
} from "../../src/transport/oip/index.js";

const LIMITS: DecodeLimits = { maxTensorBytes: 1 << 20, maxTensors: 16 };
const HDR = "inference-header-content-length";
const enc = new TextEncoder();

/** Concatenates chunks into a fresh ArrayBuffer (byteOffset 0), as an HTTP layer would. */
function concat(body: Uint8Array | Uint8Array[], lead = 0): Uint8Array {
  const chunks = Array.isArray(body) ? body : [body];
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const out = new Uint8Array(new ArrayBuffer(lead + total), lead, total);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

function lower(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Binary body: JSON header text + sections, with the header length header. */
function binaryBody(json: string, ...sections: Uint8Array[]): { body: Uint8Array; headers: Record<string, string> } {
  const head = enc.encode(json);
  return { body: concat([head, ...sections]), headers: { [HDR]: String(head.length) } };
}

function jsonBody(v: unknown): Uint8Array {
  return enc.encode(typeof v === "string" ? v : JSON.stringify(v));
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Comparable form of tensor data: the storage class and its exact bytes. */
function norm(t: OipTensor): unknown {
  const d = t.data;
  if (Array.isArray(d)) return { name: t.name, datatype: t.datatype, shape: t.shape, bytes: d.map((e) => Array.from(e)) };
  return { name: t.name, datatype: t.datatype, shape: t.shape, ctor: d.constructor.name, bytes: Array.from(bytesOf(d)), parameters: t.parameters };
}

function product(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectOipError(f: () => unknown, status: 400 | 413, re?: RegExp): OipError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OipError);
    const err = e as OipError;
    expect(err.status).toBe(status);
    expect(err.code).toBe("E_PROTOCOL");
    expect(err.message).not.toMatch(/\n/);
    if (re) expect(err.message).toMatch(re);
    return err;
  }
  throw new Error("expected an OipError");
}

// ------------------------------------------------------------------ arbitraries

const shapeArb = fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 });

function valuesArb(dt: Datatype, n: number, json: boolean): fc.Arbitrary<OipTensor["data"]> {
  const len = { minLength: n, maxLength: n };
  const info = DATATYPES[dt];
  switch (dt) {
    case "BOOL":
      return fc.array(fc.boolean(), len).map((a) => Uint8Array.from(a, (b) => (b ? 1 : 0)));
    case "INT64":
    case "UINT64": {
      const min = info.min as bigint;
      const max = info.max as bigint;
      const v = fc.oneof(fc.bigInt({ min, max }), fc.constantFrom(min, max, 0n, 2n ** 53n + 1n, max - 1n));
      return fc.array(v, len).map((a) => (dt === "INT64" ? BigInt64Array.from(a) : BigUint64Array.from(a)));
    }
    case "FP16":
      return fc.array(fc.integer({ min: 0, max: 0xffff }), len).map((a) => Uint16Array.from(a));
    case "FP32":
      return json
        ? fc.array(fc.float({ noNaN: true, noDefaultInfinity: true }), len).map((a) => Float32Array.from(a))
        : fc.array(fc.integer({ min: 0, max: 0xffffffff }), len).map((a) => new Float32Array(Uint32Array.from(a).buffer)); // any bits, NaN payloads too
    case "FP64":
      return json
        ? fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), len).map((a) => Float64Array.from(a))
        : fc.array(fc.double(), len).map((a) => Float64Array.from(a));
    case "BYTES":
      return json
        ? fc.array(fc.string({ unit: "binary", maxLength: 6 }), len).map((a) => a.map((s) => enc.encode(s)))
        : fc.array(fc.uint8Array({ maxLength: 9 }), len);
    default: {
      const ctor = info.ctor as Int32ArrayConstructor;
      return fc.array(fc.integer({ min: info.min as number, max: info.max as number }), len).map((a) => ctor.from(a));
    }
  }
}

function tensorArb(json: boolean, name: string): fc.Arbitrary<OipTensor> {
  const dts = DATATYPE_NAMES.filter((d) => !(json && d === "FP16"));
  return fc
    .tuple(fc.constantFrom(...dts), shapeArb)
    .chain(([datatype, shape]) => valuesArb(datatype, product(shape), json).map((data): OipTensor => ({ name, datatype, shape, data })));
}

function tensorsArb(json: boolean): fc.Arbitrary<OipTensor[]> {
  return fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, k) => tensorArb(json, `t${k}`))));
}

// ------------------------------------------------------------------ datatypes

describe("datatypes", () => {
  it("maps every datatype to a size, a typed array and an onnxruntime type, both ways", () => {
    const expected: Record<Datatype, [number, string, string]> = {
      BOOL: [1, "bool", "Uint8Array"],
      UINT8: [1, "uint8", "Uint8Array"],
      UINT16: [2, "uint16", "Uint16Array"],
      UINT32: [4, "uint32", "Uint32Array"],
      UINT64: [8, "uint64", "BigUint64Array"],
      INT8: [1, "int8", "Int8Array"],
      INT16: [2, "int16", "Int16Array"],
      INT32: [4, "int32", "Int32Array"],
      INT64: [8, "int64", "BigInt64Array"],
      FP16: [2, "float16", "Uint16Array"],
      FP32: [4, "float32", "Float32Array"],
      FP64: [8, "float64", "Float64Array"],
      BYTES: [0, "string", "-"],
    };
    expect([...DATATYPE_NAMES].sort()).toEqual(Object.keys(expected).sort());
    for (const dt of DATATYPE_NAMES) {
      const [size, ort, ctor] = expected[dt];
      expect(datatypeSize(dt)).toBe(size);
      expect(datatypeToOrt(dt)).toBe(ort);
      expect(ortToDatatype(ort)).toBe(dt);
      expect(DATATYPES[dt].ctor?.name ?? "-").toBe(ctor);
      expect(isDatatype(dt)).toBe(true);
    }
    expect(ortToDatatype("bfloat16")).toBeUndefined();
    expect(isDatatype("FP8")).toBe(false);
    expect(isDatatype("fp32")).toBe(false); // case-sensitive, as the spec says
    expect(isDatatype("toString")).toBe(false);
    expect(matchesDatatype("BYTES", [new Uint8Array(1)])).toBe(true);
    expect(matchesDatatype("FP32", new Float64Array(1))).toBe(false);
  });
});

// ------------------------------------------------------------------ golden examples from the specs

describe("golden examples from the specs", () => {
  it("decodes the binary request example of Triton's binary tensor data extension", () => {
    // Copied by hand from triton-inference-server/server docs/protocol/extension_binary_data.md,
    // "Binary Tensor Request" > "Examples" (HTTP headers dropped; the doc elides the 19 data
    // bytes, so input0 = [1,2,3,4] and input1 = [true,false,true] are our choice).
    const header = `{
  "model_name" : "mymodel",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "parameters" : {
        "binary_data_size" : 16
      }
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "parameters" : {
        "binary_data_size" : 3
      }
    }
  ],
  "outputs" : [
    {
      "name" : "output0",
      "parameters" : {
        "binary_data" : true
      }
    }
  ]
}`;
    const { body, headers } = binaryBody(header, bytesOf(Uint32Array.of(1, 2, 3, 4)), Uint8Array.of(1, 0, 1));
    expect(body.length - header.length).toBe(19); // "the total size of the binary data is 19 bytes"
    const req = decodeInferRequest(body, headers, LIMITS);
    expect(req.inputs.map(norm)).toEqual([
      norm({ name: "input0", datatype: "UINT32", shape: [2, 2], data: Uint32Array.of(1, 2, 3, 4) }),
      norm({ name: "input1", datatype: "BOOL", shape: [3], data: Uint8Array.of(1, 0, 1) }),
    ]);
    expect(req.inputs[0]?.parameters).toBeUndefined(); // binary_data_size is the codec's, not the caller's
    expect(req.outputs).toEqual([{ name: "output0", binary: true }]);
    expect(req.binaryDataOutput).toBe(false);
    expect(req.id).toBeUndefined();
    expect(binaryOutputs(req, ["output0"])).toEqual(new Set(["output0"]));
  });

  it("decodes the binary response example of the same document", () => {
    // Same document, the response "Assuming the model returns a [ 3, 2 ] tensor of data type FP32";
    // the 24 bytes are the values of the KServe JSON example below.
    const header = `{
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 2 ],
      "datatype"  : "FP32",
      "parameters" : {
        "binary_data_size" : 24
      }
    }
  ]
}`;
    const values = Float32Array.of(1.0, 1.1, 2.0, 2.1, 3.0, 3.1);
    const { body, headers } = binaryBody(header, bytesOf(values));
    const res = decodeInferResponse(body, headers, LIMITS);
    expect(res.model_name).toBeUndefined(); // the example omits it although $inference_response lists it
    expect(res.outputs.map(norm)).toEqual([norm({ name: "output0", datatype: "FP32", shape: [3, 2], data: values })]);
  });

  // Copied by hand from kserve/kserve docs/predict-api/v2/required_api.md, "Inference Request
  // Examples". The spec's own request gives one BOOL value for shape [ 3 ].
  const kserveRequest = `{
  "id" : "42",
  "inputs" : [
    {
      "name" : "input0",
      "shape" : [ 2, 2 ],
      "datatype" : "UINT32",
      "data" : [ 1, 2, 3, 4 ]
    },
    {
      "name" : "input1",
      "shape" : [ 3 ],
      "datatype" : "BOOL",
      "data" : [ true ]
    }
  ],
  "outputs" : [
    {
      "name" : "output0"
    }
  ]
}`;

  it("rejects the KServe JSON request example as printed (1 BOOL for shape [3]) and decodes it corrected", () => {
    expectOipError(() => decodeInferRequest(jsonBody(kserveRequest), {}, LIMITS), 400, /input "input1": shape holds 3 elements but "data" has 1/);
    const fixed = kserveRequest.replace('"data" : [ true ]', '"data" : [ true, false, true ]');
    const req = decodeInferRequest(jsonBody(fixed), { "content-type": "application/json" }, LIMITS);
    expect(req.id).toBe("42");
    expect(req.inputs.map(norm)).toEqual([
      norm({ name: "input0", datatype: "UINT32", shape: [2, 2], data: Uint32Array.of(1, 2, 3, 4) }),
      norm({ name: "input1", datatype: "BOOL", shape: [3], data: Uint8Array.of(1, 0, 1) }),
    ]);
    expect(req.outputs).toEqual([{ name: "output0" }]);
    expect(binaryOutputs(req, ["output0"])).toBe("none");
  });

  it("rejects the KServe JSON response example as printed (missing comma) and decodes it corrected", () => {
    // Same section of required_api.md: the response example lacks the comma after "id" : "42".
    const printed = `{
  "id" : "42"
  "outputs" : [
    {
      "name" : "output0",
      "shape" : [ 3, 2 ],
      "datatype"  : "FP32",
      "data" : [ 1.0, 1.1, 2.0, 2.1, 3.0, 3.1 ]
    }
  ]
}`;
    expectOipError(() => decodeInferResponse(jsonBody(printed), {}, LIMITS), 400, /not valid JSON/);
    const res = decodeInferResponse(jsonBody(printed.replace('"42"\n', '"42",\n')), {}, LIMITS);
    expect(res.id).toBe("42");
    expect(res.outputs.map(norm)).toEqual([norm({ name: "output0", datatype: "FP32", shape: [3, 2], data: Float32Array.of(1.0, 1.1, 2.0, 2.1, 3.0, 3.1) })]);
  });

  it("accepts the natural (nested) and flattened forms of the spec's Tensor Data example", () => {
    // required_api.md "Tensor Data": [ [ 1, 2 ], [ 4, 5 ] ] or [ 1, 2, 4, 5 ].
    for (const data of [[[1, 2], [4, 5]], [1, 2, 4, 5]]) {
      const req = decodeInferRequest(jsonBody({ inputs: [{ name: "m", shape: [2, 2], datatype: "INT32", data }] }), {}, LIMITS);
      expect(Array.from(req.inputs[0]?.data as Int32Array)).toEqual([1, 2, 4, 5]);
    }
  });

  it("refuses a raw binary request (Inference-Header-Content-Length: 0) with a clear message", () => {
    expectOipError(() => decodeInferRequest(new Uint8Array(16), { [HDR]: "0" }, LIMITS), 400, /raw binary request .* not supported/);
  });

  it("writes errors as {\"error\": string}", () => {
    const b = errorBody('model "x" is not ready');
    expect(new TextDecoder().decode(b)).toBe('{"error":"model \\"x\\" is not ready"}');
    expect(parseErrorBody(b)).toBe('model "x" is not ready');
    expect(parseErrorBody(jsonBody({ outputs: [] }))).toBeUndefined();
    expect(parseErrorBody(Uint8Array.of(0xff))).toBeUndefined();
  });
});

// ------------------------------------------------------------------ encoding

describe("encoding", () => {
  const x = Float32Array.of(1, 2, 3, 4, 5, 6);
  it("binary request: JSON header + the tensor's own bytes as separate chunks", () => {
    const { body, headers } = encodeInferRequest(
      { id: "r1", inputs: [{ name: "x", datatype: "FP32", shape: [2, 3], data: x }], outputs: [{ name: "y", binary: true }, { name: "z" }] },
      { binary: true },
    );
    expect(Array.isArray(body)).toBe(true);
    const chunks = body as Uint8Array[];
    expect(chunks).toHaveLength(2);
    expect(chunks[1]?.buffer).toBe(x.buffer); // not copied
    expect(headers["Content-Type"]).toBe("application/octet-stream");
    expect(Number(headers["Inference-Header-Content-Length"])).toBe(chunks[0]?.length);
    expect(Number(headers["Content-Length"])).toBe(chunks[0]!.length + 24);
    expect(chunks[0]!.length % 8).toBe(0); // padded so the first section is 8-byte aligned
    const json = JSON.parse(new TextDecoder().decode(chunks[0]));
    expect(json).toEqual({
      id: "r1",
      inputs: [{ name: "x", shape: [2, 3], datatype: "FP32", parameters: { binary_data_size: 24 } }],
      outputs: [{ name: "y", parameters: { binary_data: true } }, { name: "z" }],
    });
  });

  it("JSON request: flat data, application/json, one buffer", () => {
    const { body, headers } = encodeInferRequest(
      {
        inputs: [
          { name: "x", datatype: "FP32", shape: [2, 3], data: x },
          { name: "b", datatype: "BOOL", shape: [2], data: Uint8Array.of(1, 0) },
          { name: "s", datatype: "BYTES", shape: [2], data: [enc.encode("hé"), new Uint8Array(0)] },
          { name: "i", datatype: "INT64", shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n) },
        ],
        parameters: { binary_data_output: true },
      },
      { binary: false },
    );
    expect(body).toBeInstanceOf(Uint8Array);
    expect(headers["Content-Type"]).toBe("application/json");
    expect(headers["Inference-Header-Content-Length"]).toBeUndefined();
    const text = new TextDecoder().decode(body as Uint8Array);
    expect(text).toContain('"data":[-9223372036854775808,9223372036854775807]'); // exact, not rounded
    expect(JSON.parse(text).inputs.map((t: { data: unknown }) => t.data).slice(0, 3)).toEqual([[1, 2, 3, 4, 5, 6], [true, false], ["hé", ""]]);
    expect(JSON.parse(text).parameters).toEqual({ binary_data_output: true });
  });

  it("refuses what JSON cannot carry and says to use binary", () => {
    const fp16: OipTensor = { name: "h", datatype: "FP16", shape: [1], data: Uint16Array.of(0x3c00) };
    expect(() => encodeInferRequest({ inputs: [fp16] }, { binary: false })).toThrow(/FP16 cannot be represented in JSON; encode the request with \{ binary: true \}/);
    expect(() => encodeInferRequest({ inputs: [{ ...fp16, datatype: "FP32", data: Float32Array.of(Number.NaN) }] }, { binary: false })).toThrow(OipError);
    expect(() => encodeInferRequest({ inputs: [{ name: "s", datatype: "BYTES", shape: [1], data: [Uint8Array.of(0xff)] }] }, { binary: false })).toThrow(/UTF-8/);
    expect(() => encodeInferResponse({ model_name: "m", outputs: [fp16] }, { binaryOutputs: "none" })).toThrow(/binary_data/);
    expect(() => encodeInferResponse({ model_name: "m", outputs: [fp16] }, { binaryOutputs: "all" })).not.toThrow();
  });

  it("refuses inconsistent tensors before sending them", () => {
    const bad = (t: Partial<OipTensor>) => () => encodeInferRequest({ inputs: [{ name: "x", datatype: "FP32", shape: [2], data: Float32Array.of(1, 2), ...t } as OipTensor] }, { binary: true });
    expect(bad({ shape: [3] })).toThrow(/holds 3 elements but data has 2/);
    expect(bad({ data: Float64Array.of(1, 2) })).toThrow(/Float32Array/);
    expect(bad({ datatype: "FP8" as Datatype })).toThrow(/unknown datatype/);
    expect(bad({ shape: [-2] })).toThrow(/non-negative/);
  });

  it("response: binary only for the chosen outputs; plain JSON when none", () => {
    const outputs: OipTensor[] = [
      { name: "a", datatype: "FP32", shape: [2], data: Float32Array.of(1.5, -0) },
      { name: "b", datatype: "UINT8", shape: [3], data: Uint8Array.of(1, 2, 3) },
    ];
    const some = encodeInferResponse({ model_name: "m", model_version: "1", id: "q", outputs }, { binaryOutputs: new Set(["b"]) });
    const json = JSON.parse(new TextDecoder().decode((some.body as Uint8Array[])[0]));
    expect(json.outputs[0]).toEqual({ name: "a", shape: [2], datatype: "FP32", data: [1.5, -0] });
    expect(json.outputs[1]).toEqual({ name: "b", shape: [3], datatype: "UINT8", parameters: { binary_data_size: 3 } });
    expect(json.model_name).toBe("m");
    const none = encodeInferResponse({ model_name: "m", outputs }, { binaryOutputs: "none" });
    expect(none.headers["Content-Type"]).toBe("application/json");
    const back = decodeInferResponse(concat(none.body), lower(none.headers), LIMITS);
    expect(Object.is((back.outputs[0]?.data as Float32Array)[1], -0)).toBe(true); // -0 survives JSON
  });

  it("binaryOutputs follows binary_data over binary_data_output", () => {
    expect(binaryOutputs({ binaryDataOutput: true }, ["a", "b"])).toBe("all");
    expect(binaryOutputs({ binaryDataOutput: false }, ["a", "b"])).toBe("none");
    expect(binaryOutputs({ binaryDataOutput: true, outputs: [{ name: "a", binary: false }, { name: "b" }] }, ["a", "b"])).toEqual(new Set(["b"]));
    expect(binaryOutputs({ binaryDataOutput: false, outputs: [{ name: "a", binary: true }] }, ["a", "b"])).toEqual(new Set(["a"]));
  });
});

// ------------------------------------------------------------------ round trips

describe("round trips", () => {
  it("requests, binary form, every datatype, random shapes and values", () => {
    fc.assert(
      fc.property(tensorsArb(false), (inputs) => {
        const e = encodeInferRequest({ id: "p", inputs }, { binary: true });
        const back = decodeInferRequest(concat(e.body), lower(e.headers), LIMITS);
        expect(back.inputs.map(norm)).toEqual(inputs.map(norm));
        expect(back.id).toBe("p");
      }),
      { seed: 1234, numRuns: 400 },
    );
  });

  it("parameters named __proto__ or constructor stay plain own entries, both ways (no prototype is set)", () => {
    const body = enc.encode(`{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1]}],"parameters":{"__proto__":{"polluted":true},"a":1}}`);
    // a parameter must be a string, number or boolean: an object under __proto__ is refused like any other
    expectOipError(() => decodeInferRequest(body, { "content-type": "application/json" }, LIMITS), 400, /parameter "__proto__"/);
    const ok = decodeInferRequest(enc.encode(`{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1]}],"parameters":{"__proto__":"p","constructor":3,"a":1}}`), { "content-type": "application/json" }, LIMITS);
    const p = ok.parameters as Record<string, unknown>;
    expect(Object.getPrototypeOf(p)).toBe(Object.prototype);
    expect(Object.keys(p)).toEqual(["__proto__", "constructor", "a"]);
    expect(p.__proto__).toBe("p"); // own property, read through the key
    const e = encodeInferResponse({ model_name: "m", outputs: [], parameters: p as never }, { binaryOutputs: "none" });
    expect(new TextDecoder().decode(concat(e.body))).toContain(`"parameters":{"__proto__":"p","constructor":3,"a":1}`);
  });

  it("requests, JSON form, every datatype but FP16", () => {
    fc.assert(
      fc.property(tensorsArb(true), (inputs) => {
        const e = encodeInferRequest({ inputs, parameters: { p: 1, q: "s", r: false } }, { binary: false });
        const back = decodeInferRequest(concat(e.body), lower(e.headers), LIMITS);
        expect(back.inputs.map(norm)).toEqual(inputs.map(norm));
        expect(back.parameters).toEqual({ p: 1, q: "s", r: false });
      }),
      { seed: 4321, numRuns: 400 },
    );
  });

  it("responses with a random subset of outputs in binary", () => {
    fc.assert(
      fc.property(tensorsArb(true), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), (outputs, flags) => {
        const binary = new Set(outputs.filter((_, k) => flags[k]).map((t) => t.name));
        const e = encodeInferResponse({ model_name: "m", id: "i", outputs }, { binaryOutputs: binary });
        const back = decodeInferResponse(concat(e.body), lower(e.headers), LIMITS);
        expect(back.outputs.map(norm)).toEqual(outputs.map(norm));
        expect(back.model_name).toBe("m");
      }),
      { seed: 99, numRuns: 300 },
    );
  });

  it("empty tensors (a zero in the shape) in both forms, every datatype", () => {
    for (const dt of DATATYPE_NAMES) {
      for (const shape of [[0], [2, 0, 3], [0, 5]]) {
        const data = dt === "BYTES" ? [] : new (DATATYPES[dt].ctor as Uint8ArrayConstructor)(0);
        const t: OipTensor = { name: "e", datatype: dt, shape, data };
        for (const binary of dt === "FP16" ? [true] : [true, false]) {
          const e = encodeInferRequest({ inputs: [t] }, { binary });
          const back = decodeInferRequest(concat(e.body), lower(e.headers), LIMITS);
          expect(norm(back.inputs[0] as OipTensor)).toEqual(norm(t));
        }
      }
    }
  });

  it("BYTES with empty strings: 4-byte little-endian lengths on the wire", () => {
    const t: OipTensor = { name: "s", datatype: "BYTES", shape: [3], data: [new Uint8Array(0), enc.encode("a"), new Uint8Array(0)] };
    const e = encodeInferRequest({ inputs: [t] }, { binary: true });
    expect(Array.from((e.body as Uint8Array[])[1]!)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 97, 0, 0, 0, 0]);
    for (const binary of [true, false]) {
      const r = encodeInferRequest({ inputs: [t] }, { binary });
      expect(norm(decodeInferRequest(concat(r.body), lower(r.headers), LIMITS).inputs[0] as OipTensor)).toEqual(norm(t));
    }
  });

  it("BOOL is one byte per element, true/false in JSON", () => {
    const t: OipTensor = { name: "b", datatype: "BOOL", shape: [2, 2], data: Uint8Array.of(1, 0, 0, 1) };
    const e = encodeInferRequest({ inputs: [t] }, { binary: true });
    expect(Array.from((e.body as Uint8Array[])[1]!)).toEqual([1, 0, 0, 1]);
    const j = encodeInferRequest({ inputs: [t] }, { binary: false });
    expect(new TextDecoder().decode(j.body as Uint8Array)).toContain('"data":[true,false,false,true]');
    const { body, headers } = binaryBody(`{"inputs":[{"name":"b","shape":[1],"datatype":"BOOL","parameters":{"binary_data_size":1}}]}`, Uint8Array.of(2));
    expectOipError(() => decodeInferRequest(body, headers, LIMITS), 400, /not 0 or 1/);
  });

  it("INT64/UINT64 extremes stay exact in JSON (beyond 2^53) and binary", () => {
    const i64 = BigInt64Array.of(-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n);
    const u64 = BigUint64Array.of(0n, 2n ** 64n - 1n, 2n ** 53n + 1n);
    const inputs: OipTensor[] = [
      { name: "i", datatype: "INT64", shape: [6], data: i64 },
      { name: "u", datatype: "UINT64", shape: [3], data: u64 },
    ];
    for (const binary of [true, false]) {
      const e = encodeInferRequest({ inputs }, { binary });
      expect(decodeInferRequest(concat(e.body), lower(e.headers), LIMITS).inputs.map(norm)).toEqual(inputs.map(norm));
    }
    const over = (dt: string, v: string) => () =>
      decodeInferRequest(jsonBody(`{"inputs":[{"name":"x","shape":[1],"datatype":"${dt}","data":[${v}]}]}`), {}, LIMITS);
    expectOipError(over("INT64", "9223372036854775808"), 400, /out of range for INT64/);
    expectOipError(over("INT64", "-9223372036854775809"), 400, /out of range/);
    expectOipError(over("UINT64", "18446744073709551616"), 400, /out of range/);
    expectOipError(over("UINT64", "-1"), 400, /out of range/);
    expectOipError(over("INT64", "1e19"), 400);
    expectOipError(over("INT64", "0.5"), 400, /not an integer/);
  });

  it("FP16 travels as raw bits in binary and is refused as JSON", () => {
    const bits = Uint16Array.of(0x3c00, 0x7e00, 0xfc00, 0x8000, 0x0001, 0x7bff);
    const e = encodeInferRequest({ inputs: [{ name: "h", datatype: "FP16", shape: [2, 3], data: bits }] }, { binary: true });
    const back = decodeInferRequest(concat(e.body), lower(e.headers), LIMITS);
    expect(Array.from(back.inputs[0]?.data as Uint16Array)).toEqual(Array.from(bits));
    expectOipError(() => decodeInferRequest(jsonBody({ inputs: [{ name: "h", shape: [1], datatype: "FP16", data: [1.0] }] }), {}, LIMITS), 400, /FP16 .*binary/);
  });

  it("keeps big INT64 exact even with deeply nested JSON elsewhere in the body (iterative lossless parse)", () => {
    const deep = "[".repeat(200_000) + "]".repeat(200_000);
    const text = `{"extra":${deep},"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9007199254740993]}]}`;
    const req = decodeInferRequest(jsonBody(text), {}, LIMITS);
    expect((req.inputs[0]?.data as BigInt64Array)[0]).toBe(9007199254740993n);
  });
});

// ------------------------------------------------------------------ views, not copies

describe("binary data as views into the body", () => {
  const inputs: OipTensor[] = [
    { name: "a", datatype: "FP32", shape: [4], data: Float32Array.of(1, 2, 3, 4) },
    { name: "b", datatype: "FP64", shape: [2], data: Float64Array.of(5, 6) },
    { name: "c", datatype: "UINT8", shape: [3], data: Uint8Array.of(7, 8, 9) },
    { name: "d", datatype: "INT16", shape: [1], data: Int16Array.of(-1) }, // misaligned after c (offset +3)
    { name: "s", datatype: "BYTES", shape: [1], data: [enc.encode("xyz")] },
  ];

  it("aligned sections are views; a misaligned one is copied with the right values", () => {
    const e = encodeInferRequest({ inputs }, { binary: true });
    const body = concat(e.body);
    const back = decodeInferRequest(body, lower(e.headers), LIMITS);
    const [a, b, c, d, s] = back.inputs.map((t) => t.data);
    for (const v of [a, b, c] as ArrayBufferView[]) expect(v.buffer).toBe(body.buffer);
    expect((s as Uint8Array[])[0]?.buffer).toBe(body.buffer);
    expect(d).toBeInstanceOf(Int16Array);
    expect((d as Int16Array).buffer).not.toBe(body.buffer); // offset is odd: copied
    expect(back.inputs.map(norm)).toEqual(inputs.map(norm));
    // writing through the view changes the body: proof that nothing was copied
    (a as Float32Array)[0] = 42;
    expect(new Float32Array(body.buffer, (a as Float32Array).byteOffset, 1)[0]).toBe(42);
  });

  it("a body that starts at an odd offset still decodes (copies where needed)", () => {
    const e = encodeInferRequest({ inputs }, { binary: true });
    const body = concat(e.body, 1);
    const back = decodeInferRequest(body, lower(e.headers), LIMITS);
    expect(back.inputs.map(norm)).toEqual(inputs.map(norm));
    expect((back.inputs[2]?.data as Uint8Array).buffer).toBe(body.buffer); // bytes are always views
  });
});

// ------------------------------------------------------------------ validation

describe("validation", () => {
  const fp32 = (extra: object = {}) => ({ name: "x", shape: [2], datatype: "FP32", ...extra });
  const req = (inputs: unknown[]) => JSON.stringify({ inputs });
  const dec = (text: string, ...sections: Uint8Array[]) => () => {
    const { body, headers } = sections.length > 0 ? binaryBody(text, ...sections) : { body: jsonBody(text), headers: {} };
    return decodeInferRequest(body, headers, LIMITS);
  };
  const eight = new Uint8Array(8);

  it("body and header framing", () => {
    const text = req([fp32({ parameters: { binary_data_size: 8 } })]);
    const head = enc.encode(text);
    const body = concat([head, eight]);
    expectOipError(() => decodeInferRequest(body, { [HDR]: String(body.length + 1) }, LIMITS), 400, /larger than/);
    expectOipError(() => decodeInferRequest(body, { [HDR]: "-3" }, LIMITS), 400, /non-negative integer/);
    expectOipError(() => decodeInferRequest(body, { [HDR]: "12abc" }, LIMITS), 400);
    expectOipError(() => decodeInferRequest(body, { [HDR]: [String(head.length), String(head.length)] }, LIMITS), 400, /more than once/);
    expectOipError(() => decodeInferRequest(body, { [HDR]: String(head.length - 1) }, LIMITS), 400, /not valid JSON/);
    expectOipError(() => decodeInferRequest(body, {}, LIMITS), 400, /not valid JSON/);
    expect(decodeInferRequest(body, { "Inference-Header-Content-Length": String(head.length) }, LIMITS).inputs).toHaveLength(1);
    expectOipError(dec(text), 400, /Inference-Header-Content-Length header is missing/);
    expectOipError(() => decodeInferRequest(Uint8Array.of(0xc3, 0x28), {}, LIMITS), 400, /UTF-8/);
  });

  it("binary sections must exactly fill the body", () => {
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: 8 } })]), new Uint8Array(9)), 400, /1 bytes after the binary tensor data/);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: 8 } })]), new Uint8Array(7)), 400, /runs past the end/);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: 4 } })]), new Uint8Array(4)), 400, /does not match 2 x 4/);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: -8 } })]), eight), 400, /non-negative integer/);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: "8" } })]), eight), 400);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: 8 }, data: [1, 2] })]), eight), 400, /both/);
    expectOipError(dec(req([fp32({ parameters: { binary_data_size: 1e12 } })]), eight), 413);
    const two = req([fp32({ parameters: { binary_data_size: 8 } }), { ...fp32({ parameters: { binary_data_size: 8 } }), name: "y" }]);
    expect(decodeInferRequest(...Object.values(binaryBody(two, eight, eight)) as [Uint8Array, Record<string, string>], LIMITS).inputs).toHaveLength(2);
    expectOipError(dec(two, eight, new Uint8Array(4)), 400);
  });

  it("BYTES length prefixes stay within the section", () => {
    const bytes = (n: number, ...b: number[]) => dec(req([{ name: "s", shape: [n], datatype: "BYTES", parameters: { binary_data_size: b.length } }]), Uint8Array.from(b));
    expect(bytes(1, 2, 0, 0, 0, 104, 105)()).toBeTruthy();
    expectOipError(bytes(1, 3, 0, 0, 0, 104, 105), 400, /declares 3 bytes but only 2 remain/);
    expectOipError(bytes(1, 0xff, 0xff, 0xff, 0xff, 1), 400);
    expectOipError(bytes(2, 0, 0, 0, 0, 0, 0), 400, /cannot fit|runs past/);
    expectOipError(bytes(1, 1, 0, 0, 0, 104, 105), 400, /left over/);
    expectOipError(bytes(1_000_000_000, 0, 0, 0, 0), 413);
  });

  it("JSON structure", () => {
    for (const t of ["[]", "null", "42", '"x"', "true"]) expectOipError(dec(t), 400, /must be a JSON object/);
    expectOipError(dec("{}"), 400, /no "inputs"/);
    expectOipError(dec('{"inputs":{}}'), 400, /must be an array/);
    expectOipError(dec(req([42])), 400, /input 0 must be a JSON object/);
    expectOipError(dec(req([{ shape: [1], datatype: "FP32", data: [1] }])), 400, /"name"/);
    expectOipError(dec(req([{ name: "", shape: [1], datatype: "FP32", data: [1] }])), 400, /"name"/);
    expectOipError(dec(req([fp32({ data: [1, 2] }), fp32({ data: [1, 2] })])), 400, /more than once/);
    expectOipError(dec(req([fp32()])), 400, /neither "data" nor "binary_data_size"/);
    expectOipError(dec(req([fp32({ data: 1 })])), 400, /must be a JSON array/);
    expectOipError(dec(JSON.stringify({ id: 5, inputs: [] })), 400, /"id"/);
    expectOipError(dec(JSON.stringify({ parameters: { a: { b: 1 } }, inputs: [] })), 400, /string, number or boolean/);
    expectOipError(dec(JSON.stringify({ parameters: { binary_data_output: "yes" }, inputs: [] })), 400, /binary_data_output/);
    expectOipError(dec(JSON.stringify({ inputs: [], outputs: [{ name: "y", parameters: { binary_data: 1 } }] })), 400, /binary_data/);
    expectOipError(dec(JSON.stringify({ inputs: [], outputs: [{ name: "y" }, { name: "y" }] })), 400, /more than once/);
    expectOipError(() => decodeInferResponse(jsonBody({ model_name: 3, outputs: [] }), {}, LIMITS), 400, /model_name/);
    expectOipError(() => decodeInferResponse(jsonBody({ model_name: "m" }), {}, LIMITS), 400, /no "outputs"/);
  });

  it("datatype and shape", () => {
    expectOipError(dec(req([{ name: "x", shape: [1], datatype: "FLOAT32", data: [1] }])), 400, /unknown datatype "FLOAT32"; expected one of BOOL/);
    expectOipError(dec(req([{ name: "x", shape: [1], datatype: "fp32", data: [1] }])), 400, /unknown datatype/);
    expectOipError(dec(req([{ name: "x", shape: [-1], datatype: "FP32", data: [] }])), 400, /negative/);
    expectOipError(dec(req([{ name: "x", shape: [1.5], datatype: "FP32", data: [1] }])), 400, /not an integer/);
    expectOipError(dec(req([{ name: "x", shape: ["2"], datatype: "FP32", data: [1, 2] }])), 400, /not an integer/);
    expectOipError(dec(req([{ name: "x", shape: 2, datatype: "FP32", data: [1, 2] }])), 400, /"shape" must be an array/);
    expectOipError(dec(req([{ name: "x", shape: [1e9, 1e9], datatype: "FP32", data: [] }])), 413);
    expectOipError(dec(req([{ name: "x", shape: [1e9, 1e9, 1e9], datatype: "FP32", data: [] }])), 413, /more than 2\^53-1 elements/);
    expectOipError(dec('{"inputs":[{"name":"x","shape":[100000000000000000000],"datatype":"FP32","data":[]}]}'), 413);
    expectOipError(dec(req([{ name: "x", shape: [300000], datatype: "FP32", data: [] }])), 413, /above the 1048576-byte tensor limit/);
    // a zero anywhere makes an empty tensor, however big the other dimensions
    expect(dec(req([{ name: "x", shape: [1e9, 0, 1e9], datatype: "FP32", data: [] }]))().inputs[0]?.data).toHaveLength(0);
    expect(dec(req([{ name: "x", shape: [], datatype: "FP32", data: [7] }]))().inputs[0]?.shape).toEqual([]); // scalar
  });

  it("JSON element values must fit the datatype", () => {
    const one = (datatype: string, v: unknown) => dec(req([{ name: "x", shape: [1], datatype, data: [v] }]));
    expectOipError(one("UINT8", 256), 400, /out of range for UINT8/);
    expectOipError(one("UINT8", -1), 400, /out of range/);
    expectOipError(one("INT8", -129), 400, /out of range/);
    expectOipError(one("INT16", 32768), 400);
    expectOipError(one("UINT32", 4294967296), 400);
    expectOipError(one("INT32", 1.5), 400, /not an integer/);
    expectOipError(one("INT32", "1"), 400, /not an integer/);
    expectOipError(one("BOOL", 1), 400, /not true or false/);
    expectOipError(one("BOOL", "true"), 400);
    expectOipError(one("FP32", 1e39), 400, /out of range for FP32/);
    expectOipError(one("FP32", null), 400, /not a number/);
    expectOipError(dec('{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e400]}]}'), 400, /out of range/);
    expectOipError(one("BYTES", 5), 400, /not a string/);
    expect(Array.from(one("INT8", -128)().inputs[0]?.data as Int8Array)).toEqual([-128]);
    expect(Array.from(one("UINT32", 4294967295)().inputs[0]?.data as Uint32Array)).toEqual([4294967295]);
  });

  it("nested data: deep nesting and wrong counts", () => {
    const deep = "[".repeat(100_000) + "1" + "]".repeat(100_000);
    expectOipError(dec(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":${deep}}]}`), 400, /nested deeper than 64/);
    expectOipError(dec(req([{ name: "x", shape: [2, 2], datatype: "FP32", data: [[1, 2], [3]] }])), 400, /holds 4 elements but "data" has 3/);
    expectOipError(dec(req([{ name: "x", shape: [2, 2], datatype: "FP32", data: [[1, 2], [3, 4, 5]] }])), 400, /has more/);
  });

  it("limits: number of tensors and their size", () => {
    const many = Array.from({ length: 17 }, (_, k) => ({ name: `x${k}`, shape: [0], datatype: "FP32", data: [] }));
    expectOipError(dec(req(many)), 413, /17 inputs exceed the limit of 16/);
    const outs = Array.from({ length: 17 }, (_, k) => ({ name: `y${k}` }));
    expectOipError(dec(JSON.stringify({ inputs: [], outputs: outs })), 413);
    expectOipError(dec(req([{ name: "s", shape: [1], datatype: "BYTES", data: ["x".repeat(1 << 20)] }])), 413, /BYTES data exceeds/);
  });
});

// ------------------------------------------------------------------ fuzz


const FUZZ_LIMITS: DecodeLimits = { maxTensorBytes: 64 * 1024, maxTensors: 8 };

/** Whatever a decoder returns must be self-consistent. */
function checkTensors(ts: OipTensor[]): void {
  for (const t of ts) {
    expect(isDatatype(t.datatype)).toBe(true);
    expect(matchesDatatype(t.datatype, t.data)).toBe(true);
    expect(t.data.length).toBe(product(t.shape));
    const bytes = Array.isArray(t.data) ? t.data.reduce((n, e) => n + 4 + e.length, 0) : t.data.byteLength;
    expect(bytes).toBeLessThanOrEqual(FUZZ_LIMITS.maxTensorBytes);
    if (t.parameters) expect(Object.keys(t.parameters)).not.toContain(BINARY_DATA_SIZE);
  }
}

let accepted = 0;
let rejected = 0;
function tryDecode(kind: "request" | "response", body: Uint8Array, headers: Record<string, string | string[] | undefined>): void {
  try {
    if (kind === "request") {
      const r = decodeInferRequest(body, headers, FUZZ_LIMITS);
      checkTensors(r.inputs);
    } else {
      checkTensors(decodeInferResponse(body, headers, FUZZ_LIMITS).outputs);
    }
    accepted++;
  } catch (e) {
    if (!(e instanceof OipError)) throw new Error(`non-OipError ${String(e)} for body ${JSON.stringify(new TextDecoder().decode(body.subarray(0, 300)))}`);
    expect([400, 413]).toContain(e.status);
    expect(e.message).not.toMatch(/could not decode|too large to decode|\n/); // the safety net never fires
    rejected++;
  }
}

function baseBodies(kind: "request" | "response"): Array<{ body: Uint8Array; headers: Record<string, string> }> {
  const tensors: OipTensor[] = [
    { name: "f", datatype: "FP32", shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
    { name: "b", datatype: "BOOL", shape: [3], data: Uint8Array.of(1, 0, 1) },
    { name: "s", datatype: "BYTES", shape: [2], data: [enc.encode("ab"), new Uint8Array(0)] },
    { name: "i", datatype: "INT64", shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 53n + 1n) },
    { name: "h", datatype: "UINT16", shape: [1, 2], data: Uint16Array.of(0, 65535) },
    { name: "e", datatype: "FP64", shape: [0, 4], data: new Float64Array(0) },
  ];
  const out = [];
  for (const binary of [true, false]) {
    for (let k = 1; k <= tensors.length; k++) {
      const ts = tensors.slice(0, k);
      const e =
        kind === "request"
          ? encodeInferRequest({ id: "z", inputs: ts, outputs: [{ name: "o", binary: true }], parameters: { binary_data_output: true } }, { binary })
          : encodeInferResponse({ model_name: "m", outputs: ts }, { binaryOutputs: binary ? "all" : "none" });
      out.push({ body: concat(e.body), headers: lower(e.headers) });
    }
  }
  return out;
}

const JUNK: unknown[] = [
  [1e9, 1e9],
  [-1],
  [1.5],
  ["3"],
  [],
  [2 ** 60],
  [1e308, 1e308],
  null,
  "FP32",
  "FP128",
  "",
  -8,
  2 ** 53,
  1e12,
  {},
  { binary_data_size: 3 },
  { binary_data_size: -1 },
  { binary_data_size: 9007199254740993 },
  true,
  [[[[[[]]]]]],
  [true, false],
  ["a", "b"],
];

const FIELD_JUNK: Record<string, unknown[]> = {
  shape: [[1e9, 1e9], [-1], [2, -3], [1.5], [], [0], [2 ** 53], [3, 2], [6], [2, 3, 1], [1, 2], [2], [4, 0], null, "6"],
  datatype: [...DATATYPE_NAMES, "FP128", "fp32", "", 4, null],
  binary_data_size: [0, 1, 2, 3, 4, 8, 12, 16, 23, 24, 25, -1, 1.5, 1e15, 2 ** 53 + 2, "24", null, true],
  data: [[], [1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]], ["a", ""], [true, false, true], [1e40], [-1, 2 ** 64], "abc", null, [[[[[[[1]]]]]]]],
  name: ["", "f", "b", "x", 7, null],
};

/** JSON-level mutation: replace one value somewhere in the header with junk, keep framing valid. */
function mutateJson(v: unknown, rnd: () => number): unknown {
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)] as T;
  const r = rnd();
  if (r < 0.05) return pick(JUNK);
  if (Array.isArray(v)) {
    if (v.length === 0 || r < 0.1) return [...v, pick(JUNK)];
    const copy = [...v];
    const k = Math.floor(rnd() * copy.length);
    copy[k] = mutateJson(copy[k], rnd);
    return copy;
  }
  if (v !== null && typeof v === "object") {
    const keys = Object.keys(v);
    const copy: Record<string, unknown> = { ...(v as Record<string, unknown>) };
    if (keys.length === 0 || r < 0.1) {
      copy[pick(["data", "shape", "datatype", "parameters", "name", "binary_data_size", "inputs", "outputs"])] = pick(JUNK);
      return copy;
    }
    const k = pick(keys);
    if (rnd() < 0.1) delete copy[k];
    else copy[k] = mutateJson(copy[k], rnd);
    return copy;
  }
  return pick(JUNK);
}

describe("fuzz: decoders return valid tensors or throw OipError 400/413", () => {
  for (const kind of ["request", "response"] as const) {
    it(`${kind}s: random bytes, byte mutations, framing and JSON mutations (seeded)`, () => {
      const rnd = mulberry32(kind === "request" ? 0xc0ffee : 0xbeef);
      const ri = (n: number) => Math.floor(rnd() * n);
      const bases = baseBodies(kind);
      const before = process.memoryUsage().arrayBuffers;
      accepted = 0;
      rejected = 0;
      for (let iter = 0; iter < 2500; iter++) {
        const base = bases[ri(bases.length)] as { body: Uint8Array; headers: Record<string, string> };
        const headers: Record<string, string | string[] | undefined> = { ...base.headers };
        let body: Uint8Array = base.body.slice();
        const op = ri(9);
        if (op === 0) {
          // random bytes, random header
          body = Uint8Array.from({ length: ri(200) }, () => ri(256));
          headers[HDR] = rnd() < 0.5 ? undefined : String(ri(220));
        } else if (op === 1) {
          for (let f = 1 + ri(4); f > 0; f--) if (body.length > 0) {
            const at = ri(body.length);
            body[at] = (body[at] as number) ^ (1 << ri(8));
          }
        } else if (op === 2) {
          body = body.subarray(0, ri(body.length + 1));
        } else if (op === 3) {
          body = concat([body, Uint8Array.from({ length: 1 + ri(16) }, () => ri(256))]);
        } else if (op === 4) {
          const h = Number(headers[HDR] ?? body.length);
          headers[HDR] = pick4(ri, [String(h + ri(9) - 4), String(ri(body.length + 10)), "x", "", " 12 ", "1e3", [String(h), String(h)]]);
          if (rnd() < 0.2) delete headers[HDR];
        } else if (op >= 7) {
          // targeted: one field of one tensor, framing kept consistent
          const h = headers[HDR] === undefined ? body.length : Number(headers[HDR]);
          const json = JSON.parse(new TextDecoder().decode(body.subarray(0, h))) as Record<string, Array<Record<string, unknown>>>;
          const list = json[kind === "request" ? "inputs" : "outputs"] ?? [];
          for (let m = 1 + ri(2); m > 0; m--) {
            const t = list[ri(list.length)];
            if (t === undefined) continue;
            const field = pick4(ri, ["shape", "datatype", "data", "binary_data_size", "name"]);
            const value = pick4(ri, FIELD_JUNK[field] as unknown[]);
            if (field === "binary_data_size") t.parameters = { ...(t.parameters as object), binary_data_size: value };
            else t[field] = value;
          }
          const head = enc.encode(JSON.stringify(json));
          body = concat([head, body.subarray(h)]);
          if (headers[HDR] !== undefined) headers[HDR] = String(head.length);
        } else {
          // JSON-level mutation, framing kept consistent
          const h = headers[HDR] === undefined ? body.length : Number(headers[HDR]);
          const json = JSON.parse(new TextDecoder().decode(body.subarray(0, h)));
          let mutated = json;
          for (let m = 1 + ri(3); m > 0; m--) mutated = mutateJson(mutated, rnd);
          const depth = ri(5000);
          const close = rnd() < 0.5 ? depth : ri(5000);
          const list = kind === "request" ? "inputs" : "outputs";
          const text = op === 6 && rnd() < 0.3 ? `{"${list}":[{"name":"x","shape":[1],"datatype":"FP32","data":${"[".repeat(depth)}1${"]".repeat(close)}}]}` : JSON.stringify(mutated);
          const head = enc.encode(text);
          body = concat([head, body.subarray(h)]);
          if (headers[HDR] !== undefined) headers[HDR] = String(head.length);
        }
        tryDecode(kind, body, headers);
      }
      expect(accepted + rejected).toBe(2500);
      expect(rejected).toBeGreaterThan(1000);
      expect(accepted).toBeGreaterThan(20); // some mutations keep a valid body (e.g. a flipped bit in a float)
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(256 * 1024 * 1024);
    });
  }

  it("arbitrary JSON values in every position (fast-check, seeded)", () => {
    const anyJson = fc.jsonValue({ maxDepth: 4 });
    const tensorish = fc.record(
      { name: fc.oneof(fc.string(), anyJson), shape: fc.oneof(fc.array(fc.integer({ min: -2, max: 3 }), { maxLength: 3 }), anyJson), datatype: fc.oneof(fc.constantFrom(...DATATYPE_NAMES), anyJson), data: anyJson, parameters: fc.oneof(fc.constant(undefined), fc.dictionary(fc.string(), anyJson)) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(anyJson, fc.record({ inputs: fc.oneof(fc.array(tensorish, { maxLength: 3 }), anyJson), outputs: fc.oneof(fc.constant(undefined), anyJson), id: anyJson, parameters: anyJson }, { requiredKeys: ["inputs"] })), (v) => {
        tryDecode("request", jsonBody(JSON.stringify(v) ?? "null"), {});
        tryDecode("response", jsonBody(JSON.stringify({ model_name: "m", outputs: (v as { inputs?: unknown })?.inputs ?? v }) ?? "null"), {});
      }),
      { seed: 7, numRuns: 1500 },
    );
  });
});

function pick4<T>(ri: (n: number) => number, a: T[]): T {
  return a[ri(a.length)] as T;
}
