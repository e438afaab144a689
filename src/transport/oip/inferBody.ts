/**
 * The HTTP body of an inference request or response: a JSON object, optionally followed by
 * binary tensor data whose start is given by the Inference-Header-Content-Length header
 * (Triton's binary tensor data extension, adopted by KServe).
 */
import { OipError, malformed } from "./oipError.js";
import { isPlainObject } from "./parameters.js";

export const INFERENCE_HEADER_CONTENT_LENGTH = "Inference-Header-Content-Length";

export type HeaderMap = Record<string, string | string[] | undefined>;

/** Case-insensitive header lookup; a header given more than once is malformed. */
export function headerValue(headers: HeaderMap, name: string): string | undefined {
  const want = name.toLowerCase();
  let found: string | undefined;
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== want || v === undefined) continue;
    const vals = Array.isArray(v) ? v : [v];
    for (const x of vals) {
      if (found !== undefined) throw malformed(`${name} header given more than once`);
      found = x;
    }
  }
  return found;
}

export interface SplitBody {
  /** the parsed JSON object */
  json: Record<string, unknown>;
  /** its text, for a lossless re-parse */
  text: string;
  /** the bytes after the JSON object (a view into the body), or null when the header is absent */
  binary: Uint8Array | null;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function inferBody(body: Uint8Array, headers: HeaderMap, what: "request" | "response"): SplitBody {
  if (!(body instanceof Uint8Array)) throw new OipError(500, `inference ${what} body must be a Uint8Array`);
  const raw = headerValue(headers, INFERENCE_HEADER_CONTENT_LENGTH);
  let jsonBytes = body;
  let binary: Uint8Array | null = null;
  if (raw !== undefined) {
    const t = raw.trim();
    if (!/^\d{1,15}$/.test(t)) throw malformed(`${INFERENCE_HEADER_CONTENT_LENGTH} must be a non-negative integer, got ${JSON.stringify(raw.slice(0, 40))}`);
    const len = Number(t);
    if (len === 0) {
      throw malformed(
        `${INFERENCE_HEADER_CONTENT_LENGTH}: 0 (a raw binary ${what} without a JSON header) is not supported; send the JSON ${what} object before the binary data`,
      );
    }
    if (len > body.length) throw malformed(`${INFERENCE_HEADER_CONTENT_LENGTH} ${len} is larger than the ${body.length}-byte body`);
    jsonBytes = body.subarray(0, len);
    binary = body.subarray(len);
  }
  let text: string;
  try {
    text = utf8.decode(jsonBytes);
  } catch {
    throw malformed(`inference ${what} JSON is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw malformed(`inference ${what} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!isPlainObject(json)) throw malformed(`inference ${what} must be a JSON object`);
  return { json, text, binary };
}

/** UTF-8 bytes of a string; pure-ASCII text (the usual JSON) takes the much faster latin1 path. */
function utf8Bytes(text: string): Buffer {
  return Buffer.byteLength(text, "utf8") === text.length ? Buffer.from(text, "latin1") : Buffer.from(text, "utf8");
}

/**
 * Lays out an outgoing body. Without binary sections: the JSON alone, application/json. With
 * them: [JSON, ...sections] as separate chunks (for writev; nothing is copied), the JSON padded
 * with trailing spaces to a multiple of 8 bytes so the first section starts 8-byte aligned in the
 * receiver's buffer, Inference-Header-Content-Length, application/octet-stream.
 */
export function assembleBody(jsonText: string, sections: Uint8Array[] | null): { body: Uint8Array | Uint8Array[]; headers: Record<string, string> } {
  if (sections === null) {
    const body = utf8Bytes(jsonText);
    return { body, headers: { "Content-Type": "application/json", "Content-Length": String(body.length) } };
  }
  const jsonLen = Buffer.byteLength(jsonText, "utf8");
  const pad = (8 - (jsonLen % 8)) % 8;
  const head = utf8Bytes(pad === 0 ? jsonText : jsonText + " ".repeat(pad));
  let total = head.length;
  const chunks: Uint8Array[] = [head];
  for (const s of sections) {
    if (s.length === 0) continue;
    chunks.push(s);
    total += s.length;
  }
  return {
    body: chunks,
    headers: {
      "Content-Type": "application/octet-stream",
      [INFERENCE_HEADER_CONTENT_LENGTH]: String(head.length),
      "Content-Length": String(total),
    },
  };
}
