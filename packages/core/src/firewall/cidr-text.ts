import ipaddr from 'ipaddr.js';
import { parseCidr, type ParsedCidr } from '../config/net';

/** `addr/prefix` with host bits cleared and the address in canonical form (nft refuses host bits in a prefix). */
export function normalizeCidr(text: string): string {
  const c = parseCidr(text);
  if (!c) return text;
  const b = c.bytes;
  const addr = c.family === 4 ? Array.from(b).join('.') : ipaddr.fromByteArray(Array.from(b)).toString();
  return `${addr}/${c.prefix}`;
}

/** Whether two prefixes share at least one address: same family, and equal in the bits of the shorter prefix. */
export function cidrsOverlap(a: ParsedCidr, b: ParsedCidr): boolean {
  if (a.family !== b.family) return false;
  const bits = Math.min(a.prefix, b.prefix);
  for (let bit = 0; bit < bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((a.bytes[bit >> 3] & mask) !== (b.bytes[bit >> 3] & mask)) return false;
  }
  return true;
}
