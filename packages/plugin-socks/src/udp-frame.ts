import type { Endpoint } from '@sluice/core';
import { bytesToIp, ipToBytes } from './ip';

/*
 * The SOCKS5 UDP request header (RFC 1928 §7):
 *   RSV(2) FRAG(1) ATYP(1) DST.ADDR(4 | 16 | 1+n) DST.PORT(2) DATA
 *
 * Written here instead of with SocksClient.createUDPFrame / parseUDPFrame from
 * the `socks` package, which the tests use as the reference. This is the hot
 * path (every datagram, twice through a two-hop chain), where those allocate
 * a SmartBuffer and parse the address with ip-address on every call, and
 * their parser needs guarding anyway: it reads an unknown ATYP as a name,
 * throws a RangeError on a short frame and returns IPv6 uncompressed.
 * Decoding here copies nothing.
 */

/** Why a received frame was dropped. */
export type DropReason = 'truncated' | 'fragmented' | 'address-type';

/** A parsed frame, or the reason it was dropped. */
export type DecodedFrame =
  | { readonly ok: true; readonly from: Endpoint; readonly data: Buffer }
  | { readonly ok: false; readonly reason: DropReason };

/**
 * Wraps `data` for a SOCKS5 UDP relay, addressed to `dst`. An IP literal goes
 * as ATYP IPv4/IPv6, anything else as a host name (at most 255 bytes: longer
 * names throw a RangeError, which callers count as a dropped datagram).
 */
export function encodeUdpFrame(dst: Endpoint, data: Buffer): Buffer {
  const ip = ipToBytes(dst.address);
  const name = ip ? undefined : Buffer.from(dst.address, 'utf8');
  if (name && name.length > 255) throw new RangeError('host name longer than 255 bytes');
  const addrLen = ip ? ip.length : 1 + name!.length;
  const frame = Buffer.allocUnsafe(4 + addrLen + 2 + data.length);
  frame.writeUInt32BE(ip ? (ip.length === 4 ? 0x01 : 0x04) : 0x03, 0); // RSV RSV FRAG=0 ATYP
  if (ip) ip.copy(frame, 4);
  else {
    frame[4] = name!.length;
    name!.copy(frame, 5);
  }
  frame.writeUInt16BE(dst.port, 4 + addrLen);
  data.copy(frame, 6 + addrLen);
  return frame;
}

/**
 * Unwraps a datagram from a SOCKS5 UDP relay; `data` is a view into `frame`.
 * Fragments (FRAG ≠ 0: no common server sends them and we do not reassemble),
 * short frames and unknown address types come back as `{ ok: false }`; this
 * never throws. RSV is not checked, as RFC 1928 asks of receivers nothing there.
 */
export function decodeUdpFrame(frame: Buffer): DecodedFrame {
  if (frame.length < 4) return { ok: false, reason: 'truncated' };
  let address: string;
  let at: number;
  switch (frame[3]) {
    case 0x01:
      if (frame.length < 10) return { ok: false, reason: 'truncated' };
      address = bytesToIp(frame.subarray(4, 8));
      at = 8;
      break;
    case 0x04:
      if (frame.length < 22) return { ok: false, reason: 'truncated' };
      address = bytesToIp(frame.subarray(4, 20));
      at = 20;
      break;
    case 0x03:
      if (frame.length < 5 || frame.length < 7 + frame[4]) return { ok: false, reason: 'truncated' };
      address = frame.toString('latin1', 5, 5 + frame[4]);
      at = 5 + frame[4];
      break;
    default:
      return { ok: false, reason: 'address-type' };
  }
  if (frame[2] !== 0) return { ok: false, reason: 'fragmented' };
  return { ok: true, from: { address, port: frame.readUInt16BE(at) }, data: frame.subarray(at + 2) };
}
