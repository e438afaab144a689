/** An HTTP answer decided by the server's own checks: the status, a one-line message for `{"error": ...}` and extra headers. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}
