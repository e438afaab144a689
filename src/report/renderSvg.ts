/**
 * A vega-lite specification rendered to an SVG string in Node: vega-lite compiles it to vega,
 * vega's headless View renders it with its SVG renderer (no canvas, no DOM, no network: the
 * specs carry their data inline and the loader is never asked for anything).
 */
import { parse, View } from "vega";
import { compile } from "vega-lite";
import type { ChartSpec } from "./chartSpecs.js";

export async function renderSvg(spec: ChartSpec): Promise<string> {
  const vg = compile(spec).spec;
  const view = new View(parse(vg), { renderer: "none", loader: { load: async () => Promise.reject(new Error("charts carry their data inline")) } as never });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
