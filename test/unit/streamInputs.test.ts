/**
 * Inputs for `splitwatt run --stream DIR`: the PNG decoder on images written with every filter
 * type and colour type (a small encoder here, after the PNG specification), .npy files
 * (numpy's format 1.0), and a directory read into items in file order, rows split.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { TensorProto_DataType } from "onnx-buf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { analyzeModel, type ModelAnalysis } from "../../src/model/cutPoints.js";
import { encodePng, pngChunk as chunk } from "../../src/model/evalset/png.js";
import { parseModel } from "../../src/model/onnxModel.js";
import { decodePng } from "../../src/runtime/decodePng.js";
import { inputDirItems, listInputDir } from "../../src/runtime/inputDir.js";
import { parseNpy, writeNpy } from "../../src/runtime/npy.js";
import { seededFloats } from "../../src/runtime/syntheticInputs.js";
import { mulberry32 } from "../../src/mulberry32.js";
import { bytesOf, model, node } from "../fixtures/onnxGraphs.js";

/** A PNG of `samples` (channels per pixel of `colour`), each row with filter type `filterOf(y)` applied as the spec defines it. */
function png(width: number, height: number, colour: number, channels: number, samples: Uint8Array, filterOf: (y: number) => number, extra: Buffer[] = []): Buffer {
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  const paeth = (a: number, b: number, c: number): number => {
    const p = a + b - c;
    const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
    return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
  };
  for (let y = 0; y < height; y++) {
    const f = filterOf(y);
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = samples[y * stride + i] as number;
      const a = i >= channels ? (samples[y * stride + i - channels] as number) : 0;
      const b = y > 0 ? (samples[(y - 1) * stride + i] as number) : 0;
      const c = y > 0 && i >= channels ? (samples[(y - 1) * stride + i - channels] as number) : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][f] as number;
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, colour, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), ...extra, chunk("IDAT", deflateSync(raw)), chunk("IEND", new Uint8Array(0))]);
}

describe("PNG decoder", () => {
  it("decodes what the project's own encoder writes, to the byte", () => {
    const next = mulberry32(5);
    const rgba = Uint8Array.from({ length: 37 * 11 * 4 }, () => Math.floor(next() * 256));
    const img = decodePng(encodePng(rgba, 37, 11));
    expect([img.width, img.height]).toEqual([37, 11]);
    expect(img.rgba).toEqual(rgba);
  });

  it("every filter type (0-4) and colour type (grey, grey+alpha, RGB, RGBA, palette with transparency)", () => {
    const next = mulberry32(9);
    const [w, h] = [13, 10];
    const filterOf = (y: number): number => y % 5;
    for (const [colour, channels] of [
      [0, 1],
      [4, 2],
      [2, 3],
      [6, 4],
      [3, 1],
    ] as const) {
      const samples = Uint8Array.from({ length: w * h * channels }, () => Math.floor(next() * (colour === 3 ? 4 : 256)));
      const palette = Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120]);
      const trns = Uint8Array.from([0, 128]);
      const file = png(w, h, colour, channels, samples, filterOf, colour === 3 ? [chunk("PLTE", palette), chunk("tRNS", trns)] : []);
      const img = decodePng(file, "test.png");
      for (let p = 0; p < w * h; p++) {
        const s = samples.subarray(p * channels, (p + 1) * channels);
        const want =
          colour === 0
            ? [s[0], s[0], s[0], 255]
            : colour === 4
              ? [s[0], s[0], s[0], s[1]]
              : colour === 2
                ? [s[0], s[1], s[2], 255]
                : colour === 6
                  ? [...s]
                  : [palette[3 * (s[0] as number)], palette[3 * (s[0] as number) + 1], palette[3 * (s[0] as number) + 2], (s[0] as number) < 2 ? trns[s[0] as number] : 255];
        expect([...img.rgba.subarray(p * 4, p * 4 + 4)], `colour ${colour} pixel ${p}`).toEqual(want);
      }
    }
  });

  it("refuses what it does not read, in one line naming the file", () => {
    expect(() => decodePng(Buffer.from("GIF89a...."), "a.png")).toThrow(/a\.png is not a PNG splitwatt can read \(no PNG signature\)/);
    const interlaced = png(4, 4, 2, 3, new Uint8Array(48), () => 0);
    interlaced[8 + 8 + 12] = 1; // IHDR's interlace byte (the CRC is not checked)
    expect(() => decodePng(interlaced, "i.png")).toThrow(/interlaced/);
    const cut = png(4, 4, 2, 3, new Uint8Array(48), () => 0).subarray(0, 40);
    expect(() => decodePng(cut, "c.png")).toThrow(/c\.png is not a PNG splitwatt can read \(its image data does not inflate/);
  });
});

describe(".npy files", () => {
  it("writeNpy writes numpy's format 1.0 (header padded to 64 bytes), which the one .npy parser reads back", () => {
    const data = seededFloats(2 * 3 * 4, 1);
    const bytes = writeNpy({ dtype: "float32", shape: [2, 3, 4], data });
    expect((bytes.length - data.byteLength) % 64).toBe(0);
    const a = parseNpy(bytes, "w.npy");
    expect(a).toMatchObject({ dtype: "f4", shape: [2, 3, 4] });
    expect(Float32Array.from(a.data)).toEqual(data);
    expect(() => parseNpy(bytes.subarray(0, bytes.length - 4), "s.npy")).toThrow(/s\.npy: .*needs 96 data bytes, the file has 92/);
  });
});

describe("an input directory", () => {
  let dir: string;
  let a: ModelAnalysis;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "sw-in-"));
    a = await analyzeModel(parseModel(bytesOf(model({ nodes: [node("Relu", ["x"], ["y"])], inputs: ["x"], outputs: ["y"], dims: ["N", 4], elemType: TensorProto_DataType.FLOAT })), "relu.onnx"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("gives one item per row, in file-name order, from .npy and .json; other files are counted as skipped", async () => {
    writeFileSync(join(dir, "b.npy"), writeNpy({ dtype: "float32", shape: [3, 4], data: Float32Array.from({ length: 12 }, (_, i) => i) }));
    writeFileSync(join(dir, "a.json"), JSON.stringify({ shape: [1, 4], data: [9, 8, 7, 6] }));
    writeFileSync(join(dir, "c.json"), JSON.stringify({ x: { shape: [1, 4], data: [1, 1, 1, 1] } }));
    writeFileSync(join(dir, "notes.txt"), "not an input");
    const listed = listInputDir(dir);
    expect(listed).toEqual({ files: ["a.json", "b.npy", "c.json"], skipped: 1 });
    const items = [];
    for await (const it of inputDirItems(dir, a, "tensors")) items.push({ name: it.name, x: [...(it.feeds.x?.data as Float32Array)], dims: it.feeds.x?.dims });
    expect(items).toEqual([
      { name: "a.json", x: [9, 8, 7, 6], dims: [1, 4] },
      { name: "b.npy#0", x: [0, 1, 2, 3], dims: [1, 4] },
      { name: "b.npy#1", x: [4, 5, 6, 7], dims: [1, 4] },
      { name: "b.npy#2", x: [8, 9, 10, 11], dims: [1, 4] },
      { name: "c.json", x: [1, 1, 1, 1], dims: [1, 4] },
    ]);
  });

  it("a wrong shape, a JPEG or an image for a model that takes tensors is a one-line error naming the file", async () => {
    const bad = mkdtempSync(join(tmpdir(), "sw-in-bad-"));
    try {
      const drain = async (kind: "tensors" | "paddle-cls-images"): Promise<unknown> => {
        try {
          for await (const _ of inputDirItems(bad, a, kind));
          return null;
        } catch (e) {
          return e;
        }
      };
      writeFileSync(join(bad, "w.json"), JSON.stringify({ shape: [1, 5], data: [1, 2, 3, 4, 5] }));
      expect(String(await drain("tensors"))).toMatch(/w\.json: input x has shape \[1,5\], the model takes \[N,4\]/);
      rmSync(join(bad, "w.json"));
      writeFileSync(join(bad, "p.jpg"), Buffer.from([0xff, 0xd8, 0xff]));
      expect(String(await drain("tensors"))).toMatch(/p\.jpg: JPEG is not decoded here .* convert it to PNG/);
      rmSync(join(bad, "p.jpg"));
      writeFileSync(join(bad, "i.png"), encodePng(new Uint8Array(16), 2, 2));
      expect(String(await drain("tensors"))).toMatch(/i\.png: images are read for paddle:cls only/);
      rmSync(join(bad, "i.png"));
      expect(() => listInputDir(bad)).toThrow(/has no \.png, \.npy or \.json inputs/);
      expect(() => listInputDir(join(bad, "nope"))).toThrow(/cannot read --stream .*nope \(ENOENT\)/);
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
