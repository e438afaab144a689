import { inflateSync } from "node:zlib";
import { CodecError } from "./codecError.js";
import type { Compression } from "./codecNames.js";
import { zstd } from "./zstd.js";

/**
 * Largest compressed payload accepted for `expectedBytes` of output: both formats expand
 * incompressible data by well under 1/256 plus a small header, so anything bigger is not a
 * compressed tensor of that size and is refused before any work.
 */
export function maxCompressedBytes(expectedBytes: number): number {
  return expectedBytes + Math.ceil(expectedBytes / 256) + 1024;
}

/** Output slack granted to zlib before it stops: overrunning by even this much proves a bad payload. */
const INFLATE_SLACK = 64;

/**
 * Decompresses a payload that must yield exactly `expectedBytes`. Memory stays bounded by
 * `expectedBytes` (+ a small slack): inflation stops as soon as the output would exceed it, and a
 * zstd frame must declare exactly that size before it is decoded. Any failure is a CodecError.
 */
export function decompressPayload(bytes: Uint8Array, compression: Compression, expectedBytes: number): Uint8Array {
  if (compression === "none") return bytes;
  const limit = maxCompressedBytes(expectedBytes);
  if (bytes.length > limit) throw new CodecError(`${compression} payload is ${bytes.length} bytes, more than the ${limit} a ${expectedBytes}-byte tensor can compress to`);
  if (compression === "zstd") return zstd.decompress(bytes, expectedBytes);
  let out: Buffer;
  let consumed: number;
  try {
    // `info: true` returns the engine too, to see how much input was consumed (trailing garbage)
    const r = inflateSync(bytes, { maxOutputLength: expectedBytes + INFLATE_SLACK, info: true }) as unknown as { buffer: Buffer; engine: { bytesWritten: number } };
    out = r.buffer;
    consumed = r.engine.bytesWritten;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") throw new CodecError(`deflate payload inflates to more than the ${expectedBytes} bytes the shape implies`, { cause: e });
    throw new CodecError(`deflate payload is corrupt: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  if (out.length !== expectedBytes) throw new CodecError(`deflate payload inflated to ${out.length} bytes, the tensor needs ${expectedBytes}`);
  if (consumed !== bytes.length) throw new CodecError(`deflate payload has ${bytes.length - consumed} trailing bytes after the compressed stream`);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}
