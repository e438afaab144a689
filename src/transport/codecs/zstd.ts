import { compress, decompress, init } from "@bokuweb/zstd-wasm";
import { CodecError } from "./codecError.js";

/**
 * Zstandard through @bokuweb/zstd-wasm (MIT; the zstd WebAssembly build ships inside the package,
 * nothing is downloaded at install). The wasm module is instantiated once, at import (top-level
 * await, a few ms), so compress/decompress are synchronous.
 */
await init();

/** zstd level used for `+zstd`: 3 is zstd's default, a speed/ratio middle ground. */
export const ZSTD_LEVEL = 3;

const MAGIC = 0xfd2fb528;

/**
 * The decompressed size declared in the header of the zstd frame at the start of `bytes`, or a
 * CodecError when the bytes do not start with a zstd frame, the header is truncated or reserved
 * bits are set, the frame needs a dictionary, or the size is not declared.
 * (RFC 8878 section 3.1.1.1: magic, Frame_Header_Descriptor, [Window_Descriptor], [Dictionary_ID],
 * [Frame_Content_Size].)
 */
export function zstdFrameContentSize(bytes: Uint8Array): number {
  if (bytes.length < 6) throw new CodecError(`zstd payload too short (${bytes.length} bytes) for a frame header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw new CodecError("zstd payload does not start with a zstd frame (bad magic number)");
  const fhd = bytes[4]!;
  const fcsFlag = fhd >>> 6;
  const singleSegment = (fhd >>> 5) & 1;
  const reserved = (fhd >>> 3) & 1;
  const didFlag = fhd & 3;
  if (reserved !== 0) throw new CodecError("zstd frame header has its reserved bit set");
  if (didFlag !== 0) throw new CodecError("zstd frame needs a dictionary; splitwatt payloads use none");
  const fcsSize = fcsFlag === 0 ? singleSegment : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (fcsSize === 0) throw new CodecError("zstd frame does not declare its decompressed size");
  const at = 5 + (singleSegment === 1 ? 0 : 1);
  if (bytes.length < at + fcsSize) throw new CodecError("zstd frame header is truncated");
  switch (fcsSize) {
    case 1:
      return bytes[at]!;
    case 2:
      return view.getUint16(at, true) + 256;
    case 4:
      return view.getUint32(at, true);
    default: {
      const hi = view.getUint32(at + 4, true);
      if (hi >= 0x200000) return Number.MAX_SAFE_INTEGER; // > 2^53: certainly too large
      return hi * 2 ** 32 + view.getUint32(at, true);
    }
  }
}

export const zstd = {
  compress(bytes: Uint8Array): Uint8Array {
    return compress(bytes, ZSTD_LEVEL);
  },
  /**
   * Decompresses one zstd frame that must hold exactly `expectedBytes`. The declared size is
   * checked before anything is allocated, and the decoder's output buffer is that size, so a frame
   * (or trailing frames) producing more fails instead of growing memory.
   */
  decompress(bytes: Uint8Array, expectedBytes: number): Uint8Array {
    const declared = zstdFrameContentSize(bytes);
    if (declared !== expectedBytes) throw new CodecError(`zstd frame declares ${declared} decompressed bytes, the tensor needs ${expectedBytes}`);
    let out: Uint8Array;
    try {
      out = decompress(bytes);
    } catch (e) {
      throw new CodecError(`zstd payload is corrupt: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (out.length !== expectedBytes) throw new CodecError(`zstd payload decompressed to ${out.length} bytes, the tensor needs ${expectedBytes}`);
    return out;
  },
};
