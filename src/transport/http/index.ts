/** The HTTP plumbing splitwatt's servers share (the tail server and the daemon): listen, auth, bodies, answers. */
export { answerError, drainBody, MAX_DRAIN_BYTES } from "./answerError.js";
export { BEARER_CHALLENGE, bearerAuth } from "./bearerAuth.js";
export { clientErrorAnswer, type ErrorAnswer } from "./clientErrorAnswer.js";
export { HttpError } from "./httpError.js";
export { lingeringClose } from "./lingeringClose.js";
export { closeHttp, listenHttp, type ListenOptions } from "./listenHttp.js";
export { contentLength, readBody, type ReadBodyOptions } from "./readBody.js";
export { readLines } from "./readLines.js";
export { sendResponse } from "./sendResponse.js";
