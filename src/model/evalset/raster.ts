/**
 * Anti-aliased scanline fill of flattened outlines (non-zero winding, the TrueType fill rule).
 * Horizontal coverage is exact (span ends are split over pixels by area); vertical coverage is
 * sampled with `sub` scanlines per pixel row. Plain arithmetic only: the result is bit-identical
 * on every platform.
 */

import type { PathCommand } from "opentype.js";

/** A growable list of line segments x0,y0,x1,y1 (pixel units, y down). */
export class EdgeList {
  data: number[] = [];
  add(x0: number, y0: number, x1: number, y1: number): void {
    if (y0 !== y1) this.data.push(x0, y0, x1, y1);
  }
  get count(): number {
    return this.data.length / 4;
  }
  /** Moves every edge by (dx, dy), in place. */
  translate(dx: number, dy: number): void {
    const d = this.data;
    for (let i = 0; i < d.length; i += 2) {
      d[i] = (d[i] as number) + dx;
      d[i + 1] = (d[i + 1] as number) + dy;
    }
  }
}

/** Outline commands as opentype.js produces them (absolute coordinates, y down). */
export type OutlineCommand = PathCommand;

const dist = (ax: number, ay: number, bx: number, by: number): number => Math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));

function segmentsFor(len: number): number {
  // about one segment per 1.5 px of control-polygon length, 2..32
  return Math.min(32, Math.max(2, Math.ceil(len / 1.5)));
}

/** Flattens closed outlines (curves to line segments), translated by (dx, dy), into `out`. */
export function flattenOutline(cmds: readonly OutlineCommand[], dx: number, dy: number, out: EdgeList): void {
  let sx = 0, sy = 0; // subpath start
  let cx = 0, cy = 0; // current point
  let open = false;
  const close = (): void => {
    if (open && (cx !== sx || cy !== sy)) out.add(cx, cy, sx, sy);
    cx = sx;
    cy = sy;
    open = false;
  };
  /** n straight segments from the current point along a Bezier curve ending exactly at (x, y). */
  const curve = (n: number, x: number, y: number, at: (t: number, u: number) => [number, number]): void => {
    let px = cx, py = cy;
    for (let i = 1; i <= n; i++) {
      const [qx, qy] = i === n ? [x, y] : at(i / n, 1 - i / n);
      out.add(px, py, qx, qy);
      px = qx;
      py = qy;
    }
    cx = x;
    cy = y;
  };
  for (const c of cmds) {
    const x = (c.x ?? 0) + dx, y = (c.y ?? 0) + dy;
    switch (c.type) {
      case "M":
        close();
        sx = cx = x;
        sy = cy = y;
        open = true;
        break;
      case "L":
        out.add(cx, cy, x, y);
        cx = x;
        cy = y;
        break;
      case "Q": {
        const x1 = (c.x1 ?? 0) + dx, y1 = (c.y1 ?? 0) + dy;
        const [x0, y0] = [cx, cy];
        curve(segmentsFor(dist(x0, y0, x1, y1) + dist(x1, y1, x, y)), x, y, (t, u) => [u * u * x0 + 2 * u * t * x1 + t * t * x, u * u * y0 + 2 * u * t * y1 + t * t * y]);
        break;
      }
      case "C": {
        const x1 = (c.x1 ?? 0) + dx, y1 = (c.y1 ?? 0) + dy;
        const x2 = (c.x2 ?? 0) + dx, y2 = (c.y2 ?? 0) + dy;
        const [x0, y0] = [cx, cy];
        curve(segmentsFor(dist(x0, y0, x1, y1) + dist(x1, y1, x2, y2) + dist(x2, y2, x, y)), x, y, (t, u) => [
          u * u * u * x0 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t * t * t * x,
          u * u * u * y0 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y,
        ]);
        break;
      }
      case "Z":
        close();
        break;
    }
  }
  close();
}

/**
 * Coverage in [0, 1] of each pixel of a width x height image by the filled edges (non-zero rule),
 * `sub` sample scanlines per pixel row.
 */
export function rasterize(edges: EdgeList, width: number, height: number, sub = 5): Float32Array {
  const cov = new Float32Array(width * height);
  const n = edges.count;
  const e = edges.data;
  // edge records sorted by top y
  const order = Array.from({ length: n }, (_, i) => i);
  const top = (i: number): number => Math.min(e[4 * i + 1] as number, e[4 * i + 3] as number);
  const bot = (i: number): number => Math.max(e[4 * i + 1] as number, e[4 * i + 3] as number);
  order.sort((p, q) => top(p) - top(q) || p - q);
  let nextEdge = 0;
  let active: number[] = [];
  const xs: number[] = [];
  const ws: number[] = [];
  const weight = 1 / sub;
  for (let row = 0; row < height; row++) {
    for (let s = 0; s < sub; s++) {
      const yc = row + (s + 0.5) / sub;
      while (nextEdge < n && top(order[nextEdge] as number) <= yc) active.push(order[nextEdge++] as number);
      active = active.filter((i) => bot(i) > yc);
      if (active.length === 0) continue;
      xs.length = 0;
      ws.length = 0;
      for (const i of active) {
        const x0 = e[4 * i] as number, y0 = e[4 * i + 1] as number, x1 = e[4 * i + 2] as number, y1 = e[4 * i + 3] as number;
        // half-open in y: [min, max)
        if (yc < Math.min(y0, y1) || yc >= Math.max(y0, y1)) continue;
        xs.push(x0 + ((yc - y0) * (x1 - x0)) / (y1 - y0));
        ws.push(y1 > y0 ? 1 : -1);
      }
      // sort crossings by x (insertion sort: few crossings per scanline)
      for (let a = 1; a < xs.length; a++) {
        const xv = xs[a] as number, wv = ws[a] as number;
        let b = a - 1;
        while (b >= 0 && (xs[b] as number) > xv) {
          xs[b + 1] = xs[b] as number;
          ws[b + 1] = ws[b] as number;
          b--;
        }
        xs[b + 1] = xv;
        ws[b + 1] = wv;
      }
      let wind = 0;
      const base = row * width;
      for (let k = 0; k < xs.length - 1; k++) {
        wind += ws[k] as number;
        if (wind === 0) continue;
        addSpan(cov, base, width, xs[k] as number, xs[k + 1] as number, weight);
      }
    }
  }
  for (let i = 0; i < cov.length; i++) if ((cov[i] as number) > 1) cov[i] = 1;
  return cov;
}

function addSpan(cov: Float32Array, base: number, width: number, xa: number, xb: number, w: number): void {
  if (xa < 0) xa = 0;
  if (xb > width) xb = width;
  if (xb <= xa) return;
  const ia = Math.floor(xa), ib = Math.floor(xb);
  if (ia === ib) {
    cov[base + ia] = (cov[base + ia] as number) + (xb - xa) * w;
    return;
  }
  cov[base + ia] = (cov[base + ia] as number) + (ia + 1 - xa) * w;
  for (let i = ia + 1; i < ib; i++) cov[base + i] = (cov[base + i] as number) + w;
  if (ib < width) cov[base + ib] = (cov[base + ib] as number) + (xb - ib) * w;
}
