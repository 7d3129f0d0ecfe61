import { isIPv6 } from 'node:net';
import type { SniffOutcome } from './outcome';
import { hostName } from './host-name';

/** Largest HTTP/1 request head (request line and headers) the HTTP sniffer reads; past it the answer is `none`. */
export const MAX_HTTP_HEAD_BYTES = 16 * 1024;

/** Request methods the HTTP sniffer recognises (RFC 9110 §9 and PATCH), each followed by a space on the wire. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'].map((m) => Buffer.from(`${m} `, 'latin1'));
const LF = 0x0a;
const NONE: SniffOutcome = { kind: 'none' };
const MORE: SniffOutcome = { kind: 'more' };

/**
 * Reads the `Host` of an HTTP/1 request, given every byte the client has sent
 * so far: `found` as soon as the `Host` header line is whole (the rest of
 * the head is not waited for), with the port stripped and an IPv6 literal
 * without its brackets; when there is no `Host`, the authority of an
 * absolute-form request target. `more` while the bytes are a prefix of a
 * request head, `none` once they cannot be one (another protocol, HTTP/2's
 * preface, a head without a name, a malformed `Host`, a head longer than
 * {@link MAX_HTTP_HEAD_BYTES}). Never throws.
 */
export function sniffHttp(bytes: Uint8Array): SniffOutcome {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAX_HTTP_HEAD_BYTES));
  const method = matchMethod(b);
  if (method === undefined) return NONE;
  if (method === 0) return MORE;
  let eol = b.indexOf(LF, method);
  if (eol < 0) return incomplete(bytes);
  const line = b.toString('latin1', method, trimCr(b, eol));
  const sp = line.lastIndexOf(' ');
  if (sp < 0 || !/^HTTP\/1\.[01]$/.test(line.slice(sp + 1))) return NONE;
  const fromTarget = absoluteAuthority(line.slice(0, sp));
  for (let start = eol + 1; ; start = eol + 1) {
    eol = b.indexOf(LF, start);
    if (eol < 0) return incomplete(bytes);
    const end = trimCr(b, eol);
    if (end === start) return fromTarget === undefined ? NONE : found(fromTarget);
    if (end - start >= 5 && isHostName(b, start)) {
      const host = hostOf(b.toString('latin1', start + 5, end));
      return host === undefined ? NONE : found(host);
    }
  }
}

function found(host: string): SniffOutcome {
  return { kind: 'found', protocol: 'http', host };
}

/** A line is missing its end: wait for it, unless the head is already too long to be read. */
function incomplete(bytes: Uint8Array): SniffOutcome {
  return bytes.length >= MAX_HTTP_HEAD_BYTES ? NONE : MORE;
}

/** Length of the `METHOD ` the bytes start with, 0 while they are a prefix of one, undefined when they cannot be. */
function matchMethod(b: Buffer): number | undefined {
  let prefix = false;
  for (const m of METHODS) {
    const n = Math.min(m.length, b.length);
    if (m.compare(b, 0, n, 0, n) !== 0) continue;
    if (n === m.length) return n;
    prefix = true;
  }
  return prefix ? 0 : undefined;
}

/** Index just past a line's content: before `\r\n` or `\n`. */
function trimCr(b: Buffer, eol: number): number {
  return eol > 0 && b[eol - 1] === 0x0d ? eol - 1 : eol;
}

/** Whether the line at `start` begins with `host:`, in any case. */
function isHostName(b: Buffer, start: number): boolean {
  return (b[start]! | 0x20) === 0x68 && (b[start + 1]! | 0x20) === 0x6f && (b[start + 2]! | 0x20) === 0x73 && (b[start + 3]! | 0x20) === 0x74 && b[start + 4] === 0x3a;
}

/** The authority of an absolute-form target (`http://name:port/path`), as a host. */
function absoluteAuthority(target: string): string | undefined {
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#@]*@)?([^/?#]*)/.exec(target);
  return m ? hostOf(m[2]!) : undefined;
}

/** `name`, `name:port`, `[v6]` or `[v6]:port`, trimmed, as a host name or an IPv6 literal without brackets. */
function hostOf(value: string): string | undefined {
  const v = value.trim();
  if (v.startsWith('[')) {
    const close = v.indexOf(']');
    if (close < 0 || !isPortSuffix(v.slice(close + 1))) return undefined;
    const ip = v.slice(1, close);
    return isIPv6(ip) ? ip.toLowerCase() : undefined;
  }
  const colon = v.indexOf(':');
  if (colon >= 0 && !isPortSuffix(v.slice(colon))) return undefined;
  return hostName(Buffer.from(colon >= 0 ? v.slice(0, colon) : v, 'latin1'));
}

/** Empty, or `:` and up to five digits. */
function isPortSuffix(s: string): boolean {
  return s === '' || /^:\d{0,5}$/.test(s);
}
