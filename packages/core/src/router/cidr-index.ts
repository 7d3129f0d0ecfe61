import { parseCidr, parseIPv4, parseIPv6 } from '../config/net';

const NONE = Number.POSITIVE_INFINITY;
/** Reused by every lookup: lookups are synchronous. */
const PARTS = [0, 0, 0, 0, 0, 0, 0, 0];

/** The 8 16-bit groups of an IPv6 address kept to `len` bits, as a map key. */
function v6Key(parts: readonly number[], len: number): string {
  let key = '';
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, len - i * 16));
    key += `${keep === 0 ? 0 : (parts[i] >>> (16 - keep)) << (16 - keep)}:`;
  }
  return key;
}

/**
 * Prefixes labelled with numbers (rule positions): `lowest(address)` is the
 * smallest label among the prefixes that contain the address. One hash map
 * per prefix length, so a lookup costs at most one map step per length in
 * use (33 for IPv4), whatever the number of prefixes.
 */
export class CidrIndex {
  private readonly v4 = new Map<number, Map<number, number>>();
  private readonly v6 = new Map<number, Map<string, number>>();
  private v4Lengths: number[] = [];
  private v6Lengths: number[] = [];

  /** @throws {TypeError} on an entry that is not a CIDR. */
  add(cidr: string, label: number): void {
    const c = parseCidr(cidr);
    if (!c) throw new TypeError(`invalid CIDR "${cidr}"`);
    const b = c.bytes;
    const mapped = c.family === 6 && c.prefix >= 96 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
    if (c.family === 4 || mapped) {
      const len = c.family === 4 ? c.prefix : c.prefix - 96;
      const at = b.length - 4;
      const addr = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
      const key = len === 0 ? 0 : (addr >>> (32 - len)) >>> 0;
      let m = this.v4.get(len);
      if (!m) this.v4.set(len, (m = new Map()));
      if ((m.get(key) ?? NONE) > label) m.set(key, label);
      this.v4Lengths = [...this.v4.keys()].sort((x, y) => y - x);
    } else {
      const parts = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
      const key = v6Key(parts, c.prefix);
      let m = this.v6.get(c.prefix);
      if (!m) this.v6.set(c.prefix, (m = new Map()));
      if ((m.get(key) ?? NONE) > label) m.set(key, label);
      this.v6Lengths = [...this.v6.keys()].sort((x, y) => y - x);
    }
  }

  /** The smallest label of a prefix containing `address`, or Infinity. */
  lowest(address: string): number {
    let v4 = parseIPv4(address);
    if (v4 < 0 && address.includes(':') && parseIPv6(address, PARTS)) {
      const p = PARTS;
      if (p[0] === 0 && p[1] === 0 && p[2] === 0 && p[3] === 0 && p[4] === 0 && p[5] === 0xffff) v4 = p[6] * 0x10000 + p[7];
      else return this.lowestV6(p);
    }
    if (v4 < 0) return NONE;
    let best = NONE;
    for (const len of this.v4Lengths) {
      const label = this.v4.get(len)!.get(len === 0 ? 0 : (v4 >>> (32 - len)) >>> 0);
      if (label !== undefined && label < best) best = label;
    }
    return best;
  }

  private lowestV6(parts: readonly number[]): number {
    let best = NONE;
    for (const len of this.v6Lengths) {
      const label = this.v6.get(len)!.get(v6Key(parts, len));
      if (label !== undefined && label < best) best = label;
    }
    return best;
  }
}
