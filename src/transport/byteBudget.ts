/**
 * A server-wide bound on request-body bytes held in memory across all connections. A request
 * takes its bytes before reading them (its Content-Length, or chunk by chunk when it sends
 * none) and gives them back when it is done; a request that does not fit is refused (503)
 * instead of buffered, so memory stays bounded however many large bodies arrive at once.
 */
export class ByteBudget {
  private usedBytes = 0;

  constructor(readonly limitBytes: number) {
    if (!(limitBytes > 0)) throw new RangeError(`byte budget must be > 0, got ${limitBytes}`);
  }

  get used(): number {
    return this.usedBytes;
  }

  /** Take `bytes` if they fit; false (nothing taken) otherwise. */
  tryTake(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
    this.usedBytes += bytes;
    return true;
  }

  give(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }
}
