/**
 * Roboto (SIL OFL 1.1, from the npm package @fontsource/roboto; see NOTICE.md beside this file),
 * parsed with opentype.js (MIT). Nothing is read from the system or the network.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import opentype, { type Font } from "opentype.js";
import { EdgeList, flattenOutline } from "./raster.js";

export interface FaceSpec {
  weight: 300 | 400 | 500 | 700;
  style: "normal" | "italic";
}

/** The Roboto faces the renderer draws with (latin subset, WOFF 1.0). */
export const FACES: readonly FaceSpec[] = [300, 400, 500, 700].flatMap((weight) =>
  (["normal", "italic"] as const).map((style) => ({ weight: weight as FaceSpec["weight"], style })),
);

const require = createRequire(import.meta.url);
const cache = new Map<string, Font>();

export function faceName(f: FaceSpec): string {
  return `roboto-latin-${f.weight}-${f.style}`;
}

/** Path of a face's font file inside node_modules/@fontsource/roboto. */
export function facePath(f: FaceSpec): string {
  return require.resolve(`@fontsource/roboto/files/${faceName(f)}.woff`);
}

function loadFace(f: FaceSpec): Font {
  const key = faceName(f);
  let font = cache.get(key);
  if (font === undefined) {
    const buf = readFileSync(facePath(f));
    font = opentype.parse(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
    cache.set(key, font);
  }
  return font;
}

export interface LaidOutLine {
  /** outline edges in pixels, pen starting at x = 0 on the baseline y = 0 (y down) */
  edges: EdgeList;
  /** bounding box of the edges (ink box), pixels */
  x0: number;
  y0: number;
  x1: number;
  y1: number;
  /** pen advance after the last glyph */
  advance: number;
}

/**
 * Lays out one line of text glyph by glyph (advance widths, pair kerning where the font has it,
 * extra tracking in em) and flattens the outlines. No shaping: Latin text needs none, and
 * opentype.js's GSUB support does not cover Roboto's contextual lookups.
 */
export function layoutLine(face: FaceSpec, text: string, sizePx: number, trackingEm = 0): LaidOutLine {
  const font = loadFace(face);
  const scale = sizePx / font.unitsPerEm;
  const edges = new EdgeList();
  let pen = 0;
  let prev: ReturnType<Font["charToGlyph"]> | undefined;
  for (const ch of text) {
    const g = font.charToGlyph(ch);
    if (prev !== undefined) {
      let kern = 0;
      try {
        kern = font.getKerningValue(prev, g);
      } catch {
        kern = 0;
      }
      pen += kern * scale;
    }
    flattenOutline(g.getPath(0, 0, sizePx).commands, pen, 0, edges);
    pen += (g.advanceWidth ?? 0) * scale + trackingEm * sizePx;
    prev = g;
  }
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  const d = edges.data;
  for (let i = 0; i < d.length; i += 2) {
    const x = d[i] as number, y = d[i + 1] as number;
    if (x < x0) x0 = x;
    if (x > x1) x1 = x;
    if (y < y0) y0 = y;
    if (y > y1) y1 = y;
  }
  if (edges.count === 0) x0 = y0 = x1 = y1 = 0;
  return { edges, x0, y0, x1, y1, advance: pen };
}
