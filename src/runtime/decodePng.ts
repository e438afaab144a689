/**
 * A PNG decoder for input images (PNG 1.2, ISO/IEC 15948): 8-bit greyscale, grey + alpha, RGB,
 * RGBA and palette images, non-interlaced, every filter type; 16-bit samples keep their high
 * byte. Anything else (interlaced, 1/2/4-bit, a damaged file) is a one-line error. Returns
 * RGBA, 4 bytes a pixel, row-major.
 */
import { inflateSync } from "node:zlib";
import { UsageError } from "../errors.js";

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** channels per colour type */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** largest image decoded, pixels (a 16k x 16k image): a header cannot make this allocate more */
const MAX_PIXELS = 1 << 28;

export interface DecodedImage {
  width: number;
  height: number;
  rgba: Uint8Array;
}

export function isPng(bytes: Uint8Array): boolean {
  return SIGNATURE.every((b, i) => bytes[i] === b);
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(bytes: Uint8Array, name = "the image"): DecodedImage {
  const bad = (why: string): UsageError => new UsageError(`${name} is not a PNG splitwatt can read (${why}): give an 8-bit, non-interlaced PNG`);
  if (!isPng(bytes)) throw bad("no PNG signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  let depth = 0;
  let colour = -1;
  let palette: Uint8Array | null = null;
  let alphas: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  while (at + 8 <= bytes.length) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (data.length !== length) throw bad(`chunk ${type} is cut off`);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      depth = data[8] as number;
      colour = data[9] as number;
      if (data[12] !== 0) throw bad("interlaced");
    } else if (type === "PLTE") palette = data;
    else if (type === "tRNS") alphas = data;
    else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const channels = CHANNELS[colour];
  if (channels === undefined || width < 1 || height < 1) throw bad("no valid header");
  if (depth !== 8 && !(depth === 16 && colour !== 3)) throw bad(`${depth}-bit samples`);
  if (width * height > MAX_PIXELS) throw bad(`${width}x${height} is too large`);
  if (colour === 3 && palette === null) throw bad("a palette image without a palette");
  const bpp = (channels * depth) / 8;
  const stride = width * bpp;
  let raw: Uint8Array;
  try {
    raw = inflateSync(Buffer.concat(idat), { maxOutputLength: (stride + 1) * height });
  } catch (e) {
    throw bad(`its image data does not inflate: ${(e as Error).message}`);
  }
  if (raw.length < (stride + 1) * height) throw bad("its image data is short");
  // undo the filters, row by row, in place
  const px = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? px.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? (row[i - bpp] as number) : 0;
      const b = up === null ? 0 : (up[i] as number);
      const c = up !== null && i >= bpp ? (up[i - bpp] as number) : 0;
      const x = src[i] as number;
      let v: number;
      switch (filter) {
        case 0:
          v = x;
          break;
        case 1:
          v = x + a;
          break;
        case 2:
          v = x + b;
          break;
        case 3:
          v = x + ((a + b) >> 1);
          break;
        case 4:
          v = x + paeth(a, b, c);
          break;
        default:
          throw bad(`filter type ${filter} on row ${y}`);
      }
      row[i] = v & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  const step = depth / 8; // 16-bit: the high byte of each sample
  for (let p = 0; p < width * height; p++) {
    const s = p * bpp;
    const sample = (k: number): number => px[s + k * step] as number;
    let r: number;
    let g: number;
    let b: number;
    let a = 255;
    switch (colour) {
      case 0:
        r = g = b = sample(0);
        break;
      case 4:
        r = g = b = sample(0);
        a = sample(1);
        break;
      case 2:
        r = sample(0);
        g = sample(1);
        b = sample(2);
        break;
      case 6:
        r = sample(0);
        g = sample(1);
        b = sample(2);
        a = sample(3);
        break;
      default: {
        const i = px[s] as number;
        const pal = palette as Uint8Array;
        if (3 * i + 2 >= pal.length) throw bad(`palette index ${i} out of range`);
        r = pal[3 * i] as number;
        g = pal[3 * i + 1] as number;
        b = pal[3 * i + 2] as number;
        a = alphas !== null && i < alphas.length ? (alphas[i] as number) : 255;
      }
    }
    rgba.set([r, g, b, a], p * 4);
  }
  return { width, height, rgba };
}
