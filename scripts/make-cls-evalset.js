#!/usr/bin/env node
// Writes the text-direction classifier evaluation set (src/model/evalset) as PNG files plus
// labels.csv, so a person can look at it. Needs the compiled sources: run `npm run build:ts` first.
//
//   node scripts/make-cls-evalset.js OUTDIR [--count N] [--seed S] [--inputs]
//
// --inputs also writes, for every sample, the 192x48 image the model actually receives
// (PaddleOCR preprocessing undone: resized, right-padded with mid-grey).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { count: { type: "string" }, seed: { type: "string" }, inputs: { type: "boolean" }, help: { type: "boolean", short: "h" } },
});
if (values.help || positionals.length !== 1) {
  process.stderr.write("usage: node scripts/make-cls-evalset.js OUTDIR [--count N] [--seed S] [--inputs]\n");
  process.exit(values.help ? 0 : 2);
}
const toInt = (name, s) => {
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isInteger(v)) {
    process.stderr.write(`--${name} must be an integer, got ${s}\n`);
    process.exit(2);
  }
  return v;
};
const count = toInt("count", values.count);
const seed = toInt("seed", values.seed);

let ev;
try {
  ev = await import("../dist/model/evalset/index.js");
} catch (err) {
  process.stderr.write(`cannot load dist/model/evalset (run \`npm run build:ts\` first): ${err.message}\n`);
  process.exit(1);
}

const out = positionals[0];
mkdirSync(out, { recursive: true });
const t0 = performance.now();
const samples = ev.clsSamples({ count, seed });
const set = values.inputs ? ev.clsEvalSet({ count, seed }) : undefined;
const per = ev.CLS_C * ev.CLS_H * ev.CLS_W;
const csvField = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const rows = ["file,label,label_name,width,height,face,size_px,text"];
samples.forEach((s, i) => {
  const file = `${String(i).padStart(4, "0")}_${s.label === 0 ? "0" : "180"}.png`;
  writeFileSync(join(out, file), ev.encodePng(s.rgba, s.width, s.height));
  if (set) writeFileSync(join(out, file.replace(/\.png$/, ".input.png")), ev.encodePng(ev.clsInputToRgba(set.inputs, i * per), ev.CLS_W, ev.CLS_H));
  rows.push([file, s.label, s.label === 0 ? "0" : "180", s.width, s.height, s.face, s.sizePx.toFixed(2), csvField(s.text)].join(","));
});
writeFileSync(join(out, "labels.csv"), rows.join("\n") + "\n");
process.stdout.write(`wrote ${samples.length} images and labels.csv to ${out} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
