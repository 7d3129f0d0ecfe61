import type { DropReason } from '@sluice/plugin-socks';

/**
 * What RFC 1928 §7 says a received frame is, written plainly and apart from
 * `decodeUdpFrame`: the reason to drop it, or where its port and data start.
 * The length checks come before FRAG, as the decoder reports them.
 */
export function expectedFrame(frame: Buffer): { ok: false; reason: DropReason } | { ok: true; portAt: number } {
  if (frame.length < 4) return { ok: false, reason: 'truncated' };
  const atyp = frame[3];
  let portAt: number;
  if (atyp === 1) portAt = 8;
  else if (atyp === 4) portAt = 20;
  else if (atyp === 3) {
    if (frame.length < 5) return { ok: false, reason: 'truncated' };
    portAt = 5 + frame[4];
  } else return { ok: false, reason: 'address-type' };
  if (frame.length < portAt + 2) return { ok: false, reason: 'truncated' };
  if (frame[2] !== 0) return { ok: false, reason: 'fragmented' };
  return { ok: true, portAt };
}
