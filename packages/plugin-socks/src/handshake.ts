import { isIPv4 } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Endpoint } from '@sluice/core';
import * as errors from './errors';
import { ipToBytes } from './ip';
import type { SocksVersion } from './options';
import { checkAuthReply, parseMethodChoice, parseSocks4Reply, parseSocks5Reply } from './reply';

/**
 * The SOCKS client exchange (RFC 1928, RFC 1929, SOCKS4 and 4a) over any
 * Duplex: a fresh TCP socket or a stream handed over by a `via` outbound.
 *
 * Written here rather than with `SocksClient` from the `socks` package because
 * that client (2.8) hands bytes that arrive after the reply to the caller by
 * `emit('data')` plus `resume()` in a `setImmediate`, which loses them when
 * nobody listens yet (server-first protocols: SSH, SMTP banners); it accepts a
 * reply with an unknown ATYP and passes its bytes on as payload; it reports a
 * wrong version byte in the final reply as a rejection; and its errors carry
 * the options, password included. Here each reply is read with `read(n)` for
 * exactly its own length, so later bytes stay in the stream for the relay.
 */

/** What to ask the server. */
export interface HandshakeRequest {
  readonly version: SocksVersion;
  readonly command: 'connect' | 'associate';
  /** IP literal (sent as ATYP IPv4/IPv6) or host name (ATYP DOMAINNAME, or SOCKS4a). */
  readonly host: string;
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
}

/** How long the exchange may take, and what cancels it. */
export interface HandshakeLimits {
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
}

/** Reads exact byte counts off a paused stream; later bytes stay buffered in the stream. */
class ExactReader {
  private waiter?: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void };
  private failure?: Error;

  constructor(private readonly stream: Duplex) {
    stream.on('readable', this.onReadable);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onError);
    if (stream.destroyed || stream.readableEnded) this.fail(errors.closedDuringHandshake());
  }

  read(n: number): Promise<Buffer> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.onReadable();
    });
  }

  /** Detaches; the stream is left paused with whatever followed the reply still buffered. */
  release(): void {
    this.stream.off('readable', this.onReadable);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onEnd);
    this.stream.off('error', this.onError);
    this.waiter = undefined;
  }

  private readonly onReadable = (): void => {
    const w = this.waiter;
    if (!w) return;
    const chunk = this.stream.read(w.n) as Buffer | null;
    if (chunk === null) return;
    // read(n) returns fewer bytes only when the stream ended: a truncated reply.
    if (chunk.length < w.n) return this.fail(errors.closedDuringHandshake());
    this.waiter = undefined;
    w.resolve(chunk);
  };

  private readonly onEnd = (): void => this.fail(errors.closedDuringHandshake());
  private readonly onError = (err: Error): void => this.fail(errors.closedDuringHandshake(err));

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }
}

/** DST.ADDR as SOCKS5 encodes it: ATYP then the address bytes. */
function socks5Address(host: string): Buffer {
  const ip = ipToBytes(host);
  if (ip) return Buffer.concat([Buffer.from([ip.length === 4 ? 0x01 : 0x04]), ip]);
  const name = Buffer.from(host, 'utf8');
  if (name.length > 255) throw errors.unsupportedDestination('host name longer than 255 bytes');
  return Buffer.concat([Buffer.from([0x03, name.length]), name]);
}

function portBytes(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(port);
  return b;
}

async function socks5(s: Duplex, r: ExactReader, req: HandshakeRequest): Promise<Endpoint> {
  const withAuth = req.username !== undefined && req.password !== undefined;
  const target = Buffer.concat([socks5Address(req.host), portBytes(req.port)]);
  s.write(Buffer.from(withAuth ? [0x05, 2, 0x00, 0x02] : [0x05, 1, 0x00]));
  if (parseMethodChoice(await r.read(2), withAuth) === 'password') {
    const user = Buffer.from(req.username!, 'utf8');
    const pass = Buffer.from(req.password!, 'utf8');
    s.write(Buffer.concat([Buffer.from([0x01, user.length]), user, Buffer.from([pass.length]), pass]));
    checkAuthReply(await r.read(2));
  }
  s.write(Buffer.concat([Buffer.from([0x05, req.command === 'connect' ? 0x01 : 0x03, 0x00]), target]));
  // Read exactly the reply, in the steps its header allows, so later bytes stay in the stream.
  let reply = await r.read(4);
  for (;;) {
    const progress = parseSocks5Reply(reply);
    if ('bound' in progress) return progress.bound;
    reply = Buffer.concat([reply, await r.read(progress.need - reply.length)]);
  }
}

async function socks4(s: Duplex, r: ExactReader, req: HandshakeRequest): Promise<Endpoint> {
  if (req.command !== 'connect') throw errors.unsupportedDestination('UDP needs SOCKS5');
  const userId = Buffer.from(req.username ?? '', 'utf8');
  let ip: Buffer;
  let name = Buffer.alloc(0);
  if (isIPv4(req.host)) {
    ip = ipToBytes(req.host)!;
  } else if (req.version === '4a' && ipToBytes(req.host) === undefined) {
    // SOCKS4a: DSTIP 0.0.0.1 says "the name follows the USERID".
    ip = Buffer.from([0, 0, 0, 1]);
    name = Buffer.concat([Buffer.from(req.host, 'utf8'), Buffer.from([0])]);
  } else {
    throw errors.unsupportedDestination(`SOCKS${req.version} cannot reach ${ipToBytes(req.host) ? 'IPv6 addresses' : 'host names'}`);
  }
  s.write(Buffer.concat([Buffer.from([0x04, 0x01]), portBytes(req.port), ip, userId, Buffer.from([0]), name]));
  return parseSocks4Reply(await r.read(8));
}

/**
 * Runs the SOCKS exchange on `stream` and returns the server's bound address
 * (for ASSOCIATE, the UDP relay endpoint). On success the stream is paused and
 * holds any bytes that followed the reply. On failure it rejects with a
 * SluiceError and leaves the stream to the caller, who should destroy it.
 */
export async function handshake(stream: Duplex, req: HandshakeRequest, limits: HandshakeLimits): Promise<Endpoint> {
  const reader = new ExactReader(stream);
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(errors.handshakeTimeout()), limits.timeoutMs);
    onAbort = () => reject(errors.aborted(limits.signal));
    if (limits.signal.aborted) onAbort();
    else limits.signal.addEventListener('abort', onAbort, { once: true });
  });
  const exchange = req.version === 5 ? socks5(stream, reader, req) : socks4(stream, reader, req);
  // Whichever loses the race must not become an unhandled rejection.
  exchange.catch(() => undefined);
  guard.catch(() => undefined);
  try {
    return await Promise.race([exchange, guard]);
  } finally {
    clearTimeout(timer);
    if (onAbort) limits.signal.removeEventListener('abort', onAbort);
    reader.release();
  }
}
