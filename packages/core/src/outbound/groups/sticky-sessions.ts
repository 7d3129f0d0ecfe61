/** One remembered choice and when it stops counting. */
interface StickyEntry {
  member: string;
  expires: number;
}

/**
 * Which member a source and destination were sent to, kept for `ttlMs`
 * after the last flow that used it. Bounded: past {@link maxEntries} the
 * oldest entry goes (a Map keeps insertion order, and a hit moves its entry
 * to the end), so hostile traffic cannot grow it without limit.
 */
export class StickySessions {
  private readonly entries = new Map<string, StickyEntry>();

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 65_536,
    private readonly now: () => number = Date.now,
  ) {}

  /** The member `key` is kept on, if it has not expired. */
  get(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.member;
  }

  /** Keeps `key` on `member` for another `ttlMs`. */
  set(key: string, member: string): void {
    this.entries.delete(key);
    this.entries.set(key, { member, expires: this.now() + this.ttlMs });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}
