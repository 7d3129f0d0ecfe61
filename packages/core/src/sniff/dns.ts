import type { SniffOutcome } from './outcome';

/** DNS header length (RFC 1035 §4.1.1). */
const HEADER = 12;
/** Most labels a name has in 255 bytes; past it the bytes are not a name. */
const MAX_LABELS = 128;
/** A DNS-over-TCP query longer than this is not waited for (real queries are well under 1 KiB). */
const MAX_TCP_QUERY = 4096;

const NONE: SniffOutcome = Object.freeze({ kind: 'none' });
const MORE: SniffOutcome = Object.freeze({ kind: 'more' });
const DNS: SniffOutcome = Object.freeze({ kind: 'protocol', protocol: 'dns' });

/**
 * Whether `msg` is one DNS query as a client sends it: QR clear, opcode
 * QUERY, one question, no answers or authority, at most one additional
 * record (EDNS(0)'s OPT), and a question whose name and type/class fit in the
 * message. Strict on purpose: random bytes (a game's, a VPN's) almost never
 * pass, so they are not sent to the resolver. Never throws.
 */
export function isDnsQuery(msg: Uint8Array): boolean {
  if (msg.length < HEADER + 5) return false;
  const flags = (msg[2] << 8) | msg[3];
  if ((flags & 0x8000) !== 0) return false; // a response
  if (((flags >> 11) & 0xf) !== 0) return false; // opcode other than QUERY
  if ((flags & 0x0040) !== 0) return false; // Z bit, must be zero
  const qd = (msg[4] << 8) | msg[5];
  const an = (msg[6] << 8) | msg[7];
  const ns = (msg[8] << 8) | msg[9];
  const ar = (msg[10] << 8) | msg[11];
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return false;
  let at = HEADER;
  for (let labels = 0; ; labels++) {
    if (labels > MAX_LABELS || at >= msg.length) return false;
    const len = msg[at];
    if (len === 0) break;
    if (len > 63) return false; // no compression pointer in a query's first name
    at += 1 + len;
  }
  if (at - HEADER + 1 > 255) return false;
  // The root label's byte, then QTYPE and QCLASS.
  return at + 5 <= msg.length;
}

/** A UDP datagram's verdict: `protocol: dns` when it is a DNS query, else `none` (one datagram is the whole query). */
export function sniffDnsDatagram(datagram: Uint8Array): SniffOutcome {
  return isDnsQuery(datagram) ? DNS : NONE;
}

/**
 * The first bytes of a TCP stream as DNS over TCP (RFC 7766: each message
 * after a two-byte length): `protocol: dns` once the first message is whole
 * and is a query, `more` while it is incomplete, `none` otherwise.
 */
export function sniffDnsStream(bytes: Uint8Array): SniffOutcome {
  if (bytes.length < 2) return MORE;
  const len = (bytes[0] << 8) | bytes[1];
  if (len < HEADER + 5 || len > MAX_TCP_QUERY) return NONE;
  if (bytes.length < 2 + len) {
    // What has come of the header can already rule DNS out: other protocols are not held until the timeout.
    return headerPrefixCouldBeQuery(bytes.subarray(2)) ? MORE : NONE;
  }
  return isDnsQuery(bytes.subarray(2, 2 + len)) ? DNS : NONE;
}

/** Header bytes a query must have (index → test), checked as far as they have arrived. */
const HEADER_CHECKS: readonly [number, (b: number) => boolean][] = [
  [2, (b) => (b & 0xf8) === 0], // QR clear, opcode QUERY
  [4, (b) => b === 0],
  [5, (b) => b === 1], // one question
  [6, (b) => b === 0],
  [7, (b) => b === 0], // no answers
  [8, (b) => b === 0],
  [9, (b) => b === 0], // no authority records
  [10, (b) => b === 0],
  [11, (b) => b <= 1], // at most the OPT record
];

function headerPrefixCouldBeQuery(h: Uint8Array): boolean {
  for (const [i, ok] of HEADER_CHECKS) if (i < h.length && !ok(h[i])) return false;
  return true;
}
