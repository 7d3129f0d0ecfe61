import * as http from 'node:http';
import { ErrorCode, SluiceError } from '../errors';
import type { UpstreamTransport } from './transport';
import { startTls, type DnsUpstream, type UpstreamTlsOptions } from './upstream';

const MAX_RESPONSE = 65535;

/**
 * `https://host[:443]/path` (DoH, RFC 8484): the query POSTed as
 * `application/dns-message` over TLS opened through the transport, so `via`
 * works as for the other protocols. The query's ID is sent as 0 (RFC 8484
 * §4.1, cache-friendly) and restored on the answer.
 */
export class HttpsUpstream implements DnsUpstream {
  private readonly url: URL;

  constructor(
    readonly tag: string,
    readonly address: string,
    private readonly transport: UpstreamTransport,
    private readonly tlsOptions: UpstreamTlsOptions = {},
  ) {
    this.url = new URL(address);
  }

  async exchange(query: Buffer, signal: AbortSignal): Promise<Buffer> {
    const host = this.url.hostname.replace(/^\[|\]$/g, '');
    const port = this.url.port === '' ? 443 : Number(this.url.port);
    try {
      const raw = await this.transport.openStream(host, port, signal);
      const socket = await startTls(raw, host, this.tlsOptions, signal, ['http/1.1']);
      const body = Buffer.from(query);
      body.writeUInt16BE(0, 0);
      const response = await post(socket, this.url, body, signal);
      response.writeUInt16BE(query.readUInt16BE(0), 0);
      return response;
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new SluiceError(ErrorCode.UPSTREAM, `dns: upstream ${this.address}: ${e.code ?? e.message}`, { cause: err });
    }
  }
}

function post(socket: import('node:tls').TLSSocket, url: URL, body: Buffer, signal: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const req = http.request({
      createConnection: () => socket,
      method: 'POST',
      host: url.hostname,
      path: `${url.pathname}${url.search}`,
      headers: { host: url.host, 'content-type': 'application/dns-message', accept: 'application/dns-message', 'content-length': body.length },
      signal,
    });
    req.once('error', (err) => {
      socket.destroy();
      reject(signal.aborted ? new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream query timed out') : err);
    });
    req.once('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        socket.destroy();
        return reject(new Error(`HTTP ${res.statusCode}`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_RESPONSE) {
          socket.destroy();
          reject(new Error('response larger than a DNS message'));
        } else chunks.push(c);
      });
      res.once('end', () => {
        socket.destroy();
        const msg = Buffer.concat(chunks);
        if (msg.length < 12) reject(new Error('response shorter than a DNS header'));
        else resolve(msg);
      });
      res.once('error', reject);
    });
    req.end(body);
  });
}
