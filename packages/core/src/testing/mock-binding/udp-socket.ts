import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type {
  SocketAddress,
  UdpDatagram,
  UdpSessionClosed,
  UdpSocketStats,
  UdpTransparentSocket,
  UdpTransparentSocketOptions,
} from '@sluice/native';
import type { OriginalDestinationFn } from './tcp';
import { dgramHandle } from './dgram-handle';
import { mockNativeError } from './native-error';

/** A reply the code under test asked the socket to send, with the source it asked for. */
export interface MockReply {
  readonly data: Buffer;
  /** The source requested (the flow's original destination); the datagram really leaves from the mock's own address. */
  readonly from: SocketAddress;
  readonly to: SocketAddress;
}

/** One session handed over with `attachSession`, relayed by the mock in JavaScript. */
interface MockSession {
  readonly id: number;
  readonly key: string;
  readonly client: SocketAddress;
  readonly dst: SocketAddress;
  readonly upstream: dgram.Socket;
  /** Datagrams waiting for dgram's own (asynchronous) connect; undefined once connected. */
  waiting: Buffer[] | undefined;
  up: number;
  down: number;
  lastActive: number;
}

/** How the mock's UDP socket is told what to emulate. */
export interface MockUdpContext {
  readonly originalDestination: () => OriginalDestinationFn | undefined;
  /** Every socket made, newest last, so a test can reach the one core opened. */
  readonly sockets: MockUdpTransparentSocket[];
}

/**
 * The mock `UdpTransparentSocket`: an ordinary dgram socket bound to the
 * requested address (asynchronously: a bind error is emitted on
 * {@link MockUdpTransparentSocket.bound}, not thrown). Each datagram gets the
 * original destination from `originalDestination` (default: the socket's own
 * address), or is delivered by {@link MockUdpTransparentSocket.inject} with
 * any source and destination. Replies cannot leave from a foreign source:
 * they are sent from the mock's own address and recorded in `sent` with the
 * source that was asked for. Attached sessions are relayed in JavaScript.
 */
export class MockUdpTransparentSocket implements UdpTransparentSocket {
  /** Replies sent by `send()` and by attached sessions, in order. */
  readonly sent: MockReply[] = [];
  /** Resolves with the bound address; rejects with the bind error. */
  readonly bound: Promise<SocketAddress>;
  private readonly socket: dgram.Socket;
  private readonly sessions = new Map<string, MockSession>();
  private readonly sweeper: NodeJS.Timeout;
  private closed = false;
  private readonly counters = { received: 0, batches: 0, sent: 0, forwarded: 0, forwardCalls: 0, replied: 0 };

  constructor(
    private readonly options: UdpTransparentSocketOptions,
    private readonly onBatch: (datagrams: UdpDatagram[]) => void,
    private readonly onSessionsClosed: ((sessions: UdpSessionClosed[]) => void) | undefined,
    private readonly context: MockUdpContext,
  ) {
    if (!net.isIP(options.address)) throw mockNativeError('EINVAL', 'bind', `"${options.address}" is not an IP literal`);
    this.socket = dgram.createSocket({ type: net.isIPv6(options.address) ? 'udp6' : 'udp4', reuseAddr: options.reusePort === true, ipv6Only: options.v6Only !== false });
    this.bound = new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: options.address, port: options.port }, () => {
        this.socket.off('error', reject);
        const a = this.socket.address();
        resolve({ address: a.address, port: a.port });
      });
    });
    this.bound.catch(() => {});
    this.socket.on('error', () => {});
    this.socket.on('message', (data, rinfo) => {
      const src = { address: rinfo.address, port: rinfo.port };
      const local = this.socket.address();
      const dst = this.context.originalDestination()?.({ network: 'udp', src, local }) ?? { address: local.address, port: local.port };
      this.inject([{ data, srcAddress: src.address, srcPort: src.port, dstAddress: dst.address, dstPort: dst.port }]);
    });
    const idleMs = options.sessionIdleMs ?? 60_000;
    this.sweeper = setInterval(() => this.sweep(idleMs), Math.max(50, Math.min(idleMs / 4, 5000)));
    this.sweeper.unref();
    context.sockets.push(this);
  }

  /** The bound socket's fd (-1 before the asynchronous bind completes and after `close()`). */
  get fd(): number {
    if (this.closed) return -1;
    const fd = dgramHandle(this.socket)?.fd;
    return typeof fd === 'number' ? fd : -1;
  }

  /**
   * Delivers datagrams as if they had arrived, with any source and original
   * destination: datagrams of an attached session go to its upstream, the
   * rest to `onBatch` in one call.
   */
  inject(datagrams: readonly UdpDatagram[]): void {
    if (this.closed) return;
    const batch: UdpDatagram[] = [];
    for (const d of datagrams) {
      const s = this.sessions.get(key(d.srcAddress, d.srcPort, d.dstAddress, d.dstPort));
      if (!s) {
        batch.push(d);
        continue;
      }
      s.up += d.data.length;
      s.lastActive = Date.now();
      this.counters.forwarded++;
      this.counters.forwardCalls++;
      if (s.waiting) s.waiting.push(d.data);
      else s.upstream.send(d.data);
    }
    if (batch.length === 0) return;
    this.counters.received += batch.length;
    this.counters.batches++;
    this.onBatch(batch);
  }

  send(data: Buffer, fromAddress: string, fromPort: number, toAddress: string, toPort: number): boolean {
    if (this.closed) throw mockNativeError('EBADF', 'sendmsg', 'the socket is closed');
    if (!net.isIP(fromAddress) || !net.isIP(toAddress)) throw mockNativeError('EINVAL', 'sendmsg', `bad address ${fromAddress} or ${toAddress}`);
    this.reply(data, { address: fromAddress, port: fromPort }, { address: toAddress, port: toPort });
    this.counters.sent++;
    return true;
  }

  private reply(data: Buffer, from: SocketAddress, to: SocketAddress): void {
    this.sent.push({ data, from, to });
    this.socket.send(data, to.port, to.address);
  }

  attachSession(id: number, ca: string, cp: number, da: string, dp: number, upstreamFd: number, queued: Buffer[] = []): UdpSessionClosed[] {
    if (this.closed) throw mockNativeError('EBADF', 'attachSession', 'the socket is closed');
    const k = key(ca, cp, da, dp);
    const pushedOut: UdpSessionClosed[] = [];
    const old = this.sessions.get(k);
    if (old) pushedOut.push(this.end(old, 'replaced'));
    const max = this.options.maxSessions ?? 10_000;
    while (this.sessions.size >= max) pushedOut.push(this.end(this.oldest()!, 'session limit'));
    // The fd was connected to dst by whoever made it; dgram adopts it (its maker's handle never polled it).
    const upstream = dgram.createSocket({ type: net.isIPv6(da) ? 'udp6' : 'udp4' });
    upstream.on('error', () => {});
    upstream.bind({ fd: upstreamFd });
    const s: MockSession = { id, key: k, client: { address: ca, port: cp }, dst: { address: da, port: dp }, upstream, waiting: [...queued], up: 0, down: 0, lastActive: Date.now() };
    // The fd arrives connected, which libuv notes (sendto() and connect() then fail with EISCONN) but
    // dgram does not (send() without an address is refused): disconnect below dgram, and let dgram connect.
    dgramHandle(upstream)?.disconnect();
    // Node calls back with the error, though its types say the callback takes none.
    const onConnect = (err?: Error): void => {
      if (this.sessions.get(k) !== s) return;
      if (err) return this.onSessionsClosed?.([this.end(s, err.message)]);
      const waiting = s.waiting ?? [];
      s.waiting = undefined;
      for (const q of waiting) upstream.send(q);
    };
    upstream.connect(dp, da, onConnect as () => void);
    upstream.on('message', (data) => {
      s.down += data.length;
      s.lastActive = Date.now();
      this.counters.replied++;
      this.reply(data, s.dst, s.client);
    });
    this.sessions.set(k, s);
    return pushedOut;
  }

  detachSession(id: number): UdpSessionClosed | undefined {
    for (const s of this.sessions.values()) if (s.id === id) return this.end(s, 'closed');
    return undefined;
  }

  readSessionBytes(id: number, out: Float64Array, offset = 0): boolean {
    if (typeof id !== 'number') throw mockNativeError('EINVAL', 'readSessionBytes', 'id must be a number');
    if (!(out instanceof Float64Array)) throw mockNativeError('EINVAL', 'readSessionBytes', 'out must be a Float64Array');
    if (offset + 2 > out.length) throw mockNativeError('EINVAL', 'readSessionBytes', 'out has no room for two counters at offset');
    if (this.closed) return false;
    for (const s of this.sessions.values()) {
      if (s.id !== id) continue;
      out[offset] = s.up;
      out[offset + 1] = s.down;
      return true;
    }
    return false;
  }

  close(): UdpSessionClosed[] {
    if (this.closed) return [];
    const ended = [...this.sessions.values()].map((s) => this.end(s, 'shutdown'));
    this.closed = true;
    clearInterval(this.sweeper);
    this.socket.close();
    return ended;
  }

  /** The counters the real socket keeps, as far as the mock can tell. */
  stats(): UdpSocketStats {
    return { ...this.counters, sendDropped: 0, receiveDropped: 0, replySockets: 0, sessions: this.sessions.size, forwardDropped: 0, replyDropped: 0 };
  }

  private end(s: MockSession, reason: string): UdpSessionClosed {
    this.sessions.delete(s.key);
    s.upstream.close();
    return { id: s.id, up: s.up, down: s.down, reason };
  }

  oldestSession(): { id: number; idleMs: number } | undefined {
    const s = this.closed ? undefined : this.oldest();
    return s && { id: s.id, idleMs: Math.max(0, Date.now() - s.lastActive) };
  }

  private oldest(): MockSession | undefined {
    let oldest: MockSession | undefined;
    for (const s of this.sessions.values()) if (!oldest || s.lastActive < oldest.lastActive) oldest = s;
    return oldest;
  }

  private sweep(idleMs: number): void {
    const now = Date.now();
    const ended = [...this.sessions.values()].filter((s) => now - s.lastActive >= idleMs).map((s) => this.end(s, 'idle timeout'));
    if (ended.length > 0) this.onSessionsClosed?.(ended);
  }
}

function key(a: string, p: number, da: string, dp: number): string {
  return `${a}|${p}|${da}|${dp}`;
}
