import { createCipheriv, createDecipheriv } from 'node:crypto';
import { QUIC_VERSIONS, type QuicInitialKeys, type QuicVersion } from './quic-initial-keys';

/** A QUIC variable-length integer at `pos` (RFC 9000 §16), or undefined when it runs past `end` or past 2^53. */
export function readVarint(buf: Buffer, pos: number, end: number): { readonly value: number; readonly next: number } | undefined {
  if (pos >= end) return undefined;
  const first = buf[pos]!;
  const len = 1 << (first >> 6);
  if (pos + len > end) return undefined;
  let value = first & 0x3f;
  for (let i = 1; i < len; i++) value = value * 256 + buf[pos + i]!;
  return Number.isSafeInteger(value) ? { value, next: pos + len } : undefined;
}

/** Where one Initial packet lies in a datagram (header protection still on). */
export interface InitialPacketSpan {
  readonly version: QuicVersion;
  readonly dcid: Buffer;
  /** Offsets in the datagram: the first byte, the packet number, and the byte after the packet. */
  readonly start: number;
  readonly pnOffset: number;
  readonly end: number;
}

const MAX_CID = 20;

/**
 * The Initial packets among a datagram's coalesced long-header packets
 * (RFC 9000 §12.2), walking them by their Length fields. Undefined when the
 * datagram does not start with a whole long-header packet of a known
 * version (a short header, a version negotiation, anything not QUIC). A
 * short-header packet or trailing bytes after the first packet end the walk.
 */
export function initialPacketSpans(d: Buffer): InitialPacketSpan[] | undefined {
  const spans: InitialPacketSpan[] = [];
  let pos = 0;
  while (pos < d.length) {
    const span = longHeaderAt(d, pos);
    if (span === undefined) return pos === 0 ? undefined : spans;
    if (span.initial) spans.push(span.initial);
    pos = span.end;
  }
  return spans;
}

function longHeaderAt(d: Buffer, start: number): { readonly end: number; readonly initial?: InitialPacketSpan } | undefined {
  const b0 = d[start]!;
  if ((b0 & 0x80) === 0 || start + 7 > d.length) return undefined;
  const version = QUIC_VERSIONS.get(d.readUInt32BE(start + 1));
  if (!version) return undefined;
  let pos = start + 5;
  const dcidLen = d[pos++]!;
  if (dcidLen > MAX_CID || pos + dcidLen + 1 > d.length) return undefined;
  const dcid = d.subarray(pos, pos + dcidLen);
  pos += dcidLen;
  const scidLen = d[pos++]!;
  if (scidLen > MAX_CID) return undefined;
  pos += scidLen;
  const type = (b0 >> 4) & 3;
  // Retry (v1: 3, v2: 0) has no Length field; only servers send it.
  if (type === (version.initialType + 3) % 4) return undefined;
  const isInitial = type === version.initialType;
  if (isInitial) {
    const token = readVarint(d, pos, d.length);
    if (!token) return undefined;
    pos = token.next + token.value;
  }
  const length = readVarint(d, pos, d.length);
  if (!length) return undefined;
  const pnOffset = length.next;
  const end = pnOffset + length.value;
  if (end > d.length) return undefined;
  return { end, initial: isInitial ? { version, dcid, start, pnOffset, end } : undefined };
}

const SAMPLE = 16;
const TAG = 16;

/**
 * Removes header protection and decrypts one Initial packet (RFC 9001 §5.3,
 * §5.4) without touching the datagram, which is forwarded unchanged.
 * Returns the plaintext frames, or undefined when the packet does not open
 * with `keys` (not this connection's, or corrupt).
 */
export function openInitialPacket(d: Buffer, p: InitialPacketSpan, keys: QuicInitialKeys): Buffer | undefined {
  const sampleAt = p.pnOffset + 4;
  if (sampleAt + SAMPLE > p.end) return undefined;
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  ecb.setAutoPadding(false);
  const mask = ecb.update(d.subarray(sampleAt, sampleAt + SAMPLE));
  const first = d[p.start]! ^ (mask[0]! & 0x0f);
  const pnLen = (first & 3) + 1;
  const headerLen = p.pnOffset - p.start + pnLen;
  if (p.pnOffset + pnLen + TAG > p.end) return undefined;
  const header = Buffer.from(d.subarray(p.start, p.start + headerLen));
  header[0] = first;
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < pnLen; i++) {
    const pnByte = header[headerLen - pnLen + i]! ^ mask[1 + i]!;
    header[headerLen - pnLen + i] = pnByte;
    // The client's first packet numbers are small, so the truncated number is the full one.
    const at = nonce.length - pnLen + i;
    nonce[at] = nonce[at]! ^ pnByte;
  }
  try {
    const gcm = createDecipheriv('aes-128-gcm', keys.key, nonce);
    gcm.setAAD(header);
    gcm.setAuthTag(d.subarray(p.end - TAG, p.end));
    const plain = gcm.update(d.subarray(p.start + headerLen, p.end - TAG));
    gcm.final();
    return plain;
  } catch {
    return undefined;
  }
}
