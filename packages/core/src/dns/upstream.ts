import { randomInt } from 'node:crypto';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import { ErrorCode, SluiceError } from '../errors';
import { StreamPipeline } from './stream-pipeline';
import type { ReplyFilter, UpstreamTransport } from './transport';

/** One upstream resolver: sends a query (wire bytes), resolves with the response (wire bytes). */
export interface DnsUpstream {
  /** `dns.upstreams[].tag`. */
  readonly tag: string;
  /** The URL as configured, for logs. */
  readonly address: string;
  /**
   * The response has the query's ID. Rejects with a {@link SluiceError} on
   * failure or when `signal` aborts. A datagram upstream (`udp://`) discards
   * a reply `filter` refuses and keeps waiting for one it accepts (RFC 5452
   * §9.1); a stream upstream (`tcp://`, `tls://`, `https://`) resolves with
   * what its connection answered, which the caller must check itself: there a
   * wrong answer comes from the upstream, not a spoofer, so waiting longer
   * would not help.
   */
  exchange(query: Buffer, signal: AbortSignal, filter?: ReplyFilter): Promise<Buffer>;
  /** Closes connections kept open between queries. */
  close?(): void;
}

/** TLS settings of `tls://` and `https://` upstreams; tests pass their own CA. */
export interface UpstreamTlsOptions {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
}

/** The query with a fresh random ID (RFC 5452), and that ID. */
function withFreshId(query: Buffer): { bytes: Buffer; id: number } {
  const id = randomInt(0, 0x10000);
  const bytes = Buffer.from(query);
  bytes.writeUInt16BE(id, 0);
  return { bytes, id };
}

function restoreId(response: Buffer, query: Buffer): Buffer {
  response.writeUInt16BE(query.readUInt16BE(0), 0);
  return response;
}

function upstreamError(u: { address: string }, err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const e = err as NodeJS.ErrnoException;
  return new SluiceError(ErrorCode.UPSTREAM, `dns: upstream ${u.address}: ${e.code ?? e.message}`, { cause: err });
}

/** `tcp://IP[:53]`: one connection kept open between queries and shared by them (pipelined, RFC 7766). */
export class TcpUpstream implements DnsUpstream {
  private readonly pipeline: StreamPipeline;

  constructor(
    readonly tag: string,
    readonly address: string,
    server: { host: string; port: number },
    transport: UpstreamTransport,
    idleMs?: number,
  ) {
    this.pipeline = new StreamPipeline((signal) => transport.openStream(server.host, server.port, signal), idleMs);
  }

  /** Connections opened so far. */
  get connectionsOpened(): number {
    return this.pipeline.opened;
  }

  async exchange(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    try {
      return await this.pipeline.exchange(query, signal);
    } catch (err) {
      throw upstreamError(this, err);
    }
  }

  close(): void {
    this.pipeline.close();
  }
}

/** `tls://host[:853]` (RFC 7858): TLS over the transport's stream, the server's name verified; the session is kept and pipelined as for TCP. */
export class TlsUpstream implements DnsUpstream {
  private readonly pipeline: StreamPipeline;

  constructor(
    readonly tag: string,
    readonly address: string,
    server: { host: string; port: number },
    transport: UpstreamTransport,
    tlsOptions: UpstreamTlsOptions = {},
    idleMs?: number,
  ) {
    this.pipeline = new StreamPipeline(async (signal) => startTls(await transport.openStream(server.host, server.port, signal), server.host, tlsOptions, signal, ['dot']), idleMs);
  }

  /** Connections opened so far. */
  get connectionsOpened(): number {
    return this.pipeline.opened;
  }

  async exchange(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    try {
      return await this.pipeline.exchange(query, signal);
    } catch (err) {
      throw upstreamError(this, err);
    }
  }

  close(): void {
    this.pipeline.close();
  }
}

/** TLS client over an already-open stream; resolves once the handshake (and certificate check) is done. */
export function startTls(raw: Duplex, host: string, opts: UpstreamTlsOptions, signal: AbortSignal, alpn: string[]): Promise<tls.TLSSocket> {
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    const ip = /^[\d.]+$|:/.test(host);
    const socket = tls.connect({ socket: raw, servername: ip ? undefined : host, host, ca: opts.ca as tls.ConnectionOptions['ca'], ALPNProtocols: alpn });
    const onAbort = (): void => {
      socket.destroy();
      raw.destroy();
      reject(new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream query timed out'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      signal.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      resolve(socket);
    });
    const onError = (err: Error): void => {
      signal.removeEventListener('abort', onAbort);
      raw.destroy();
      reject(err);
    };
    socket.once('error', onError);
  });
}

/** `udp://IP[:53]`; a truncated answer is asked again over TCP to the same server. */
export class UdpUpstream implements DnsUpstream {
  private readonly tcp: TcpUpstream;

  constructor(
    readonly tag: string,
    readonly address: string,
    private readonly server: { host: string; port: number },
    private readonly transport: UpstreamTransport,
  ) {
    this.tcp = new TcpUpstream(tag, address, server, transport);
  }

  async exchange(query: Buffer, signal: AbortSignal, filter?: ReplyFilter): Promise<Buffer> {
    const { bytes } = withFreshId(query);
    let reply: Buffer;
    try {
      reply = await this.transport.datagram(bytes, { address: this.server.host, port: this.server.port }, signal, filter);
    } catch (err) {
      throw upstreamError(this, err);
    }
    if ((reply[2] & 0x02) !== 0) return this.tcp.exchange(query, signal);
    return restoreId(reply, query);
  }

  close(): void {
    this.tcp.close();
  }
}
