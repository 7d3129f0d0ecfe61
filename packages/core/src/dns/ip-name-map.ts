import type { Clock } from './cache';

interface Mapping {
  readonly name: string;
  readonly expiresAt: number;
}

/**
 * `mode: mapping`: which name each address handed to a client was the answer
 * for, kept for the answer's TTL, at most `capacity` entries (least recently
 * answered or looked up dropped first). When two names share an address
 * (CDNs), the latest answer wins: that is the name the client just asked for.
 */
export class IpNameMap {
  private readonly entries = new Map<string, Mapping>();

  constructor(
    private readonly capacity: number,
    private readonly now: Clock = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Remembers that `address` was answered for `name`, for `ttl` seconds. */
  remember(address: string, name: string, ttl: number): void {
    this.entries.delete(address);
    this.entries.set(address, { name, expiresAt: this.now() + ttl * 1000 });
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** The name `address` was answered for, if its TTL has not run out. */
  lookup(address: string): string | undefined {
    const m = this.entries.get(address);
    if (!m) return undefined;
    if (this.now() >= m.expiresAt) {
      this.entries.delete(address);
      return undefined;
    }
    this.entries.delete(address);
    this.entries.set(address, m);
    return m.name;
  }
}
