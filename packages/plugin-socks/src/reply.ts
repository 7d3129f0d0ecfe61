import type { Endpoint } from '@sluice/core';
import * as errors from './errors';
import { bytesToIp } from './ip';

/*
 * The server's side of the SOCKS exchange, parsed from bytes alone: no
 * stream, no timer. `handshake` reads exactly the bytes each step asks for;
 * the fuzz tests drive these functions directly. Each either returns or
 * throws a SluiceError (`socks: malformed reply`, `socks: auth rejected`, a
 * reply error), never anything else.
 */

/** How far a reply parse got: more bytes needed (`need` in all), or the bound address. */
export type ReplyProgress = { readonly need: number } | { readonly bound: Endpoint };

/** The method the server chose from a 2-byte SOCKS5 method selection, given whether we offered username/password. */
export function parseMethodChoice(bytes: Buffer, offeredAuth: boolean): 'none' | 'password' {
  if (bytes.length < 2) throw errors.malformedReply(`method selection of ${bytes.length} bytes`);
  const [ver, method] = bytes;
  if (ver !== 0x05) throw errors.malformedReply(`version ${ver} in method selection`);
  if (method === 0xff) throw errors.authRejected('server accepts none of the offered methods');
  if (method === 0x02 && offeredAuth) return 'password';
  if (method !== 0x00) throw errors.malformedReply(`server chose method ${method}, which was not offered`);
  return 'none';
}

/** Checks a 2-byte RFC 1929 auth reply; returns when the server accepted the credentials. */
export function checkAuthReply(bytes: Buffer): void {
  if (bytes.length < 2) throw errors.malformedReply(`auth reply of ${bytes.length} bytes`);
  const [ver, status] = bytes;
  // RFC 1929 says version 1; some servers answer 5. Neither is worth failing over.
  if (ver !== 0x01 && ver !== 0x05) throw errors.malformedReply(`version ${ver} in auth reply`);
  if (status !== 0x00) throw errors.authRejected(`status ${status}`);
}

/**
 * Parses a SOCKS5 reply (VER REP RSV ATYP BND.ADDR BND.PORT) from its first
 * bytes. With too few, says how many the whole reply (or the part that tells
 * its length) takes: 4 for the header, 5 to learn a name's length. A refusal
 * (REP ≠ 0), a wrong version or an unknown address type throws as soon as the
 * header shows it. Bytes past the reply are ignored.
 */
export function parseSocks5Reply(bytes: Buffer): ReplyProgress {
  if (bytes.length < 4) return { need: 4 };
  const [ver, rep, , atyp] = bytes;
  if (ver !== 0x05) throw errors.malformedReply(`version ${ver} in reply`);
  if (rep !== 0x00) throw errors.socks5ReplyError(rep);
  let at: number;
  switch (atyp) {
    case 0x01:
      at = 8;
      break;
    case 0x04:
      at = 20;
      break;
    case 0x03:
      if (bytes.length < 5) return { need: 5 };
      at = 5 + bytes[4];
      break;
    default:
      throw errors.malformedReply(`address type ${atyp} in reply`);
  }
  if (bytes.length < at + 2) return { need: at + 2 };
  const address = atyp === 0x03 ? bytes.toString('latin1', 5, at) : bytesToIp(bytes.subarray(4, at));
  return { bound: { address, port: bytes.readUInt16BE(at) } };
}

/** Parses the 8-byte SOCKS4 reply (VN CD DSTPORT DSTIP) into the bound address; throws unless CD is 90. */
export function parseSocks4Reply(bytes: Buffer): Endpoint {
  if (bytes.length < 8) throw errors.malformedReply(`SOCKS4 reply of ${bytes.length} bytes`);
  // The reply's VN is 0 by the spec; a few servers echo 4.
  if (bytes[0] !== 0x00 && bytes[0] !== 0x04) throw errors.malformedReply(`version ${bytes[0]} in SOCKS4 reply`);
  if (bytes[1] !== 90) throw errors.socks4ReplyError(bytes[1]);
  return { address: bytesToIp(bytes.subarray(4, 8)), port: bytes.readUInt16BE(2) };
}
