import { deflateSync } from "node:zlib";
import type { Compression } from "./codecNames.js";
import { zstd } from "./zstd.js";

/** zlib level used for `+deflate`: 1 (fastest); on quantized activations higher levels buy a few % of size for several times the CPU. */
export const DEFLATE_LEVEL = 1;

/**
 * Compresses a payload. `deflate` is the zlib format (RFC 1950 header + RFC 1951 stream + Adler-32,
 * the HTTP "deflate" content coding); `zstd` is one zstd frame (RFC 8878) with its content size.
 */
export function compressPayload(bytes: Uint8Array, compression: Compression): Uint8Array {
  switch (compression) {
    case "none":
      return bytes;
    case "deflate": {
      const b = deflateSync(bytes, { level: DEFLATE_LEVEL });
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    }
    case "zstd":
      return zstd.compress(bytes);
  }
}
