import { createCipheriv } from 'node:crypto';
import { clientInitialKeys, QUIC_VERSIONS } from '@sluice/core';

/** QUIC version numbers the sniffer knows. */
export const QUIC_V1 = 0x00000001;
export const QUIC_V2 = 0x6b3343cf;
export const QUIC_DRAFT29 = 0xff00001d;

/** A QUIC variable-length integer in its shortest form, or in `len` bytes. */
export function varint(n: number, len?: 1 | 2 | 4 | 8): Buffer {
  const size = len ?? (n < 0x40 ? 1 : n < 0x4000 ? 2 : n < 0x4000_0000 ? 4 : 8);
  const b = Buffer.alloc(size);
  let v = n;
  for (let i = size - 1; i >= 0; i--) {
    b[i] = v % 256;
    v = Math.floor(v / 256);
  }
  b[0]! |= { 1: 0x00, 2: 0x40, 4: 0x80, 8: 0xc0 }[size]!;
  return b;
}

/** A CRYPTO frame. */
export function cryptoFrame(offset: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.of(0x06), varint(offset), varint(data.length), data]);
}

/** What one client Initial packet holds. */
export interface InitialSpec {
  readonly version: number;
  readonly dcid: Buffer;
  readonly scid?: Buffer;
  readonly token?: Buffer;
  readonly pn: number;
  readonly pnLen?: 1 | 2 | 3 | 4;
  /** Plaintext frames; PADDING is appended up to `payloadLen`. */
  readonly frames: Buffer;
  readonly payloadLen?: number;
}

/** Builds and protects one client Initial packet as a client does (RFC 9001 §5). */
export function protectInitial(spec: InitialSpec): Buffer {
  const v = QUIC_VERSIONS.get(spec.version);
  if (!v) throw new Error(`unknown version ${spec.version}`);
  const pnLen = spec.pnLen ?? 4;
  const scid = spec.scid ?? Buffer.alloc(0);
  const token = spec.token ?? Buffer.alloc(0);
  const payload = Buffer.concat([spec.frames, Buffer.alloc(Math.max(0, (spec.payloadLen ?? 0) - spec.frames.length))]);
  const pnBytes = Buffer.alloc(4);
  pnBytes.writeUInt32BE(spec.pn);
  const header = Buffer.concat([
    Buffer.of(0xc0 | (v.initialType << 4) | (pnLen - 1)),
    Buffer.from([spec.version >>> 24, (spec.version >>> 16) & 0xff, (spec.version >>> 8) & 0xff, spec.version & 0xff]),
    Buffer.of(spec.dcid.length),
    spec.dcid,
    Buffer.of(scid.length),
    scid,
    varint(token.length),
    token,
    varint(pnLen + payload.length + 16, 2),
    pnBytes.subarray(4 - pnLen),
  ]);
  const keys = clientInitialKeys(v, spec.dcid);
  const nonce = Buffer.from(keys.iv);
  for (let i = 0; i < 4; i++) nonce[8 + i]! ^= pnBytes[i]!;
  const gcm = createCipheriv('aes-128-gcm', keys.key, nonce);
  gcm.setAAD(header);
  const packet = Buffer.concat([header, gcm.update(payload), gcm.final(), gcm.getAuthTag()]);
  const pnOffset = header.length - pnLen;
  const ecb = createCipheriv('aes-128-ecb', keys.hp, null);
  ecb.setAutoPadding(false);
  const mask = ecb.update(packet.subarray(pnOffset + 4, pnOffset + 20));
  packet[0]! ^= mask[0]! & 0x0f;
  for (let i = 0; i < pnLen; i++) packet[pnOffset + i]! ^= mask[1 + i]!;
  return packet;
}

/**
 * A TLS 1.3 ClientHello handshake message (no record layer) naming `host`
 * (none when undefined), with a padding extension of `padding` bytes to make
 * it as large as a post-quantum Chromium one.
 */
export function clientHello(host: string | undefined, padding = 0): Buffer {
  const ext = (type: number, body: Buffer): Buffer => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(type);
    h.writeUInt16BE(body.length, 2);
    return Buffer.concat([h, body]);
  };
  const u16 = (n: number): Buffer => Buffer.of(n >> 8, n & 0xff);
  const exts: Buffer[] = [];
  if (host !== undefined) {
    const name = Buffer.from(host, 'latin1');
    exts.push(ext(0x0000, Buffer.concat([u16(name.length + 3), Buffer.of(0), u16(name.length), name])));
  }
  exts.push(ext(0x0010, Buffer.from('0003026833', 'hex')));
  exts.push(ext(0x002b, Buffer.from('020304', 'hex')));
  exts.push(ext(0x0039, Buffer.from('0104800075300504800fffff', 'hex')));
  if (padding > 0) exts.push(ext(0x0015, Buffer.alloc(padding)));
  const extensions = Buffer.concat(exts);
  const body = Buffer.concat([
    Buffer.from('0303', 'hex'),
    Buffer.alloc(32, 0x11),
    Buffer.of(0),
    Buffer.from('00021301', 'hex'),
    Buffer.from('0100', 'hex'),
    u16(extensions.length),
    extensions,
  ]);
  const len = Buffer.alloc(3);
  len.writeUIntBE(body.length, 0, 3);
  return Buffer.concat([Buffer.of(1), len, body]);
}

/**
 * A ClientHello split into `pieces` CRYPTO frames of about equal size, one
 * Initial packet (and datagram) each, sent in `order` (indexes of pieces),
 * as Chromium does with a large ClientHello.
 */
export function splitInitials(version: number, dcid: Buffer, hello: Buffer, pieces: number, order?: readonly number[]): Buffer[] {
  const size = Math.ceil(hello.length / pieces);
  const frames = Array.from({ length: pieces }, (_, i) => cryptoFrame(i * size, hello.subarray(i * size, (i + 1) * size)));
  return (order ?? frames.map((_, i) => i)).map((i, pn) => protectInitial({ version, dcid, pn, frames: frames[i]!, payloadLen: 1162 }));
}
