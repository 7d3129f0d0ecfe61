/** Longest DNS name in text form (RFC 1035: 255 octets on the wire, 253 characters without the trailing dot). */
const MAX_NAME = 253;

/**
 * The host name in `bytes`, lower-cased and without a trailing dot, or
 * undefined when it is not one: empty, too long, an empty label, or a
 * character other than letters, digits, `-`, `_` and `.` (an IDN arrives
 * here in its `xn--` form). Sniffed names are routed on and logged, so
 * nothing else gets through.
 */
export function hostName(bytes: Uint8Array): string | undefined {
  let n = bytes.length;
  if (n > 0 && bytes[n - 1] === 0x2e) n--;
  if (n === 0 || n > MAX_NAME) return undefined;
  let out = '';
  let prev = 0x2e; // a name may not start with a dot
  for (let i = 0; i < n; i++) {
    let c = bytes[i]!;
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || (c === 0x2e && prev !== 0x2e);
    if (!ok) return undefined;
    out += String.fromCharCode(c);
    prev = c;
  }
  return out;
}
