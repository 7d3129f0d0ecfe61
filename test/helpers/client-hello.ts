/** A TLS extension as it goes on the wire: type and data. */
export interface TlsExtension {
  readonly type: number;
  readonly data: Buffer;
}

function u16(n: number): Buffer {
  return Buffer.from([(n >> 8) & 0xff, n & 0xff]);
}

function u24(n: number): Buffer {
  return Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
}

/** The server_name extension (RFC 6066 §3) with one host_name entry. */
export function sniExtension(name: string | Buffer): TlsExtension {
  const host = Buffer.isBuffer(name) ? name : Buffer.from(name, 'latin1');
  const entry = Buffer.concat([Buffer.from([0]), u16(host.length), host]);
  return { type: 0, data: Buffer.concat([u16(entry.length), entry]) };
}

/** Options of {@link clientHello}. */
export interface ClientHelloOptions {
  /** The SNI host name; null for no server_name extension. Default `example.com`. */
  readonly sni?: string | Buffer | null;
  /** Extensions sent before server_name (padding, GREASE, key shares…). */
  readonly before?: readonly TlsExtension[];
  readonly after?: readonly TlsExtension[];
  /** Leave out the extensions block altogether (a TLS 1.0-era hello). */
  readonly noExtensions?: boolean;
}

/** A ClientHello handshake message (type, 24-bit length, body), built field by field as RFC 8446 §4.1.2 lays it out. */
export function clientHello(opts: ClientHelloOptions = {}): Buffer {
  const sni = opts.sni === undefined ? 'example.com' : opts.sni;
  const exts = [...(opts.before ?? []), ...(sni === null ? [] : [sniExtension(sni)]), ...(opts.after ?? [])];
  const extBytes = Buffer.concat(exts.map((e) => Buffer.concat([u16(e.type), u16(e.data.length), e.data])));
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([32]),
    Buffer.alloc(32, 9),
    u16(4),
    Buffer.from([0x13, 0x01, 0x13, 0x02]),
    Buffer.from([1, 0]),
    opts.noExtensions ? Buffer.alloc(0) : Buffer.concat([u16(extBytes.length), extBytes]),
  ]);
  return Buffer.concat([Buffer.from([1]), u24(body.length), body]);
}

/** A padding extension (type 21) of `n` bytes. */
export function padding(n: number): TlsExtension {
  return { type: 21, data: Buffer.alloc(n) };
}

/**
 * `message` in TLS handshake records: each record carries the next `sizes[i]`
 * bytes (the last size repeats), at most 16,384 each as RFC 8446 allows.
 */
export function inRecords(message: Buffer, sizes: readonly number[] = [16_384]): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (let off = 0; off < message.length; i++) {
    const n = Math.min(sizes[Math.min(i, sizes.length - 1)]!, message.length - off, 16_384);
    out.push(Buffer.from([0x16, 3, 1]), u16(n), message.subarray(off, off + n));
    off += n;
  }
  return Buffer.concat(out);
}
