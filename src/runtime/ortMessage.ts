/**
 * onnxruntime's error messages span several lines, and the useful part (which node, which
 * indices, which shape) is often after the first. Keep all of it on one line: lines trimmed,
 * empty ones dropped, joined with "; ", and the repeated "[ONNXRuntimeError] : N : KIND :"
 * prefix kept once.
 */
export function ortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  return lines.join("; ") || "no message";
}
