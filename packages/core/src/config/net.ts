import { isIP } from 'node:net';

/** A CIDR prefix with host bits cleared. */
export interface ParsedCidr {
  readonly family: 4 | 6;
  /** Network address, 4 or 16 bytes, host bits zero. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
}

/**
 * True for a plain IPv4 or IPv6 literal. `net.isIP` is the gate because
 * ipaddr.js alone also accepts legacy IPv4 forms such as `10.1` or `0x7f.1`,
 * which the kernel would read differently from the user.
 */
export function isIpLiteral(text: string): boolean {
  return !text.includes('%') && isIP(text) !== 0;
}

/**
 * Parses `addr/prefix` or a bare address (a /32 or /128). Host bits are
 * cleared, as the kernel does. Returns undefined when the text is not a CIDR.
 */
export function parseCidr(text: string): ParsedCidr | undefined {
  const slash = text.indexOf('/');
  const addr = (slash < 0 ? text : text.slice(0, slash)).trim();
  if (!isIpLiteral(addr)) return undefined;
  const family = isIP(addr) as 4 | 6;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  if (family === 4) {
    const n = parseIPv4(addr);
    for (let i = 0; i < 4; i++) bytes[i] = Math.floor(n / 2 ** (24 - 8 * i)) & 0xff;
  } else {
    const parts = [0, 0, 0, 0, 0, 0, 0, 0];
    parseIPv6(addr, parts);
    parts.forEach((g, i) => {
      bytes[2 * i] = g >> 8;
      bytes[2 * i + 1] = g & 0xff;
    });
  }
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3] &= ~(0x80 >> (bit & 7));
  return { family, bytes, prefix };
}

/**
 * Strict dotted-quad parser: the address as an unsigned 32-bit number, or -1.
 * Hand-written for the routing hot path.
 */
export function parseIPv4(s: string, start = 0, end = s.length): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (octet < 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || octet < 0) return -1;
  return value * 256 + octet;
}

const GROUPS = [0, 0, 0, 0, 0, 0, 0, 0];

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses an IPv6 literal into eight 16-bit groups written to `out` (zone id
 * ignored, dotted IPv4 tail allowed); false when `s` is not IPv6. Hand-written
 * because the routing hot path cannot afford a regex parser, and because
 * ipaddr.js reads `::1.2.3.4` as `::ffff:1.2.3.4`.
 */
export function parseIPv6(s: string, out: number[]): boolean {
  const percent = s.indexOf('%');
  const end = percent < 0 ? s.length : percent;
  let n = 0;
  let gap = -1;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (end === 0 || s.charCodeAt(0) === 58) {
    return false;
  }
  while (i < end) {
    const start = i;
    let value = 0;
    let d: number;
    while (i < end && (d = hexDigit(s.charCodeAt(i))) >= 0) {
      value = value * 16 + d;
      i++;
    }
    if (i < end && s.charCodeAt(i) === 46) {
      const v4 = parseIPv4(s, start, end);
      if (v4 < 0 || n > 6) return false;
      GROUPS[n++] = Math.floor(v4 / 0x10000);
      GROUPS[n++] = v4 % 0x10000;
      break;
    }
    if (i === start || i - start > 4 || n === 8) return false;
    GROUPS[n++] = value;
    if (i === end) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
    } else if (i === end) {
      return false;
    }
  }
  if (gap < 0) {
    if (n !== 8) return false;
    for (let k = 0; k < 8; k++) out[k] = GROUPS[k];
    return true;
  }
  if (n > 7) return false;
  const zeros = 8 - n;
  for (let k = 0; k < gap; k++) out[k] = GROUPS[k];
  for (let k = gap; k < gap + zeros; k++) out[k] = 0;
  for (let k = gap; k < n; k++) out[k + zeros] = GROUPS[k];
  return true;
}

/**
 * The one text form of an IP literal, so that addresses compare as addresses:
 * IPv6 in compressed lower case, IPv4-mapped IPv6 (`::ffff:127.0.0.1`) as the
 * IPv4 address it maps, `0:0:0:0:0:0:0:1` as `::1`. Not an IP literal: returned
 * unchanged.
 */
export function canonicalAddress(text: string): string {
  const c = parseCidr(text);
  if (!c || c.prefix !== (c.family === 4 ? 32 : 128)) return text;
  const b = c.bytes;
  if (c.family === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  const mapped = b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
  if (mapped) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** True for an IPv4-mapped IPv6 literal (`::ffff:127.0.0.1`, `::ffff:7f00:1`). */
export function isIPv4Mapped(text: string): boolean {
  const c = parseCidr(text);
  if (!c || c.family !== 6 || c.prefix !== 128) return false;
  return c.bytes.slice(0, 10).every((x) => x === 0) && c.bytes[10] === 0xff && c.bytes[11] === 0xff;
}

/** True for an IPv6 literal in fe80::/10, whose bind needs a zone (the interface) to mean anything. */
export function isLinkLocalV6(text: string): boolean {
  const c = parseCidr(text);
  return c !== undefined && c.family === 6 && c.bytes[0] === 0xfe && (c.bytes[1]! & 0xc0) === 0x80;
}

/** True for `0.0.0.0` and `::` in any spelling. */
export function isUnspecifiedAddress(text: string): boolean {
  const c = parseCidr(text);
  return c !== undefined && c.prefix === (c.family === 4 ? 32 : 128) && c.bytes.every((x) => x === 0);
}

/**
 * True when `text` is a CIDR written with host bits set (`10.1.2.3/8`), which
 * means its network (`10.0.0.0/8`). A bare address is a full-length prefix and
 * has none.
 */
export function hasHostBits(text: string): boolean {
  const c = parseCidr(text);
  const slash = text.indexOf('/');
  if (!c || slash < 0) return false;
  const full = parseCidr(text.slice(0, slash));
  return full !== undefined && full.bytes.some((b, i) => b !== c.bytes[i]);
}
