import type { SniffOutcome } from './outcome';
import { hostName } from './host-name';

/**
 * Largest ClientHello (the handshake message body) the TLS sniffer waits for;
 * past it the answer is `none`. Today's largest (Chromium with a post-quantum
 * key share) are about 2 KiB; this leaves room for several such shares and
 * ECH, and bounds what a flow holds while it is sniffed.
 */
export const MAX_CLIENT_HELLO_BYTES = 32 * 1024;

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
/** RFC 8446 §5.1: a plaintext record carries at most 2^14 bytes. */
const MAX_RECORD = 16_384;
const CONTENT_HANDSHAKE = 0x16;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
const NONE: SniffOutcome = { kind: 'none' };
const MORE: SniffOutcome = { kind: 'more' };

/**
 * Reads the server name (SNI) from a TLS ClientHello, given every byte the
 * client has sent so far. The ClientHello may be split anywhere across TCP
 * segments and across several handshake records (record fragmentation):
 * `more` while it is incomplete, `found` with the name once it is whole,
 * `none` when the bytes are not a TLS handshake, the message is malformed or
 * larger than {@link MAX_CLIENT_HELLO_BYTES}, or it names no host. Never
 * throws; reads only `bytes`.
 */
export function sniffTls(bytes: Uint8Array): SniffOutcome {
  // Cheap early answers on the first record header, so a non-TLS stream is not held.
  if (bytes.length >= 1 && bytes[0] !== CONTENT_HANDSHAKE) return NONE;
  if (bytes.length >= 2 && bytes[1] !== 3) return NONE;
  if (bytes.length >= 3 && bytes[2]! > 4) return NONE;
  // Walk the records, counting handshake bytes, until the ClientHello is whole or the bytes run out.
  const fragments: [number, number][] = [];
  let have = 0;
  let need = -1;
  let off = 0;
  while (off + RECORD_HEADER <= bytes.length) {
    if (bytes[off] !== CONTENT_HANDSHAKE || bytes[off + 1] !== 3) return NONE;
    const len = (bytes[off + 3]! << 8) | bytes[off + 4]!;
    if (len === 0 || len > MAX_RECORD) return NONE;
    const start = off + RECORD_HEADER;
    const end = Math.min(start + len, bytes.length);
    fragments.push([start, end]);
    have += end - start;
    if (need < 0 && have >= HANDSHAKE_HEADER) {
      const head = gather(bytes, fragments, HANDSHAKE_HEADER);
      if (head[0] !== CLIENT_HELLO) return NONE;
      need = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (need > MAX_CLIENT_HELLO_BYTES) return NONE;
    }
    if (need >= 0 && have >= HANDSHAKE_HEADER + need) {
      const message = gather(bytes, fragments, HANDSHAKE_HEADER + need);
      return serverName(message.subarray(HANDSHAKE_HEADER));
    }
    if (end < start + len) return MORE;
    off = start + len;
  }
  return MORE;
}

/** The first `n` handshake bytes, copied out of the record fragments (a view when one fragment holds them). */
function gather(bytes: Uint8Array, fragments: readonly [number, number][], n: number): Uint8Array {
  const [s0, e0] = fragments[0]!;
  if (e0 - s0 >= n) return bytes.subarray(s0, s0 + n);
  const out = new Uint8Array(n);
  let at = 0;
  for (const [s, e] of fragments) {
    const take = Math.min(e - s, n - at);
    out.set(bytes.subarray(s, s + take), at);
    at += take;
    if (at === n) break;
  }
  return out;
}

/** The host_name in a ClientHello body's server_name extension (RFC 6066 §3); `none` on anything malformed. */
function serverName(body: Uint8Array): SniffOutcome {
  const r = new Reader(body);
  r.skip(2 + 32); // legacy_version, random
  r.skip(r.u8()); // legacy_session_id
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0) return NONE;
  r.skip(suites);
  const compression = r.u8();
  if (compression < 1) return NONE;
  r.skip(compression);
  if (r.failed || r.left === 0) return NONE; // no extensions: no SNI
  const extEnd = r.u16() + r.at;
  if (r.failed || extEnd > body.length) return NONE;
  while (r.at + 4 <= extEnd) {
    const type = r.u16();
    const len = r.u16();
    if (r.at + len > extEnd) return NONE;
    if (type !== EXT_SERVER_NAME) {
      r.skip(len);
      continue;
    }
    const listEnd = r.u16() + r.at;
    if (r.failed || listEnd > r.at - 2 + len) return NONE;
    while (r.at + 3 <= listEnd) {
      const nameType = r.u8();
      const nameLen = r.u16();
      if (r.at + nameLen > listEnd) return NONE;
      if (nameType === NAME_TYPE_HOST) {
        const host = hostName(body.subarray(r.at, r.at + nameLen));
        return host === undefined ? NONE : { kind: 'found', protocol: 'tls', host };
      }
      r.skip(nameLen);
    }
    return NONE;
  }
  return NONE;
}

/** A bounds-checked cursor: a read past the end sets {@link failed} and returns 0 instead of throwing. */
class Reader {
  at = 0;
  failed = false;

  constructor(private readonly b: Uint8Array) {}

  get left(): number {
    return this.b.length - this.at;
  }

  u8(): number {
    if (this.at + 1 > this.b.length) return this.fail();
    return this.b[this.at++]!;
  }

  u16(): number {
    if (this.at + 2 > this.b.length) return this.fail();
    const v = (this.b[this.at]! << 8) | this.b[this.at + 1]!;
    this.at += 2;
    return v;
  }

  skip(n: number): void {
    if (this.at + n > this.b.length) this.fail();
    else this.at += n;
  }

  private fail(): number {
    this.failed = true;
    this.at = this.b.length;
    return 0;
  }
}
