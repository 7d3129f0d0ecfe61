/** What the table needs of a session. */
export interface ExpiringSession {
  /** Last time (ms, from the table's clock) a datagram passed either way. */
  lastActive: number;
  /** Closes the session; `reason` goes to the access log. */
  close(reason?: string): void;
}

/** Options of {@link UdpSessionTable}. */
export interface UdpSessionTableOptions {
  readonly maxSessions: number;
  readonly idleMs: number;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
}

/**
 * UDP sessions by key, with an idle timeout and a size cap. A `Map` keeps
 * insertion order, and a session is moved to the end at most once per
 * second of activity, so the front is (to a second) the least recently used
 * without a list operation per datagram.
 */
export class UdpSessionTable<S extends ExpiringSession> {
  private readonly map = new Map<string, S>();
  private readonly moved = new WeakMap<S, number>();
  private readonly now: () => number;

  constructor(private readonly opts: UdpSessionTableOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.map.size;
  }

  /** The sessions, least recently used first. */
  values(): IterableIterator<S> {
    return this.map.values();
  }

  /** The session under `key`, if any. */
  get(key: string): S | undefined {
    return this.map.get(key);
  }

  /** Adds a session, evicting the least recently used one when full. */
  add(key: string, session: S): void {
    while (this.map.size >= this.opts.maxSessions) {
      const [oldKey, old] = this.map.entries().next().value as [string, S];
      this.map.delete(oldKey);
      old.close('session limit');
    }
    session.lastActive = this.now();
    this.moved.set(session, session.lastActive);
    this.map.set(key, session);
  }

  /** Marks activity on a session. Cheap: called per datagram. */
  touch(key: string, session: S): void {
    const t = this.now();
    session.lastActive = t;
    if (t - (this.moved.get(session) ?? 0) >= 1000) {
      this.moved.set(session, t);
      this.map.delete(key);
      this.map.set(key, session);
    }
  }

  /** Removes a session without closing it (it closed itself). */
  delete(key: string, session: S): void {
    if (this.map.get(key) === session) this.map.delete(key);
  }

  /** Closes sessions idle past the timeout; returns how many. */
  sweep(): number {
    const deadline = this.now() - this.opts.idleMs;
    let n = 0;
    for (const [key, s] of this.map) {
      if (s.lastActive > deadline) {
        // Order is LRU to within a second; a recently touched one means the rest are newer too, bar that second.
        if (s.lastActive > deadline + 1000) break;
        continue;
      }
      this.map.delete(key);
      s.close('idle timeout');
      n++;
    }
    return n;
  }

  /** Closes every session. */
  closeAll(reason: string): void {
    const all = [...this.map.values()];
    this.map.clear();
    for (const s of all) s.close(reason);
  }
}
