import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, SluiceError } from '../errors';
import { DEFAULT_IDLE_MS } from './stream-pipeline';
import type { UpstreamTransport } from './transport';
import { startTls, type DnsUpstream, type UpstreamTlsOptions } from './upstream';

const MAX_RESPONSE = 65535;
/** Connections kept per DoH upstream: HTTP/1.1 answers one request at a time per connection. */
const MAX_SOCKETS = 4;
/** How long opening a connection (TCP, or through a `via`, and TLS) may take. */
const CONNECT_TIMEOUT_MS = 5000;

/** How a DoH query is sent (RFC 8484 §4.1): `POST` a body, or `GET` with `?dns=` (base64url, no padding). */
export type DohMethod = 'GET' | 'POST';

/**
 * An HTTP agent whose connections are opened through the upstream's
 * transport (so `via` works) and kept alive between queries, closed after
 * {@link DEFAULT_IDLE_MS} unused.
 */
class TransportAgent extends http.Agent {
  constructor(
    private readonly openTls: (signal: AbortSignal) => Promise<Duplex>,
    idleMs: number,
  ) {
    super({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS, timeout: idleMs, scheduling: 'lifo' });
  }

  // Node's Agent takes a connection from the callback when createConnection returns nothing.
  override createConnection(_options: unknown, done: (err: Error | null, socket?: Duplex) => void): undefined {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream connect timed out')), CONNECT_TIMEOUT_MS);
    this.openTls(controller.signal).then(
      (socket) => {
        clearTimeout(timer);
        done(null, socket);
      },
      (err: Error) => {
        clearTimeout(timer);
        done(err);
      },
    );
    return undefined;
  }
}

/**
 * `https://host[:443]/path` (DoH, RFC 8484): the query sent as
 * `application/dns-message` (`POST`, the default, or `GET`) over TLS opened
 * through the transport, so `via` works as for the other protocols; the
 * connections are kept alive between queries. The query's ID is sent as 0
 * (RFC 8484 §4.1, cache-friendly) and restored on the answer.
 */
export class HttpsUpstream implements DnsUpstream {
  private readonly url: URL;
  private readonly agent: TransportAgent;
  /** Connections opened so far. */
  connectionsOpened = 0;

  constructor(
    readonly tag: string,
    readonly address: string,
    transport: UpstreamTransport,
    tlsOptions: UpstreamTlsOptions = {},
    private readonly method: DohMethod = 'POST',
    idleMs = DEFAULT_IDLE_MS,
  ) {
    this.url = new URL(address);
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    const port = this.url.port === '' ? 443 : Number(this.url.port);
    this.agent = new TransportAgent(async (signal) => {
      this.connectionsOpened++;
      return startTls(await transport.openStream(host, port, signal), host, tlsOptions, signal, ['http/1.1']);
    }, idleMs);
  }

  async exchange(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    try {
      const message = Buffer.from(query);
      message.writeUInt16BE(0, 0);
      const response = await this.request(message, signal);
      response.writeUInt16BE(query.readUInt16BE(0), 0);
      return response;
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new SluiceError(ErrorCode.UPSTREAM, `dns: upstream ${this.address}: ${e.code ?? e.message}`, { cause: err });
    }
  }

  /** Closes the kept connections. */
  close(): void {
    this.agent.destroy();
  }

  private request(message: Buffer, signal: AbortSignal): Promise<Buffer> {
    const url = this.url;
    const get = this.method === 'GET';
    const path = get ? `${url.pathname}${url.search === '' ? '?' : `${url.search}&`}dns=${message.toString('base64url')}` : `${url.pathname}${url.search}`;
    const headers: http.OutgoingHttpHeaders = { host: url.host, accept: 'application/dns-message' };
    if (!get) Object.assign(headers, { 'content-type': 'application/dns-message', 'content-length': message.length });
    return new Promise<Buffer>((resolve, reject) => {
      const req = http.request({ agent: this.agent, method: this.method, host: url.hostname, path, headers, signal });
      req.once('error', (err) => reject(signal.aborted ? new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream query timed out') : err));
      req.once('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`HTTP ${res.statusCode}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE) {
            req.destroy();
            reject(new Error('response larger than a DNS message'));
          } else chunks.push(c);
        });
        res.once('end', () => {
          const msg = Buffer.concat(chunks);
          if (msg.length < 12) reject(new Error('response shorter than a DNS header'));
          else resolve(msg);
        });
        res.once('error', reject);
      });
      req.end(get ? undefined : message);
    });
  }
}
