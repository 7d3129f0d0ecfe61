import { readVarint } from './quic-packet';

/**
 * Walks the frames of a decrypted Initial packet and hands each CRYPTO
 * frame's offset and data to `onCrypto`. Initial packets may carry only
 * PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE (RFC 9000 §12.4); anything
 * else, or a frame running past the packet, makes the packet malformed:
 * false (the CRYPTO frames before it have been handed over already, which
 * is harmless: they were authenticated). `onCrypto` returning false stops the walk.
 */
export function walkInitialFrames(p: Buffer, onCrypto: (offset: number, data: Buffer) => boolean): boolean {
  let pos = 0;
  const end = p.length;
  while (pos < end) {
    const type = p[pos]!;
    if (type === 0x00 || type === 0x01) {
      pos++;
      continue;
    }
    pos++;
    if (type === 0x06) {
      const offset = readVarint(p, pos, end);
      const length = offset && readVarint(p, offset.next, end);
      if (!offset || !length || length.next + length.value > end) return false;
      pos = length.next + length.value;
      if (!onCrypto(offset.value, p.subarray(length.next, pos))) return false;
    } else if (type === 0x02 || type === 0x03) {
      const next = skipAck(p, pos, end, type === 0x03);
      if (next < 0) return false;
      pos = next;
    } else if (type === 0x1c || type === 0x1d) {
      const next = skipVarints(p, pos, end, type === 0x1c ? 2 : 1);
      const reason = next < 0 ? undefined : readVarint(p, next, end);
      if (!reason || reason.next + reason.value > end) return false;
      pos = reason.next + reason.value;
    } else {
      return false;
    }
  }
  return true;
}

/** Skips `n` varints; -1 when they run past `end`. */
function skipVarints(p: Buffer, pos: number, end: number, n: number): number {
  for (let i = 0; i < n; i++) {
    const v = readVarint(p, pos, end);
    if (!v) return -1;
    pos = v.next;
  }
  return pos;
}

/** Skips an ACK frame's body (largest, delay, range count, first range, the ranges, ECN counts); -1 when malformed. */
function skipAck(p: Buffer, pos: number, end: number, ecn: boolean): number {
  pos = skipVarints(p, pos, end, 2);
  const count = pos < 0 ? undefined : readVarint(p, pos, end);
  if (!count) return -1;
  // Each range takes at least two bytes: a count larger than what is left is malformed, and the loop stays bounded.
  if (count.value * 2 > end - count.next) return -1;
  return skipVarints(p, count.next, end, 1 + count.value * 2 + (ecn ? 3 : 0));
}
