/** Seeded text-line images: dark text on a light, slightly uneven, noisy background. */
import { FACES, type FaceSpec, faceName, layoutLine } from "./font.js";
import { makeRng, type Rng } from "./prng.js";
import { rasterize } from "./raster.js";
import { textLine } from "./textgen.js";

export interface TextLineImage {
  /** RGBA, row-major, opaque */
  rgba: Uint8Array;
  width: number;
  height: number;
  text: string;
  /** e.g. "roboto-latin-400-normal" */
  face: string;
  /** font size in pixels per em */
  sizePx: number;
}

function pickFace(rng: Rng): FaceSpec {
  const weight = rng.pick([300, 400, 400, 400, 500, 700, 700] as const);
  const style = rng.chance(0.15) ? "italic" : "normal";
  const f = FACES.find((x) => x.weight === weight && x.style === style);
  if (f === undefined) throw new Error(`no face ${weight} ${style}`);
  return f;
}

/** 3x3 binomial blur of a coverage map (edge pixels replicated). */
function blur3(cov: Float32Array, w: number, h: number): Float32Array {
  const tmp = new Float32Array(cov.length), out = new Float32Array(cov.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const l = cov[y * w + (x > 0 ? x - 1 : x)] as number, c = cov[y * w + x] as number, r = cov[y * w + (x < w - 1 ? x + 1 : x)] as number;
      tmp[y * w + x] = (l + 2 * c + r) / 4;
    }
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const u = tmp[(y > 0 ? y - 1 : y) * w + x] as number, c = tmp[y * w + x] as number, d = tmp[(y < h - 1 ? y + 1 : y) * w + x] as number;
      out[y * w + x] = (u + 2 * c + d) / 4;
    }
  return out;
}

const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/** Renders one random text line with `rng` (the whole image, colours and noise come from it). */
export function renderTextLine(rng: Rng): TextLineImage {
  const text = textLine(rng);
  const face = pickFace(rng);
  const sizePx = rng.uniform(12, 44);
  const tracking = rng.chance(0.2) ? rng.uniform(-0.02, 0.08) : 0;
  const line = layoutLine(face, text, sizePx, tracking);
  // a detector-like crop: the ink box plus small, independent margins on each side
  const ml = rng.uniform(0.05, 0.6) * sizePx, mr = rng.uniform(0.05, 0.6) * sizePx;
  const mt = rng.uniform(0.05, 0.35) * sizePx, mb = rng.uniform(0.05, 0.35) * sizePx;
  const width = Math.max(1, Math.ceil(line.x1 - line.x0 + ml + mr));
  const height = Math.max(1, Math.ceil(line.y1 - line.y0 + mt + mb));
  line.edges.translate(ml - line.x0, mt - line.y0);
  let cov = rasterize(line.edges, width, height, 5);
  if (rng.chance(0.3)) cov = blur3(cov, width, height);

  const bg = rng.int(175, 250), ink = rng.int(0, 85);
  const bgC = [bg + rng.int(-10, 5), bg + rng.int(-10, 5), bg + rng.int(-10, 5)];
  const inkC = [ink + rng.int(-5, 15), ink + rng.int(-5, 15), ink + rng.int(-5, 15)];
  const gradX = rng.uniform(-20, 20), gradY = rng.uniform(-10, 10);
  const sigma = rng.uniform(0, 7);
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const c = cov[p] as number;
      const shade = gradX * (x / width - 0.5) + gradY * (y / height - 0.5);
      const noise = sigma * rng.normal();
      for (let k = 0; k < 3; k++) {
        const b = (bgC[k] as number) + shade;
        rgba[4 * p + k] = clamp255(b + ((inkC[k] as number) - b) * c + noise);
      }
      rgba[4 * p + 3] = 255;
    }
  }
  return { rgba, width, height, text, face: faceName(face), sizePx };
}

/** The image turned by 180 degrees (pixel order reversed). */
export function rotate180(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  const out = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    const q = n - 1 - p;
    out[4 * q] = rgba[4 * p] as number;
    out[4 * q + 1] = rgba[4 * p + 1] as number;
    out[4 * q + 2] = rgba[4 * p + 2] as number;
    out[4 * q + 3] = rgba[4 * p + 3] as number;
  }
  return out;
}

export interface ClsSample extends TextLineImage {
  /** 0 = upright ("0"), 1 = rotated by 180 degrees ("180") */
  label: 0 | 1;
}

export const DEFAULT_COUNT = 400;
export const DEFAULT_SEED = 1;

/**
 * `count` labelled samples: sample 2k is text line k upright (label 0), sample 2k + 1 is the same
 * image turned by 180 degrees (label 1). Line k depends only on (seed, k), so a larger count keeps
 * the earlier samples.
 */
export function clsSamples(opts: { count?: number | undefined; seed?: number | undefined } = {}): ClsSample[] {
  const count = opts.count ?? DEFAULT_COUNT;
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`count must be a positive integer, got ${count}`);
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  const out: ClsSample[] = [];
  for (let k = 0; 2 * k < count; k++) {
    const img = renderTextLine(makeRng(seed, k));
    out.push({ ...img, label: 0 });
    if (2 * k + 1 < count) out.push({ ...img, rgba: rotate180(img.rgba, img.width, img.height), label: 1 });
  }
  return out;
}
