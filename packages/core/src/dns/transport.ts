import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Destination, Endpoint, FlowContext, FlowMetadata } from '../adapter/flow';
import type { Outbound } from '../adapter/outbound';
import { ErrorCode, SluiceError } from '../errors';
import { canonicalIp } from './fake-ip-pool';

/**
 * How a datagram exchange judges a reply that carries its query's ID and
 * comes from the server's address and port. RFC 5452 §9.1: a reply is
 * accepted only when it also answers the question asked; any other is a
 * spoofed or stale datagram, so it is discarded and the exchange keeps
 * waiting for the genuine reply until its signal aborts.
 */
export interface ReplyFilter {
  /** Whether `reply` answers the question asked. Must not throw. */
  accepts(reply: Buffer): boolean;
  /** Told of each reply {@link ReplyFilter.accepts} refused, before the exchange goes on waiting. */
  discarded(reply: Buffer, from: Endpoint): void;
}

/**
 * How an upstream's bytes leave: a plain socket of this host, or an
 * outbound's `dialTcp`/`dialUdp` (`via`), so DNS can go through a SOCKS chain
 * or a `direct` outbound that carries the bypass mark.
 */
export interface UpstreamTransport {
  /** A byte stream to `host:port` (`host` an IP or a name). */
  openStream(host: string, port: number, signal: AbortSignal): Promise<Duplex>;
  /**
   * Sends one query to `server` and resolves with the first response from
   * `server`'s address and port that carries its ID (QR set) and that
   * `filter` accepts; datagrams from anywhere else are not replies and are
   * dropped. Rejects when `signal` aborts.
   */
  datagram(payload: Buffer, server: { address: string; port: number }, signal: AbortSignal, filter?: ReplyFilter): Promise<Buffer>;
}

function aborted(signal: AbortSignal): SluiceError {
  const r: unknown = signal.reason;
  return r instanceof SluiceError ? r : new SluiceError(ErrorCode.DIAL_TIMEOUT, 'dns: upstream query timed out');
}

/** Plain sockets of this host (no mark, no interface): for gateway setups where Sluice's own traffic is never captured. */
export const plainTransport: UpstreamTransport = {
  openStream(host, port, signal) {
    return new Promise<Duplex>((resolve, reject) => {
      const sock = net.connect({ host, port, noDelay: true });
      const onAbort = (): void => {
        sock.destroy();
        reject(aborted(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      sock.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        sock.removeListener('error', reject);
        resolve(sock);
      });
      sock.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      });
    });
  },
  datagram(payload, server, signal, filter) {
    return sharedUdp(net.isIPv6(server.address) ? 6 : 4).exchange(payload, server, signal, filter);
  },
};

/** A response to `id`: a header, QR set. */
function isResponseTo(reply: Buffer, id: number): boolean {
  return reply.length >= 12 && reply.readUInt16BE(0) === id && (reply[2] & 0x80) !== 0;
}

/**
 * Whether a response to `id` from `from` settles the exchange: true when
 * `filter` (if any) accepts it; a refused one is reported to the filter and
 * the exchange keeps waiting.
 */
function settles(reply: Buffer, from: Endpoint, filter: ReplyFilter | undefined): boolean {
  if (!filter || filter.accepts(reply)) return true;
  filter.discarded(reply, from);
  return false;
}

interface Pending {
  readonly resolve: (reply: Buffer) => void;
  readonly filter?: ReplyFilter;
}

/**
 * One UDP socket per family for every plain upstream query, responses matched
 * to queries by server and ID: a socket per query would cost a bind and a
 * close each. The random IDs (and the socket's random port) are what an
 * off-path spoofer must guess; an ID still in flight to the same server is
 * never reused. Unreferenced, so it never keeps the process alive.
 */
class SharedUdpSocket {
  private socket: dgram.Socket | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly family: 4 | 6) {}

  private open(): dgram.Socket {
    if (this.socket) return this.socket;
    const sock = dgram.createSocket(this.family === 6 ? 'udp6' : 'udp4');
    sock.on('message', (msg, rinfo) => {
      if (msg.length < 12) return;
      const key = `${rinfo.address}|${rinfo.port}|${msg.readUInt16BE(0)}`;
      // Keyed by the source too: a datagram from an address and port no query went to is not a reply (RFC 5452 §9.1).
      const p = this.pending.get(key);
      if (p && isResponseTo(msg, msg.readUInt16BE(0)) && settles(msg, { address: rinfo.address, port: rinfo.port }, p.filter)) p.resolve(msg);
    });
    // A send error (ICMP unreachable surfaces here on Linux) fails nothing by itself: the query times out.
    sock.on('error', () => {});
    sock.unref();
    this.socket = sock;
    return sock;
  }

  exchange(payload: Buffer, server: { address: string; port: number }, signal: AbortSignal, filter?: ReplyFilter): Promise<Buffer> {
    const sock = this.open();
    let id = payload.readUInt16BE(0);
    let key = `${server.address}|${server.port}|${id}`;
    if (this.pending.has(key)) {
      payload = Buffer.from(payload);
      do {
        id = (id + 1) & 0xffff;
        key = `${server.address}|${server.port}|${id}`;
      } while (this.pending.has(key));
      payload.writeUInt16BE(id, 0);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const done = (err: Error | undefined, reply?: Buffer): void => {
        this.pending.delete(key);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(reply!);
      };
      const onAbort = (): void => done(aborted(signal));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.pending.set(key, { resolve: (reply) => done(undefined, reply), filter });
      sock.send(payload, server.port, server.address, (err) => err && done(err));
    });
  }
}

const shared: Partial<Record<4 | 6, SharedUdpSocket>> = {};
function sharedUdp(family: 4 | 6): SharedUdpSocket {
  return (shared[family] ??= new SharedUdpSocket(family));
}

let nextQueryFlow = 0;

/** The flow an outbound sees for one upstream exchange: inbound `dns`, id `dns-N`. */
function queryFlow(network: 'tcp' | 'udp', dst: Destination): FlowMetadata {
  return { id: `dns-${++nextQueryFlow}`, network, inbound: 'dns', src: { address: '0.0.0.0', port: 0 }, dst };
}

function destination(host: string, port: number): Destination {
  // A name is passed on as a name, so a SOCKS `via` lets its server resolve it.
  return net.isIP(host) ? { address: host, port } : { address: host, port, host };
}

/**
 * Dials through the outbound tagged `tag` (`dns.upstreams[].via`), looked up
 * at each query so that a reload's new outbound is used.
 */
export function outboundTransport(tag: string, lookup: (tag: string) => Outbound | undefined, logger: Logger): UpstreamTransport {
  const current = (): Outbound => {
    const o = lookup(tag);
    if (!o) throw new SluiceError(ErrorCode.CONFIG, `dns: outbound "${tag}" is gone`);
    return o;
  };
  const ctx = (flow: FlowMetadata, signal: AbortSignal): FlowContext => ({ flow, signal, logger: logger.child({ flowId: flow.id }) });
  return {
    openStream(host, port, signal) {
      const outbound = current();
      const dst = destination(host, port);
      return outbound.dialTcp(dst, ctx(queryFlow('tcp', dst), signal));
    },
    async datagram(payload, server, signal, filter) {
      const outbound = current();
      if (!outbound.dialUdp) throw new SluiceError(ErrorCode.UNSUPPORTED_NETWORK, `dns: outbound "${outbound.tag}" (${outbound.type}) does not carry udp`);
      const dst = destination(server.address, server.port);
      const serverIp = canonicalIp(server.address) ?? server.address;
      const channel = await outbound.dialUdp(ctx(queryFlow('udp', dst), signal));
      return new Promise<Buffer>((resolve, reject) => {
        const done = (err: Error | undefined, reply?: Buffer): void => {
          signal.removeEventListener('abort', onAbort);
          channel.close();
          if (err) reject(err);
          else resolve(reply!);
        };
        const onAbort = (): void => done(aborted(signal));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        channel.setReceiver({
          onPacket: (data, from) => {
            // The channel may carry datagrams from elsewhere (an unconnected socket): only the server's are replies.
            if (from.port !== server.port || (canonicalIp(from.address) ?? from.address) !== serverIp) return;
            if (isResponseTo(data, payload.readUInt16BE(0)) && settles(data, from, filter)) done(undefined, data);
          },
          onClose: (err) => done(err ?? new SluiceError(ErrorCode.DIAL, `dns: outbound "${outbound.tag}" closed the channel`)),
        });
        channel.send(payload, dst);
      });
    },
  };
}
