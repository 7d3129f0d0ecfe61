import * as dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ErrorCode,
  SluiceError,
  addressFamily,
  isErrnoError,
  unmapAddress,
  type Destination,
  type FlowContext,
  type FlowMetadata,
  type Outbound,
  type PacketChannel,
  type PacketReceiver,
  type TcpConnectPlan,
  type TcpConnectPlanner,
  type TcpFdDialer,
  type UdpFdDialer,
  upstreamRefusal,
} from '@sluice/core';
import type { NativeBinding } from '@sluice/native';
import type { DirectOptions } from './options';

type Logger = FlowContext['logger'];

/**
 * The `direct` outbound: connects to the flow's original destination from
 * this host. Sockets that need options Node cannot set (mark, interface,
 * transparent source) are made by the native module and adopted by Node.
 */
export class DirectOutbound implements Outbound, TcpFdDialer, TcpConnectPlanner, UdpFdDialer {
  readonly type = 'direct';
  readonly networks = ['tcp', 'udp'] as const;
  private readonly needsNative: boolean;

  constructor(
    readonly tag: string,
    private readonly options: DirectOptions,
    private readonly native: () => NativeBinding,
  ) {
    this.needsNative = options.mark !== undefined || options.interface !== undefined || options.transparent;
  }

  /**
   * The configured `local_address` of `family`; else, with `transparent`, the
   * client's own address (when of that family), so the remote sees the client.
   */
  private localAddressFor(family: 4 | 6, flow: FlowMetadata): string | undefined {
    const configured = this.options.local_address?.find((a) => addressFamily(a) === family);
    if (configured !== undefined || !this.options.transparent) return configured;
    const client = unmapAddress(flow.src.address);
    return net.isIP(client) !== 0 && addressFamily(client) === family ? client : undefined;
  }

  async dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    const address = await this.addressOf(dst, ctx);
    const { signal, done } = this.dialSignal(ctx, address, dst.port);
    try {
      return await this.connect(address, dst.port, signal, ctx);
    } catch (err) {
      throw this.dialError(err, signal, ctx, address, dst.port);
    } finally {
      done();
    }
  }

  /**
   * The flow's signal, or, with `connect_timeout_ms`, one that also fires when
   * this outbound's own connect timeout runs out (core's `timeouts.connect_ms`
   * still bounds the whole dial).
   */
  private dialSignal(ctx: FlowContext, address: string, port: number): { signal: AbortSignal; done: () => void } {
    const ms = this.options.connect_timeout_ms;
    if (ms === undefined) return { signal: ctx.signal, done: () => {} };
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(ctx.signal.reason);
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => controller.abort(connectTimedOut(address, port, ms)), ms);
    return {
      signal: controller.signal,
      done: () => {
        clearTimeout(timer);
        ctx.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /** Socket errors become `SLUICE_ERR_DIAL` with the errno; aborts and timeouts pass as they are. */
  private dialError(err: unknown, signal: AbortSignal, ctx: FlowContext, address: string, port: number): unknown {
    if (err === signal.reason || err === ctx.signal.reason || !isErrnoError(err)) return err;
    return connectFailed(err, address, port);
  }

  /** {@link TcpFdDialer.dialTcpFd}: connects in the native module (no `net.Socket`); same errors as {@link dialTcp}. */
  async dialTcpFd(dst: Destination, ctx: FlowContext): Promise<number> {
    const address = await this.addressOf(dst, ctx);
    const { signal, done } = this.dialSignal(ctx, address, dst.port);
    try {
      return await this.connectFd(address, dst.port, signal, ctx);
    } catch (err) {
      throw this.dialError(err, signal, ctx, address, dst.port);
    } finally {
      done();
    }
  }

  /**
   * {@link TcpConnectPlanner.planTcpConnect}: the connect {@link dialTcpFd}
   * would make, for the relay to make itself (with `connect_timeout_ms` as
   * the plan's own timeout). Undefined when the address is a name to
   * resolve first.
   */
  planTcpConnect(dst: Destination, flow: FlowMetadata): TcpConnectPlan | undefined {
    const address = dst.host !== undefined && flow.hostSource !== 'dns' ? dst.host : dst.address;
    if (net.isIP(address) === 0) return undefined;
    const port = dst.port;
    const ms = this.options.connect_timeout_ms;
    return {
      address,
      port,
      mark: this.options.mark,
      device: this.options.interface,
      localAddress: this.localAddressFor(addressFamily(address), flow),
      transparent: this.options.transparent,
      // Captures no context: the plan lives as long as the flow.
      dialError: (err) => connectFailed(err, address, port),
      ...(ms === undefined ? {} : { timeout: { ms, error: () => connectTimedOut(address, port, ms) } }),
    };
  }

  private connectFd(address: string, port: number, signal: AbortSignal, ctx: FlowContext): Promise<number> {
    const native = this.native();
    return new Promise<number>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = (): void => {
        dial.cancel();
        reject(signal.reason);
      };
      const dial = new native.TcpDial(
        {
          address,
          port,
          mark: this.options.mark,
          device: this.options.interface,
          localAddress: this.localAddressFor(addressFamily(address), ctx.flow),
          transparent: this.options.transparent,
        },
        (err, fd) => {
          signal.removeEventListener('abort', onAbort);
          if (err) reject(err);
          else resolve(fd!);
        },
      );
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * The IP to connect to: `dst.host` resolved when it is set (the inbound's
   * `override_destination` asks for the name to be dialled), else
   * `dst.address`, resolved when a chain handed us a name there (a SOCKS
   * server named in config); the native path needs an IP before connect.
   * A name the built-in DNS resolver put there (`hostSource: dns`) comes
   * with the real address it answered or resolved upstream: that address is
   * dialled, never a second lookup through the system resolver.
   */
  private async addressOf(dst: Destination, ctx?: FlowContext): Promise<string> {
    const name = dst.host !== undefined && ctx?.flow.hostSource !== 'dns' ? dst.host : dst.address;
    return net.isIP(name) ? name : this.resolve(name);
  }

  private async resolve(name: string): Promise<string> {
    try {
      return (await lookup(name)).address;
    } catch (err) {
      throw new SluiceError(ErrorCode.DIAL, `direct: cannot resolve "${name}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
    }
  }

  private connect(address: string, port: number, signal: AbortSignal, ctx: FlowContext): Promise<net.Socket> {
    const family = addressFamily(address);
    const localAddress = this.localAddressFor(family, ctx.flow);
    let socket: net.Socket;
    if (this.needsNative) {
      const fd = this.native().createSocket({
        type: 'tcp',
        family,
        mark: this.options.mark,
        device: this.options.interface,
        localAddress,
        transparent: this.options.transparent,
      });
      socket = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
      // Must connect in the same tick as the adoption: libuv would otherwise poll an unconnected fd.
      socket.connect({ port, host: address, noDelay: true });
    } else {
      socket = net.connect({ port, host: address, localAddress, allowHalfOpen: true, noDelay: true });
    }
    return new Promise<net.Socket>((resolve, reject) => {
      const onAbort = (): void => {
        socket.destroy();
        reject(signal.reason);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      socket.once('connect', () => {
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err) => {
        signal.removeEventListener('abort', onAbort);
        socket.destroy();
        reject(err);
      });
    });
  }

  /**
   * A UDP socket with this outbound's options, connected to the session's
   * destination. Bind and connect errors (`EACCES` for a broadcast address,
   * `ENETUNREACH`, a bad port) reject with `SLUICE_ERR_DIAL` naming the errno,
   * as {@link dialTcp}'s do, and the socket is closed.
   */
  async dialUdp(ctx: FlowContext): Promise<PacketChannel> {
    const dst = ctx.flow.dst;
    const family = addressFamily(dst.address);
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    try {
      await this.bindUdp(socket, family, ctx);
      // Connected to the session's destination: no per-datagram name lookup or route lookup, and the kernel only
      // delivers that peer's replies (a session is one client endpoint and one destination).
      await connectUdp(socket, dst);
    } catch (err) {
      socket.close();
      throw this.dialError(err, ctx.signal, ctx, dst.address, dst.port);
    }
    return new UdpSocketChannel(socket, dst, ctx.logger);
  }

  private bindUdp(socket: dgram.Socket, family: 4 | 6, ctx: FlowContext): Promise<void> {
    const localAddress = this.localAddressFor(family, ctx.flow);
    return new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      const done = (): void => {
        socket.off('error', reject);
        resolve();
      };
      if (this.needsNative) {
        const fd = this.native().createSocket({
          type: 'udp',
          family,
          mark: this.options.mark,
          device: this.options.interface,
          localAddress: localAddress ?? (family === 6 ? '::' : '0.0.0.0'),
          localPort: 0,
          transparent: this.options.transparent,
        });
        socket.bind({ fd }, done);
      } else {
        socket.bind({ address: localAddress, port: 0 }, done);
      }
    });
  }

  /**
   * {@link UdpFdDialer.dialUdpFd}: a native UDP socket with this outbound's
   * options, connected to the session's destination, for the inbound's native
   * session relay. Same socket, and errors, as {@link dialUdp}'s.
   */
  async dialUdpFd(ctx: FlowContext): Promise<number> {
    const dst = ctx.flow.dst;
    const address = net.isIP(dst.address) ? dst.address : await this.resolve(dst.address);
    const family = addressFamily(address);
    try {
      return this.native().createSocket({
        type: 'udp',
        family,
        mark: this.options.mark,
        device: this.options.interface,
        localAddress: this.localAddressFor(family, ctx.flow),
        transparent: this.options.transparent,
        connectAddress: address,
        connectPort: dst.port,
      });
    } catch (err) {
      throw this.dialError(err, ctx.signal, ctx, address, dst.port);
    }
  }

  async close(): Promise<void> {}
}

/** A socket error of a connect to `address:port` as `SLUICE_ERR_DIAL`, naming the errno. */
function connectFailed(err: NodeJS.ErrnoException, address: string, port: number): SluiceError {
  return new SluiceError(ErrorCode.DIAL, `direct: connect to ${address}:${port} failed (${err.code})`, { cause: err });
}

/** This outbound's own `connect_timeout_ms` ran out on a connect to `address:port`. */
function connectTimedOut(address: string, port: number, ms: number): SluiceError {
  return new SluiceError(ErrorCode.DIAL_TIMEOUT, `direct: connect to ${address}:${port} timed out after ${ms} ms`);
}

/** `socket.connect` as a promise: its callback is the only place a connect error (or a lookup error) is reported. */
function connectUdp(socket: dgram.Socket, dst: Destination): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    // Throws at once on a bad port; the promise turns that into a rejection.
    socket.connect(dst.port, dst.address, (err?: Error) => (err ? reject(err) : resolve()));
  });
}

/** Counters of one {@link UdpSocketChannel}. */
export interface UdpChannelStats {
  /** Datagrams handed to the kernel. */
  sent: number;
  /** Datagrams that could not be sent (bad destination, `EMSGSIZE`, an ICMP refusal reported on send, which also ends the channel…). */
  dropped: number;
}

/**
 * A {@link PacketChannel} over one dgram socket, connected to `peer` when one
 * is given. A datagram for any other destination (a chain sending to a SOCKS
 * relay, say) disconnects it for good, after which it sends to each address.
 * `send` never throws: a datagram that cannot be sent is dropped, counted in
 * {@link UdpSocketChannel.stats} and logged at debug (the first of each
 * session, and the totals on close), as a lost datagram would be. An ICMP
 * port, host or network unreachable for an earlier datagram (which a
 * connected socket reports as `ECONNREFUSED`, `EHOSTUNREACH` or `ENETUNREACH`
 * on a later receive or send) ends the channel: it closes and tells the
 * receiver through `onClose` with core's {@link upstreamRefusal}, so the
 * session ends at once with that reason, as on the native datagram path.
 */
export class UdpSocketChannel implements PacketChannel {
  /** What happened to the datagrams given to {@link send}. */
  readonly stats: UdpChannelStats = { sent: 0, dropped: 0 };
  private receiver?: PacketReceiver;
  private closed = false;
  /** A refusal that came before {@link setReceiver}: reported to the receiver when it is set. */
  private refusal?: Error;

  constructor(
    private readonly socket: dgram.Socket,
    private peer?: Destination,
    private readonly logger?: Logger,
  ) {
    socket.on('message', (msg, rinfo) => this.receiver?.onPacket(msg, { address: unmapAddress(rinfo.address), port: rinfo.port }));
    // A receive error: an ICMP refusal ends the session; anything else costs at most one datagram.
    socket.on('error', (err) => {
      if (!this.endOnRefusal(err)) this.logger?.debug({ err }, 'direct: udp socket error');
    });
  }

  send(data: Buffer, dst: Destination): void {
    if (this.closed) return;
    try {
      const peer = this.peer;
      if (peer !== undefined) {
        if (peer.port === dst.port && peer.address === dst.address) return this.socket.send(data, this.onSent);
        this.peer = undefined;
        this.socket.disconnect();
      }
      this.socket.send(data, dst.port, dst.address, this.onSent);
    } catch (err) {
      // Node throws at once for a bad port or address, and for a socket it already closed.
      this.drop(err);
    }
  }

  setReceiver(receiver: PacketReceiver): void {
    this.receiver = receiver;
    if (this.refusal !== undefined) receiver.onClose(this.refusal);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
    if (this.stats.dropped > 0) this.logger?.debug({ ...this.stats }, 'direct: udp session closed with dropped datagrams');
  }

  private readonly onSent = (err: Error | null): void => {
    if (!err) return void this.stats.sent++;
    this.drop(err);
    this.endOnRefusal(err);
  };

  /**
   * When `err` is the remote's refusal, closes the channel and tells the
   * receiver (once; later errors of a closed channel are ignored). True when
   * it was a refusal.
   */
  private endOnRefusal(err: unknown): boolean {
    const refusal = upstreamRefusal(err);
    if (refusal === undefined) return false;
    if (this.closed) return true;
    this.close();
    this.refusal = refusal;
    this.receiver?.onClose(refusal);
    return true;
  }

  private drop(err: unknown): void {
    if (++this.stats.dropped === 1) this.logger?.debug({ err }, 'direct: udp datagram dropped');
  }
}
