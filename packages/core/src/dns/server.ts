import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Logger } from 'pino';
import { unmapAddress } from '../util/endpoint';
import type { DnsResolver } from './resolver';

/** A TCP client may leave a connection idle this long between queries (RFC 7766 suggests seconds). */
const TCP_IDLE_MS = 10_000;
/** Queries in flight per TCP connection; more are read only once some are answered. */
const TCP_MAX_INFLIGHT = 32;

/** One `dns.listen` address. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/**
 * The resolver's listeners: a UDP socket and a TCP server on each address.
 * A bad datagram or connection costs only itself; queries on one TCP
 * connection are answered as they complete (pipelined, RFC 7766).
 */
export class DnsServer {
  private readonly udp: dgram.Socket[] = [];
  private readonly tcp: net.Server[] = [];
  private readonly conns = new Set<net.Socket>();

  constructor(
    private readonly resolver: DnsResolver,
    private readonly addresses: readonly ListenAddress[],
    private readonly logger: Logger,
  ) {}

  /** Binds every listener; on failure closes those already bound and rejects naming the address. */
  async start(): Promise<void> {
    try {
      for (const a of this.addresses) {
        this.udp.push(await this.bindUdp(a));
        this.tcp.push(await this.listenTcp(a));
      }
    } catch (err) {
      await this.close();
      throw err;
    }
    this.logger.info({ listen: this.addresses.map((a) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`)) }, 'dns resolver listening');
  }

  /** The bound ports (the same order as the addresses), for listeners configured with port 0 in tests. */
  get ports(): { udp: number; tcp: number }[] {
    return this.udp.map((u, i) => ({ udp: u.address().port, tcp: (this.tcp[i].address() as net.AddressInfo).port }));
  }

  private bindUdp(a: ListenAddress): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket({ type: net.isIPv6(a.address) ? 'udp6' : 'udp4', ipv6Only: net.isIPv6(a.address) });
      sock.once('error', (err) => reject(Object.assign(err, { message: `dns.listen ${a.address}:${a.port} (udp): ${err.message}` })));
      sock.bind(a.port, a.address, () => {
        sock.removeAllListeners('error');
        sock.on('error', (err) => this.logger.warn({ err }, 'dns udp socket error'));
        sock.on('message', (msg, rinfo) => this.onDatagram(sock, msg, rinfo));
        resolve(sock);
      });
    });
  }

  private onDatagram(sock: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const client = { address: unmapAddress(rinfo.address), port: rinfo.port };
    this.resolver.handle(msg, { client, transport: 'udp' }).then(
      (response) => sock.send(response, rinfo.port, rinfo.address, (err) => err && this.logger.debug({ err }, 'dns reply not sent')),
      (err: unknown) => this.logger.error({ err }, 'dns resolver failed on a query'),
    );
  }

  private listenTcp(a: ListenAddress): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer((sock) => this.onConnection(sock));
      server.once('error', (err) => reject(Object.assign(err, { message: `dns.listen ${a.address}:${a.port} (tcp): ${err.message}` })));
      server.listen({ host: a.address, port: a.port, ipv6Only: net.isIPv6(a.address) }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.logger.warn({ err }, 'dns tcp server error'));
        resolve(server);
      });
    });
  }

  private onConnection(sock: net.Socket): void {
    this.conns.add(sock);
    const client = { address: unmapAddress(sock.remoteAddress ?? ''), port: sock.remotePort ?? 0 };
    let buffered = Buffer.alloc(0);
    let inflight = 0;
    sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
    sock.on('error', () => {});
    sock.once('close', () => this.conns.delete(sock));
    sock.on('data', (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
        const query = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
        buffered = buffered.subarray(2 + query.length);
        inflight++;
        if (inflight >= TCP_MAX_INFLIGHT) sock.pause();
        this.resolver.handle(Buffer.from(query), { client, transport: 'tcp' }).then(
          (response) => {
            inflight--;
            if (sock.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(response.length);
            sock.write(Buffer.concat([len, response]));
            if (inflight < TCP_MAX_INFLIGHT) sock.resume();
          },
          (err: unknown) => {
            this.logger.error({ err }, 'dns resolver failed on a query');
            sock.destroy();
          },
        );
      }
    });
  }

  /** Closes every listener and open TCP connection. */
  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))),
      ...this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))),
    ]);
    this.udp.length = 0;
    this.tcp.length = 0;
  }
}
