/**
 * Image requests for models with a registered preprocessing: an encoded PNG or JPEG is decoded
 * with sharp (libvips; prebuilt binaries come as npm packages) to RGBA, then turned into the
 * model's input tensor exactly as the model's own pipeline does; the model's output becomes a
 * class and a score.
 *
 *   paddle-cls  PaddleOCR's text-direction classifier (paddle:cls): preprocessCls (3 x 48 x 192,
 *               PaddleOCR's resize_norm_img), classes "0" (upright) and "180" (rotated), the
 *               score the softmax output of the chosen class
 */
import { CLS_C, CLS_H, CLS_W, preprocessCls } from "./evalset/preprocessCls.js";
import { UsageError } from "../errors.js";

export const IMAGE_PREPROCESSORS = ["paddle-cls"] as const;
export type ImagePreprocessorName = (typeof IMAGE_PREPROCESSORS)[number];

/** Largest image accepted, pixels (a decompression bomb is refused before it is decoded). */
export const MAX_IMAGE_PIXELS = 16 * 1024 * 1024;

/** A body that is not an image this accepts (PNG or JPEG), or one over the pixel limit. */
export class ImageInputError extends UsageError {
  constructor(
    message: string,
    /** 400 undecodable, 413 too many pixels, 415 another format */
    readonly status: 400 | 413 | 415,
  ) {
    super(message);
  }
}

export interface ImageClass {
  /** the class index (argmax of the output) */
  index: number;
  label: string;
  score: number;
  /** every class's score, by label */
  scores: Record<string, number>;
}

export interface ImagePreprocessor {
  name: ImagePreprocessorName;
  /** the model input it fills and its shape */
  input: { shape: number[] };
  /** PNG or JPEG bytes -> the input tensor's data (float32, shape `input.shape`), and the decoded size */
  tensor(image: Uint8Array): Promise<{ data: Float32Array; width: number; height: number; format: "png" | "jpeg" }>;
  /** the class of one output (the first output of the model, [1, classes]) */
  classify(scores: Float32Array): ImageClass;
}

/** The preprocessing registered for a model spec (as the CLI takes it), or null. */
export function preprocessorFor(modelSpec: string): ImagePreprocessorName | null {
  return modelSpec === "paddle:cls" ? "paddle-cls" : null;
}

/** PNG or JPEG bytes -> RGBA (sharp, loaded on first use). */
async function decodeImage(image: Uint8Array): Promise<{ rgba: Uint8Array; width: number; height: number; format: "png" | "jpeg" }> {
  const sharp = (await import("sharp")).default;
  let meta: { format?: string | undefined; width?: number | undefined; height?: number | undefined };
  try {
    meta = await sharp(image, { limitInputPixels: MAX_IMAGE_PIXELS }).metadata();
  } catch (err) {
    throw new ImageInputError(`the body is not an image that can be decoded (${(err as Error).message.split("\n")[0]}): send PNG or JPEG bytes`, 400);
  }
  if (meta.format !== "png" && meta.format !== "jpeg") throw new ImageInputError(`the body is ${meta.format ?? "an unknown"} image: send PNG or JPEG`, 415);
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > MAX_IMAGE_PIXELS) throw new ImageInputError(`the image is ${w}x${h} pixels, over the limit of ${MAX_IMAGE_PIXELS}: send a smaller crop`, 413);
  try {
    const { data, info } = await sharp(image, { limitInputPixels: MAX_IMAGE_PIXELS }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    return { rgba: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, format: meta.format };
  } catch (err) {
    throw new ImageInputError(`the ${meta.format.toUpperCase()} image cannot be decoded (${(err as Error).message.split("\n")[0]}): send a complete PNG or JPEG`, 400);
  }
}

function argmax(xs: Float32Array): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if ((xs[i] as number) > (xs[best] as number)) best = i;
  return best;
}

/** The preprocessing `name`. */
export function imagePreprocessor(name: ImagePreprocessorName): ImagePreprocessor {
  const labels = ["0", "180"];
  return {
    name,
    input: { shape: [1, CLS_C, CLS_H, CLS_W] },
    async tensor(image) {
      const d = await decodeImage(image);
      return { data: preprocessCls(d.rgba, d.width, d.height), width: d.width, height: d.height, format: d.format };
    },
    classify(scores) {
      const index = argmax(scores);
      return {
        index,
        label: labels[index] ?? String(index),
        score: scores[index] as number,
        scores: Object.fromEntries([...scores].map((s, i) => [labels[i] ?? String(i), s])),
      };
    },
  };
}
