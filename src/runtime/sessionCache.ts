/**
 * Sessions kept by name in a least-recently-used cache bounded by the weight bytes of the
 * models they were created from (the tail server's `--cache-mb`, the daemon's heads).
 *
 * - A session loads on first use; concurrent users of a name share one load.
 * - A user holds a session from `acquire` to `release`; eviction never releases one in use and
 *   never waits for one still loading.
 * - After every acquire, idle sessions are released oldest first until the loaded weights fit
 *   the bound (the one just acquired stays, even alone over the bound).
 * - A failed load is forgotten, so the next acquire tries again.
 */
import type * as ort from "onnxruntime-node";

export interface CachedSession<M> {
  readonly session: ort.InferenceSession;
  /** what the loader attached (e.g. the served model's metadata) */
  readonly meta: M;
  /** weight bytes counted against the bound */
  readonly bytes: number;
}

interface Entry<M> extends CachedSession<M> {
  users: number;
  lastUsed: number;
}

export class SessionCache<M = undefined> {
  private readonly loading = new Map<string, Promise<Entry<M>>>();
  private readonly ready = new Map<string, Entry<M>>();

  constructor(
    /** bound on the weight bytes of loaded sessions */
    readonly maxBytes: number,
    private readonly load: (name: string) => Promise<CachedSession<M>>,
  ) {}

  /** The session for `name`, loaded if needed; pair with `release(name)`. */
  async acquire(name: string): Promise<CachedSession<M>> {
    let p = this.loading.get(name);
    if (p === undefined) {
      p = this.load(name).then((c) => ({ ...c, users: 0, lastUsed: performance.now() }));
      this.loading.set(name, p);
      p.catch(() => this.loading.delete(name));
    }
    const e = await p;
    e.users++;
    e.lastUsed = performance.now();
    this.ready.set(name, e);
    await this.evict(name);
    return e;
  }

  release(name: string): void {
    const e = this.ready.get(name);
    if (e === undefined) return;
    e.users = Math.max(0, e.users - 1);
    e.lastUsed = performance.now();
  }

  /** Run `f` with the session of `name` held. */
  async with<T>(name: string, f: (c: CachedSession<M>) => Promise<T>): Promise<T> {
    const c = await this.acquire(name);
    try {
      return await f(c);
    } finally {
      this.release(name);
    }
  }

  /** Names loaded or loading. */
  names(): string[] {
    return [...this.loading.keys()];
  }

  /** Weight bytes of the loaded sessions. */
  loadedBytes(): number {
    let total = 0;
    for (const e of this.ready.values()) total += e.bytes;
    return total;
  }

  private async evict(keep: string): Promise<void> {
    let total = this.loadedBytes();
    for (const [n, e] of [...this.ready].sort((x, y) => x[1].lastUsed - y[1].lastUsed)) {
      if (total <= this.maxBytes) break;
      if (n === keep || e.users > 0) continue;
      this.ready.delete(n);
      this.loading.delete(n);
      total -= e.bytes;
      await e.session.release();
    }
  }

  async close(): Promise<void> {
    for (const p of this.loading.values()) await (await p.catch(() => undefined))?.session.release();
    this.loading.clear();
    this.ready.clear();
  }
}
