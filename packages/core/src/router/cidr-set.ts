import { parseCidr, parseIPv4, parseIPv6 } from '../config/net';

type Range<T> = [start: T, end: T];

/** Sorts ranges and joins overlapping or touching ones, so a lookup needs one binary search. */
function merge<T extends number | bigint>(ranges: Range<T>[], succ: (x: T) => T): Range<T>[] {
  ranges.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: Range<T>[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= succ(last[1])) {
      if (r[1] > last[1]) last[1] = r[1];
    } else {
      out.push([r[0], r[1]]);
    }
  }
  return out;
}

function u32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

function u128(b: Uint8Array): bigint {
  let n = 0n;
  for (const byte of b) n = (n << 8n) | BigInt(byte);
  return n;
}

/** `::ffff:0:0/96`, where the kernel and Node put IPv4 addresses seen by an IPv6 socket. */
function isMapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

const MASK64 = (1n << 64n) - 1n;
/** Reused by every lookup: `has` is synchronous, so one buffer is enough. */
const SCRATCH = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * An immutable set of IPv4 and IPv6 prefixes with O(log n) lookup: the
 * prefixes are merged into sorted, non-overlapping address ranges (IPv4 as
 * uint32, IPv6 as two 64-bit halves) and searched by bisection, so a
 * lookup in a large set is not a scan.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are looked up in the IPv4
 * ranges, and `::ffff:a.b.c.d/n` prefixes (n ≥ 96) are stored there too.
 */
export class CidrSet {
  private readonly v4Start: Uint32Array;
  private readonly v4End: Uint32Array;
  private readonly v6StartHi: BigUint64Array;
  private readonly v6StartLo: BigUint64Array;
  private readonly v6EndHi: BigUint64Array;
  private readonly v6EndLo: BigUint64Array;

  private constructor(v4: Range<number>[], v6: Range<bigint>[]) {
    this.v4Start = Uint32Array.from(v4, (r) => r[0]);
    this.v4End = Uint32Array.from(v4, (r) => r[1]);
    this.v6StartHi = BigUint64Array.from(v6, (r) => r[0] >> 64n);
    this.v6StartLo = BigUint64Array.from(v6, (r) => r[0] & MASK64);
    this.v6EndHi = BigUint64Array.from(v6, (r) => r[1] >> 64n);
    this.v6EndLo = BigUint64Array.from(v6, (r) => r[1] & MASK64);
  }

  /**
   * Builds a set from CIDRs or bare addresses (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.1`).
   *
   * @throws {TypeError} on the first entry that is not a CIDR.
   */
  static from(cidrs: Iterable<string>): CidrSet {
    // IPv4 prefixes as one number each (start × 64 + length), sorted natively: no tuple and no comparator per entry.
    const v4Keys: number[] = [];
    const v6: Range<bigint>[] = [];
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (!c) throw new TypeError(`invalid CIDR "${text}"`);
      if (c.family === 4 || (c.prefix >= 96 && isMapped(c.bytes))) {
        const prefix = c.family === 4 ? c.prefix : c.prefix - 96;
        v4Keys.push(u32(c.bytes, c.bytes.length - 4) * 64 + prefix);
      } else {
        const start = u128(c.bytes);
        v6.push([start, start | ((1n << BigInt(128 - c.prefix)) - 1n)]);
      }
    }
    const sorted = Float64Array.from(v4Keys).sort();
    const v4: Range<number>[] = [];
    for (const key of sorted) {
      const prefix = key % 64;
      const start = (key - prefix) / 64;
      const end = start + 2 ** (32 - prefix) - 1;
      const last = v4[v4.length - 1];
      if (last && start <= last[1] + 1) {
        if (end > last[1]) last[1] = end;
      } else {
        v4.push([start, end]);
      }
    }
    return new CidrSet(v4, merge(v6, (x) => x + 1n));
  }

  /** Number of merged ranges per family (adjacent and overlapping prefixes collapse). */
  get rangeCount(): { v4: number; v6: number } {
    return { v4: this.v4Start.length, v6: this.v6StartHi.length };
  }

  /** True when `address` (an IPv4 or IPv6 literal) lies in the set; false for anything unparsable. */
  has(address: string): boolean {
    const v4 = parseIPv4(address);
    if (v4 >= 0) return this.hasV4(v4);
    if (!address.includes(':')) return false;
    const parts = SCRATCH;
    if (!parseIPv6(address, parts)) return false;
    if (parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff) {
      return this.hasV4(parts[6] * 0x10000 + parts[7]);
    }
    const hi = (BigInt(parts[0] * 0x10000 + parts[1]) << 32n) | BigInt(parts[2] * 0x10000 + parts[3]);
    const lo = (BigInt(parts[4] * 0x10000 + parts[5]) << 32n) | BigInt(parts[6] * 0x10000 + parts[7]);
    return this.hasV6(hi, lo);
  }

  /** Lookup of an IPv4 address given as an unsigned 32-bit number. */
  hasV4(addr: number): boolean {
    const starts = this.v4Start;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= addr) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found >= 0 && addr <= this.v4End[found];
  }

  /** Lookup of an IPv6 address given as its high and low 64-bit halves. */
  hasV6(addrHi: bigint, addrLo: bigint): boolean {
    const sHi = this.v6StartHi;
    const sLo = this.v6StartLo;
    let lo = 0;
    let hi = sHi.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (sHi[mid] < addrHi || (sHi[mid] === addrHi && sLo[mid] <= addrLo)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (found < 0) return false;
    const eHi = this.v6EndHi[found];
    return addrHi < eHi || (addrHi === eHi && addrLo <= this.v6EndLo[found]);
  }
}
