/**
 * A lingering close for a connection whose client may still be sending when the answer ends (a
 * stream the server stops reading: the daemon shutting down, a line over the limit). Node closes
 * a `Connection: close` response's socket as soon as the answer is flushed (`destroySoon`); bytes
 * the client sends after that, or that were left unread, make the kernel reset the connection,
 * and a reset discards whatever the client had not read yet: the answer's last lines, its summary.
 *
 * So for such a socket `destroySoon` ends the server's side (the answer is complete: FIN), keeps
 * reading and discarding what still comes, and closes once the client closes its side or after
 * `lingerMs`, whichever is first. The returned promise resolves when the socket has closed.
 */
import type { Socket } from "node:net";

export function lingeringClose(socket: Socket, lingerMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => {
    if (socket.destroyed) resolve();
    else socket.once("close", () => resolve());
  });
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    if (this.writable) this.end();
    this.resume();
    const timer = setTimeout(() => this.destroy(), lingerMs);
    timer.unref();
    this.once("close", () => clearTimeout(timer));
  };
  return closed;
}
