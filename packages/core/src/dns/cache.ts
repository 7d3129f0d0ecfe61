import type { DnsCacheConfig } from '../config/dns';
import { inspectResponse, Rcode, reviseResponse, type ResponseInfo } from './wire';

interface Entry {
  readonly response: Buffer;
  readonly storedAt: number;
  readonly expiresAt: number;
}

/** A clock in milliseconds; tests pass their own. */
export type Clock = () => number;

/**
 * Responses by question, kept for their TTL (clamped to `min_ttl`/`max_ttl`),
 * NXDOMAIN and empty answers for the SOA's negative TTL (RFC 2308) or
 * `negative_ttl`; the least recently used entry goes first when full.
 * SERVFAIL and other errors are never kept.
 */
export class DnsCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly config: DnsCacheConfig,
    private readonly now: Clock = Date.now,
  ) {}

  /** The cache key of a question: name, type, class and the DNSSEC bits (they change the answer). */
  static key(name: string, type: number, qclass: number, dnssecOk: boolean, checkingDisabled: boolean): string {
    return `${name}|${type}|${qclass}|${dnssecOk ? 1 : 0}${checkingDisabled ? 1 : 0}`;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A stored response rewritten for `id` with its TTLs aged, or undefined when absent or expired. */
  get(key: string, id: number): Buffer | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    const now = this.now();
    if (now >= e.expiresAt) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return reviseResponse(e.response, id, Math.floor((now - e.storedAt) / 1000));
  }

  /** Keeps `response` if it is cacheable; `info` is its already-inspected content. */
  put(key: string, response: Buffer, info: ResponseInfo = inspectResponse(response)): void {
    if (this.config.size === 0 || info.truncated) return;
    const ttl = this.ttlOf(info);
    if (ttl === undefined || ttl <= 0) return;
    const now = this.now();
    this.entries.delete(key);
    this.entries.set(key, { response, storedAt: now, expiresAt: now + ttl * 1000 });
    while (this.entries.size > this.config.size) this.entries.delete(this.entries.keys().next().value as string);
  }

  private ttlOf(info: ResponseInfo): number | undefined {
    const { min_ttl: min, max_ttl: max, negative_ttl: negative } = this.config;
    const clamp = (t: number): number => Math.min(max, Math.max(min, t));
    if (info.rcode === Rcode.NXDOMAIN || (info.rcode === Rcode.NOERROR && info.minAnswerTtl === undefined)) {
      return clamp(info.soaTtl ?? negative);
    }
    if (info.rcode !== Rcode.NOERROR) return undefined;
    return clamp(info.minAnswerTtl!);
  }

  /** Forgets every entry. */
  clear(): void {
    this.entries.clear();
  }
}
