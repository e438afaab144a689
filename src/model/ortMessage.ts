/**
 * An onnxruntime error's message on one line: every non-empty line, trimmed, joined with "; ".
 * onnxruntime puts the useful part after the first line ("... for the following indices" then
 * the indices), so cutting at the first newline loses it.
 */
export function ortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "")
    .join("; ");
}
