import { getDomain } from 'tldts';
import type { FlowMetadata } from '../../adapter/flow';

/** FNV-1a over the string's UTF-16 units, then a murmur3 finaliser so that similar keys spread. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Orders `members` for `key` by rendezvous (highest random weight) hashing:
 * each member scores `hash(key, member)` and the highest comes first. When a
 * member leaves, only the keys it had move (to their second choice); every
 * other key keeps its member. Ties (vanishingly rare) keep config order.
 */
export function rendezvousOrder<T extends { readonly tag: string }>(key: string, members: readonly T[]): T[] {
  const scored = members.map((m, i) => ({ m, i, score: hash32(`${m.tag}\u0000${key}`) }));
  scored.sort((a, b) => b.score - a.score || a.i - b.i);
  return scored.map((s) => s.m);
}

/**
 * What keeps a flow's site on one member: the registrable domain of the
 * flow's host (`www.example.co.uk` → `example.co.uk`, by the public suffix
 * list in `tldts`), the host itself when it has none (`localhost`, an IP),
 * else the destination IP.
 */
export function siteKey(flow: FlowMetadata): string {
  const host = flow.dst.host;
  if (host === undefined || host === '') return flow.dst.address;
  return getDomain(host, { allowPrivateDomains: false }) ?? host.toLowerCase();
}
