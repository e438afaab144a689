/** The cut-tensor codecs and compressions (codecs.ts), as types every codec module can import. */
export type CodecName = "raw" | "fp16" | "int8" | "int8-channel";
export type Compression = "none" | "deflate" | "zstd";
