/** Open Inference Protocol (KServe v2 REST) wire format with Triton's binary tensor data extension. */
export {
  DATATYPES,
  DATATYPE_NAMES,
  allocateTypedArray,
  datatypeSize,
  datatypeToOrt,
  isDatatype,
  matchesDatatype,
  ortToDatatype,
  type Datatype,
  type DatatypeArrayMap,
  type DatatypeInfo,
  type FixedDatatype,
  type OrtTensorType,
  type TypedArray,
} from "./datatypes.js";
export { binaryOutputs } from "./binaryOutputs.js";
export { errorBody, parseErrorBody } from "./errorBody.js";
export { INFERENCE_HEADER_CONTENT_LENGTH, type HeaderMap } from "./inferBody.js";
export {
  BINARY_DATA,
  BINARY_DATA_OUTPUT,
  decodeInferRequest,
  encodeInferRequest,
  type DecodedRequest,
  type EncodedBody,
  type InferRequest,
  type RequestedOutput,
} from "./inferRequest.js";
export { decodeInferResponse, encodeInferResponse, type DecodedResponse, type InferResponse } from "./inferResponse.js";
export { E_PROTOCOL, OipError, type OipStatus } from "./oipError.js";
export type { OipParameters, OipTensor } from "./oipTensor.js";
export { BINARY_DATA_SIZE, type DecodeLimits } from "./tensorList.js";
