import { SplitwattError } from "../../errors.js";

/**
 * A cut tensor that cannot be encoded or decoded: bad shape, payload size, codec parameters or
 * compressed stream. exitCode 2: the input (a request, a codec choice) is at fault.
 *
 * The CLI prints the code "E_CODEC".
 */
export class CodecError extends SplitwattError {
  static readonly CODE = "E_CODEC";
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(CodecError.CODE, message, { ...opts, exitCode: 2 });
  }
}
