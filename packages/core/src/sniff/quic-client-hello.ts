/** TLS handshake message type of a ClientHello. */
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;

/**
 * What the start of a TLS handshake stream says: `incomplete` (fewer bytes
 * than the first message), `other` (it is not a ClientHello, or one longer
 * than `max`), or the whole ClientHello message (header included).
 */
export type ClientHelloPrefix = { readonly kind: 'incomplete' } | { readonly kind: 'other' } | { readonly kind: 'complete'; readonly message: Buffer };

/** Looks at the first handshake message of a stream (TLS 1.3 handshake messages, no record layer: QUIC's CRYPTO stream). */
export function clientHelloMessage(stream: Buffer, max: number): ClientHelloPrefix {
  if (stream.length < 4) return { kind: 'incomplete' };
  if (stream[0] !== CLIENT_HELLO) return { kind: 'other' };
  const length = stream.readUIntBE(1, 3);
  if (length > max) return { kind: 'other' };
  if (stream.length < 4 + length) return { kind: 'incomplete' };
  return { kind: 'complete', message: stream.subarray(0, 4 + length) };
}

/**
 * The server name of a complete ClientHello handshake message (RFC 8446
 * §4.1.2, RFC 6066 §3): the first `host_name` entry, lower-cased, without a
 * trailing dot. Undefined when there is none, the message is malformed, or
 * the name is not a plausible DNS name (a sniffed name is routed on and
 * logged, so odd bytes are not let through).
 */
export function clientHelloServerName(message: Buffer): string | undefined {
  const end = message.length;
  // type(1) length(3) legacy_version(2) random(32)
  let pos = 4 + 2 + 32;
  const sessionId = vector(message, pos, end, 1);
  const suites = sessionId && vector(message, sessionId.end, end, 2);
  const compression = suites && vector(message, suites.end, end, 1);
  const extensions = compression && vector(message, compression.end, end, 2);
  if (!extensions) return undefined;
  pos = extensions.start;
  while (pos + 4 <= extensions.end) {
    const type = message.readUInt16BE(pos);
    const ext = vector(message, pos + 2, extensions.end, 2);
    if (!ext) return undefined;
    if (type === EXT_SERVER_NAME) return serverName(message, ext.start, ext.end);
    pos = ext.end;
  }
  return undefined;
}

function serverName(m: Buffer, start: number, end: number): string | undefined {
  const list = vector(m, start, end, 2);
  if (!list) return undefined;
  let pos = list.start;
  while (pos + 3 <= list.end) {
    const nameType = m[pos]!;
    const name = vector(m, pos + 1, list.end, 2);
    if (!name) return undefined;
    if (nameType === HOST_NAME) return plausibleHostName(m.toString('latin1', name.start, name.end));
    pos = name.end;
  }
  return undefined;
}

/** A length-prefixed vector at `pos` whose length field is `lenBytes` long; undefined when it runs past `end`. */
function vector(m: Buffer, pos: number, end: number, lenBytes: 1 | 2): { readonly start: number; readonly end: number } | undefined {
  if (pos + lenBytes > end) return undefined;
  const len = lenBytes === 1 ? m[pos]! : m.readUInt16BE(pos);
  const start = pos + lenBytes;
  return start + len > end ? undefined : { start, end: start + len };
}

const HOST_NAME_RE = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

function plausibleHostName(raw: string): string | undefined {
  const name = (raw.endsWith('.') ? raw.slice(0, -1) : raw).toLowerCase();
  return name.length > 0 && name.length <= 253 && HOST_NAME_RE.test(name) ? name : undefined;
}
