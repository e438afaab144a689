/**
 * $inference_error_response (and the metadata error objects): `{ "error": $string }`, sent with
 * an HTTP error status (typically 400).
 */

/** The JSON body for an error response: `{"error":"<message>"}`, UTF-8. Send with Content-Type: application/json. */
export function errorBody(message: string): Uint8Array {
  return Buffer.from(JSON.stringify({ error: String(message) }), "utf8");
}

/** The message of a received error body, or undefined if it is not `{"error": string}`. */
export function parseErrorBody(body: Uint8Array): string | undefined {
  try {
    const v: unknown = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(body));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const e = (v as Record<string, unknown>).error;
      if (typeof e === "string") return e;
    }
  } catch {
    // not JSON
  }
  return undefined;
}
