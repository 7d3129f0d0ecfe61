import type { SniffOutcome } from './outcome';
import { clientHelloMessage, clientHelloServerName } from './quic-client-hello';
import { CryptoStream } from './quic-crypto-stream';
import { walkInitialFrames } from './quic-frames';
import { clientInitialKeys, type QuicInitialKeys, type QuicVersion } from './quic-initial-keys';
import { initialPacketSpans, openInitialPacket } from './quic-packet';

/** Bounds of one {@link QuicSniffer}. */
export interface QuicSnifferLimits {
  /** Bytes of CRYPTO stream kept (and the largest ClientHello read); default 32 KiB. */
  readonly maxCryptoBytes?: number;
  /** Datagrams looked at before giving up (`none`); default 32. */
  readonly maxDatagrams?: number;
  /** Initial packets decrypted before giving up (`none`); default 64. */
  readonly maxPackets?: number;
}

const NONE: SniffOutcome = Object.freeze({ kind: 'none' });
const MORE: SniffOutcome = Object.freeze({ kind: 'more' });

/**
 * Reads the server name from the client's QUIC Initial packets (versions 1,
 * 2 and draft-29), one UDP session's datagrams at a time. The first
 * Initial packet that opens fixes the connection (its Destination Connection
 * ID and version); the CRYPTO frames of its Initial packets are reassembled
 * by offset across datagrams, in any order, until the ClientHello is whole.
 *
 * {@link push} answers `none` at once for a first datagram that is not a
 * QUIC Initial of a known version, `more` while the ClientHello is
 * incomplete, and once it has answered `found` or `none` it keeps that
 * answer. It never throws, and holds at most `maxCryptoBytes` bytes.
 */
export class QuicSniffer {
  private answer: SniffOutcome | undefined;
  private conn: { readonly version: QuicVersion; readonly dcid: Buffer; readonly keys: QuicInitialKeys } | undefined;
  private readonly crypto: CryptoStream;
  private readonly maxCryptoBytes: number;
  private readonly maxDatagrams: number;
  private readonly maxPackets: number;
  private datagrams = 0;
  private packets = 0;

  constructor(limits: QuicSnifferLimits = {}) {
    this.maxCryptoBytes = limits.maxCryptoBytes ?? 32 * 1024;
    this.maxDatagrams = limits.maxDatagrams ?? 32;
    this.maxPackets = limits.maxPackets ?? 64;
    this.crypto = new CryptoStream(this.maxCryptoBytes);
  }

  /** Looks at the session's next datagram (which is not modified) and says what is known so far. */
  push(datagram: Buffer): SniffOutcome {
    if (this.answer) return this.answer;
    try {
      const outcome = this.read(datagram);
      if (outcome.kind !== 'more') this.answer = outcome;
      return outcome;
    } catch {
      return (this.answer = NONE);
    }
  }

  private read(d: Buffer): SniffOutcome {
    if (++this.datagrams > this.maxDatagrams) return NONE;
    const spans = initialPacketSpans(d);
    // Before the connection is known, only a datagram that opens as a QUIC Initial says "QUIC, wait for more".
    if (!spans) return this.conn ? MORE : NONE;
    for (const span of spans) {
      if (++this.packets > this.maxPackets) return NONE;
      let conn = this.conn;
      if (conn && (conn.version !== span.version || !conn.dcid.equals(span.dcid))) continue;
      const keys = conn?.keys ?? clientInitialKeys(span.version, span.dcid);
      const plain = openInitialPacket(d, span, keys);
      if (!plain) continue;
      conn ??= this.conn = { version: span.version, dcid: Buffer.from(span.dcid), keys };
      let overflow = false;
      walkInitialFrames(plain, (offset, data) => {
        overflow = !this.crypto.add(offset, data);
        return !overflow;
      });
      if (overflow) return NONE;
    }
    if (!this.conn) return NONE;
    const hello = clientHelloMessage(this.crypto.prefix(), this.maxCryptoBytes - 4);
    if (hello.kind === 'incomplete') return MORE;
    if (hello.kind === 'other') return NONE;
    const host = clientHelloServerName(hello.message);
    return host === undefined ? NONE : { kind: 'found', protocol: 'quic', host };
  }
}
