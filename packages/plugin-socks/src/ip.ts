import { SocketAddress, isIPv4, isIPv6 } from 'node:net';

/** 4 or 16 bytes of an IP literal, or undefined when `ip` is not one. Zone ids (`%eth0`) are dropped. */
export function ipToBytes(ip: string): Buffer | undefined {
  if (isIPv4(ip)) {
    const out = Buffer.allocUnsafe(4);
    let octet = 0;
    let i = 0;
    for (let k = 0; k < ip.length; k++) {
      const c = ip.charCodeAt(k);
      if (c === 46 /* . */) {
        out[i++] = octet;
        octet = 0;
      } else octet = octet * 10 + (c - 48);
    }
    out[i] = octet;
    return out;
  }
  const bare = ip.replace(/%.*$/, '');
  if (!isIPv6(bare)) return undefined;
  // An embedded IPv4 tail (`::ffff:1.2.3.4`) counts as two groups.
  let text = bare;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The canonical text of a 4- or 16-byte address, IPv4-mapped IPv6 un-mapped (Sluice's Endpoint rule). */
export function bytesToIp(bytes: Buffer): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(bytes.readUInt16BE(i));
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  }
  // RFC 5952: the longest run of two or more zero groups (the first on a tie) becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  // Like libuv's inet_ntop (and so Node): the deprecated IPv4-compatible form keeps its dotted tail.
  if (best === 0 && bestLen === 6) return `::${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const hex = (from: number, to: number): string => g.slice(from, to).map((n) => n.toString(16)).join(':');
  return best < 0 ? hex(0, 8) : `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Canonical form of an IP literal (compressed IPv6, IPv4-mapped un-mapped); other strings unchanged. */
export function normalizeIp(ip: string): string {
  if (!isIPv6(ip)) return ip;
  const text = new SocketAddress({ address: ip, family: 'ipv6' }).address;
  // SocketAddress renders mapped addresses as `::ffff:a.b.c.d`.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) return mapped[1];
  return text;
}

/** True for `0.0.0.0` and `::`, which a SOCKS server uses to mean "the address you reached me at". */
export function isUnspecified(ip: string): boolean {
  const bytes = ipToBytes(ip);
  return bytes !== undefined && bytes.every((b) => b === 0);
}
