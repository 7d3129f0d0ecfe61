import ipaddr from 'ipaddr.js';
import { parseCidr } from '../config/net';

/** The entries of one family's pool, oldest first: what the store file keeps. */
export type FakeIpEntries = readonly (readonly [address: string, name: string])[];

function toBigInt(bytes: readonly number[]): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBigInt(n: bigint, length: number): string {
  const bytes = new Array<number>(length);
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** The canonical text of an address (as the pool stores it), or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  try {
    const a = ipaddr.parse(text);
    return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address().toString() : a.toString();
  } catch {
    return undefined;
  }
}

/**
 * One family's fake addresses: handed out in order from the range's second
 * address (the first and, for IPv4, the last are skipped), one per name. When
 * every address is taken, or `capacity` is reached, the least recently used
 * name gives up its address (the cursor wraps around to it).
 */
export class FakeIpRange {
  readonly family: 4 | 6;
  private readonly base: bigint;
  private readonly length: number;
  /** How many addresses may be handed out at once. */
  readonly capacity: number;
  private cursor = 0;
  private readonly byAddress = new Map<string, string>();
  private readonly byName = new Map<string, string>();

  constructor(
    readonly cidr: string,
    maxEntries: number,
  ) {
    const c = parseCidr(cidr);
    if (!c) throw new Error(`invalid fake-IP range ${cidr}`);
    this.family = c.family;
    this.length = c.family === 4 ? 4 : 16;
    const bits = (c.family === 4 ? 32 : 128) - c.prefix;
    this.base = toBigInt(Array.from(c.bytes)) & ~((1n << BigInt(bits)) - 1n);
    const usable = (1n << BigInt(bits)) - (c.family === 4 ? 2n : 1n);
    this.capacity = Number(usable < BigInt(maxEntries) ? usable : BigInt(maxEntries));
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** Whether `address` (canonical) lies in this range. */
  contains(address: string): boolean {
    try {
      const a = ipaddr.parse(address);
      if ((a.kind() === 'ipv4' ? 4 : 6) !== this.family) return false;
      const n = toBigInt(a.toByteArray());
      return n >= this.base && n < this.base + (1n << BigInt(this.length * 8 - this.prefixBits()));
    } catch {
      return false;
    }
  }

  private prefixBits(): number {
    return parseCidr(this.cidr)!.prefix;
  }

  /** The fake address of `name`, handing out a new one when it has none. */
  allocate(name: string): string {
    const known = this.byName.get(name);
    if (known !== undefined) {
      this.touch(known, name);
      return known;
    }
    let address: string;
    if (this.byAddress.size >= this.capacity) {
      const [oldAddress, oldName] = this.byAddress.entries().next().value as [string, string];
      this.byAddress.delete(oldAddress);
      this.byName.delete(oldName);
      address = oldAddress;
    } else {
      // Skip addresses still held (after a wrap, or restored from the store).
      do {
        address = fromBigInt(this.base + 1n + BigInt(this.cursor), this.length);
        this.cursor = (this.cursor + 1) % this.capacity;
      } while (this.byAddress.has(address));
    }
    this.byAddress.set(address, name);
    this.byName.set(name, address);
    return address;
  }

  /** The name `address` was handed out for. */
  lookup(address: string): string | undefined {
    const name = this.byAddress.get(address);
    if (name !== undefined) this.touch(address, name);
    return name;
  }

  private touch(address: string, name: string): void {
    this.byAddress.delete(address);
    this.byAddress.set(address, name);
  }

  /** Oldest first. */
  entries(): FakeIpEntries {
    return [...this.byAddress.entries()];
  }

  /** Restores entries saved by {@link FakeIpRange.entries}; those outside the range or past capacity are dropped. */
  restore(entries: FakeIpEntries): void {
    for (const [address, name] of entries) {
      const a = canonicalIp(address);
      if (a === undefined || !this.contains(a) || typeof name !== 'string' || this.byName.has(name)) continue;
      if (this.byAddress.size >= this.capacity) break;
      this.byAddress.set(a, name);
      this.byName.set(name, a);
    }
    // Continue after the highest restored address, so fresh names do not take the oldest ones first.
    let highest = -1;
    for (const a of this.byAddress.keys()) highest = Math.max(highest, Number(toBigInt(ipaddr.parse(a).toByteArray()) - this.base - 1n));
    this.cursor = (highest + 1) % this.capacity;
  }
}
