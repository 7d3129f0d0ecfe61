import { sniffDnsStream } from './dns';
import { sniffHttp } from './http';
import type { SniffOutcome } from './outcome';
import { sniffTls } from './tls';

/**
 * Most bytes a stream is read for a name: past it the answer is `none`. Above
 * both parsers' own limits, to leave room for a ClientHello cut into many
 * small records (5 bytes of header each).
 */
export const MAX_SNIFF_BYTES = 64 * 1024;

const NONE: SniffOutcome = { kind: 'none' };
const MORE: SniffOutcome = { kind: 'more' };
const TLS_HANDSHAKE = 0x16;
/** DNS over TCP starts with the message length: under 4 KiB its first byte is below this, which no HTTP method's is. */
const DNS_LENGTH_HIGH_BYTE_LIMIT = 0x10;

/**
 * What the first bytes of a TCP stream say about its destination: a TLS
 * ClientHello's SNI or an HTTP/1 request's `Host`, or `protocol: dns` for a
 * DNS-over-TCP query (no name to route by, but `protocol: dns` rules). `none` as soon as the
 * bytes can be neither (so server-first and other protocols are not held),
 * `more` only for an empty or incomplete message. Never throws.
 */
export function sniffStream(bytes: Uint8Array): SniffOutcome {
  if (bytes.length === 0) return MORE;
  if (bytes.length > MAX_SNIFF_BYTES) return NONE;
  try {
    // A TLS record starts with 0x16, DNS over TCP with a small length, HTTP with a method: one byte chooses the parser.
    if (bytes[0] === TLS_HANDSHAKE) return sniffTls(bytes);
    return bytes[0] < DNS_LENGTH_HIGH_BYTE_LIMIT ? sniffDnsStream(bytes) : sniffHttp(bytes);
  } catch {
    // The parsers do not throw by design; this keeps a bug in them from reaching a flow.
    return NONE;
  }
}

/**
 * Collects a stream's first bytes as they arrive and sniffs them after each
 * chunk; {@link bytes} is everything received, to be replayed unchanged to
 * the outbound.
 */
export class StreamSniffer {
  private received: Buffer = Buffer.alloc(0);

  /** Adds a chunk the client sent and says what is known now. */
  push(chunk: Buffer): SniffOutcome {
    this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
    return sniffStream(this.received);
  }

  /** Everything pushed so far, in order. */
  get bytes(): Buffer {
    return this.received;
  }
}
