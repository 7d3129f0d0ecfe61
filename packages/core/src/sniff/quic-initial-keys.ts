import { createHmac } from 'node:crypto';

/** A QUIC version whose Initial packets Sluice can open, with what differs between versions. */
export interface QuicVersion {
  readonly version: number;
  readonly name: string;
  /** The salt of the Initial secret (RFC 9001 §5.2, RFC 9369 §3.3.1, draft-ietf-quic-tls-29 §5.2). */
  readonly salt: Buffer;
  /** Prefix of the key, iv and hp labels: `quic` (v1, draft-29) or `quicv2` (v2). */
  readonly labelPrefix: string;
  /** The long-header packet type bits (`(byte0 >> 4) & 3`) of an Initial packet: 0 in v1, 1 in v2. */
  readonly initialType: number;
}

/** The versions Sluice sniffs, by version number. */
export const QUIC_VERSIONS: ReadonlyMap<number, QuicVersion> = new Map(
  [
    { version: 0x00000001, name: 'v1', salt: '38762cf7f55934b34d179ae6a4c80cadccbb7f0a', labelPrefix: 'quic', initialType: 0 },
    { version: 0x6b3343cf, name: 'v2', salt: '0dede3def700a6db819381be6e269dcbf9bd2ed9', labelPrefix: 'quicv2', initialType: 1 },
    { version: 0xff00001d, name: 'draft-29', salt: 'afbfec289993d24c9e9786f19c6111e04390a899', labelPrefix: 'quic', initialType: 0 },
  ].map((v) => [v.version, { ...v, salt: Buffer.from(v.salt, 'hex') }]),
);

/** The packet protection keys of one direction of the Initial packets (AES-128-GCM, AES-128 header protection). */
export interface QuicInitialKeys {
  readonly key: Buffer;
  readonly iv: Buffer;
  readonly hp: Buffer;
}

function hkdfExtract(salt: Buffer, ikm: Buffer): Buffer {
  return createHmac('sha256', salt).update(ikm).digest();
}

/** HKDF-Expand-Label of TLS 1.3 (RFC 8446 §7.1) with an empty context; every length used here fits one SHA-256 block. */
function hkdfExpandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.alloc(4 + full.length);
  info.writeUInt16BE(length, 0);
  info[2] = full.length;
  full.copy(info, 3);
  info[3 + full.length] = 0;
  return createHmac('sha256', secret).update(info).update(Buffer.of(1)).digest().subarray(0, length);
}

/**
 * The keys a client protects its Initial packets with, derived from the
 * Destination Connection ID of its first Initial packet. They are public by
 * design (anyone on the path can derive them), so deriving them grants no
 * access to anything the handshake later protects.
 */
export function clientInitialKeys(v: QuicVersion, dcid: Buffer): QuicInitialKeys {
  const initial = hkdfExtract(v.salt, dcid);
  const client = hkdfExpandLabel(initial, 'client in', 32);
  return {
    key: hkdfExpandLabel(client, `${v.labelPrefix} key`, 16),
    iv: hkdfExpandLabel(client, `${v.labelPrefix} iv`, 12),
    hp: hkdfExpandLabel(client, `${v.labelPrefix} hp`, 16),
  };
}
