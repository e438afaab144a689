import { basename } from "node:path";

/** The API name of a MODEL spec: paddle:cls -> paddle-cls, a path -> its file name without .onnx (letters, digits, _ . - kept). */
export function defaultModelName(spec: string): string {
  const base = spec.includes("/") || /\.onnx$/i.test(spec) ? basename(spec).replace(/\.onnx$/i, "") : spec;
  return base.replace(/[^A-Za-z0-9_.-]+/g, "-") || "model";
}
