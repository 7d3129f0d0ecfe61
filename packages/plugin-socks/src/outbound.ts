import { isIP, isIPv6, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  ErrorCode,
  SluiceError,
  formatEndpoint,
  type Destination,
  type Endpoint,
  type FlowContext,
  type FlowMetadata,
  type Network,
  type Outbound,
  type OutboundDeps,
  type PacketChannel,
} from '@sluice/core';
import { native as loadNative, type NativeBinding } from '@sluice/native';
import { connectTcp, openDgramChannel, resolveHost, withDeadline, type SocketPlacement } from './dial';
import * as errors from './errors';
import { handshake, type HandshakeRequest } from './handshake';
import { isUnspecified, normalizeIp } from './ip';
import type { SocksOptions } from './options';
import { SocksUdpChannel } from './udp-channel';

/**
 * `ctx` with another signal (and flow). Not `{ ...ctx, signal }`: core's context
 * makes its logger lazily in a getter, which a spread would drop.
 */
function withSignal(ctx: FlowContext, signal: AbortSignal, flow: FlowMetadata = ctx.flow): FlowContext {
  return {
    flow,
    signal,
    get logger() {
      return ctx.logger;
    },
  };
}

/**
 * The flow as the `via` outbound's UDP channel sees it: going to the relay. A
 * `direct` via connects its socket to `dst` (and picks its family by it), and
 * the flow's own destination may be unreachable from here, or of the other
 * family: only the relay is talked to. The client's fake IP is no concern of it.
 */
function towardsRelay(flow: FlowMetadata, relay: Endpoint): FlowMetadata {
  const { addressedTo: _fake, ...rest } = flow;
  return { ...rest, dst: relay };
}

/**
 * A SOCKS5/4/4a server as an outbound. Its transport to the server is either
 * a TCP connection of its own or, with `via`, whatever the `via` outbound's
 * `dialTcp` returns; UDP likewise rides on the `via` outbound's `dialUdp`.
 * So a chain of any depth is plain composition, and nothing here knows what
 * type the `via` is.
 */
export class SocksOutbound implements Outbound {
  readonly type = 'socks';
  readonly tag: string;
  readonly networks: readonly Network[];
  /** Present only when UDP is enabled (and the `via`, if any, carries UDP). */
  readonly dialUdp?: (ctx: FlowContext) => Promise<PacketChannel>;
  private readonly via?: Outbound;
  /** Present when `mark` or `interface` is set: the sockets to the server are made natively. */
  private readonly placement?: SocketPlacement;

  /**
   * @param native The native module, loaded only when `mark` or `interface`
   * asks for a socket option Node cannot set; tests pass a stand-in.
   */
  constructor(
    private readonly options: SocksOptions,
    deps: OutboundDeps,
    native: () => Pick<NativeBinding, 'createSocket'> = loadNative,
  ) {
    this.tag = deps.tag;
    if (options.mark !== undefined || options.interface !== undefined) {
      this.placement = { mark: options.mark, device: options.interface, createSocket: (o) => native().createSocket(o) };
    }
    this.via = options.via !== undefined ? deps.resolve(options.via) : undefined;
    const udp = options.udp && (this.via === undefined || (this.via.networks.includes('udp') && this.via.dialUdp !== undefined));
    if (options.udp && !udp) deps.logger.warn({ via: options.via }, 'socks: udp disabled: the via outbound does not carry UDP');
    this.networks = udp ? ['tcp', 'udp'] : ['tcp'];
    if (udp) this.dialUdp = (ctx) => this.associate(ctx);
  }

  /** Connects to the server (directly or through `via`) and asks it to CONNECT to `dst`. */
  async dialTcp(dst: Destination, ctx: FlowContext): Promise<Duplex> {
    const stream = await this.openTransport(ctx);
    try {
      await handshake(stream, this.request('connect', this.targetHost(dst), dst.port), this.limits(ctx));
      return stream;
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  /** Nothing to release: each flow's streams and channels are closed by their owners. */
  async close(): Promise<void> {}

  /** SOCKS4 can only carry an IPv4 address; 5 and 4a send the sniffed name when there is one. */
  private targetHost(dst: Destination): string {
    return this.options.version === 4 ? dst.address : (dst.host ?? dst.address);
  }

  private request(command: HandshakeRequest['command'], host: string, port: number): HandshakeRequest {
    const { version, username, password } = this.options;
    return { version, command, host, port, username, password };
  }

  private limits(ctx: FlowContext): { timeoutMs: number; signal: AbortSignal } {
    return { timeoutMs: this.options.handshake_timeout_ms, signal: ctx.signal };
  }

  /** A byte stream to the SOCKS server, within `connect_timeout_ms`. */
  private openTransport(ctx: FlowContext): Promise<Duplex> {
    const { server, port, connect_timeout_ms: ms, via: viaTag } = this.options;
    const via = this.via;
    if (via === undefined) {
      return withDeadline<Duplex>(ms, ctx.signal, (signal) => connectTcp(server, port, signal, this.placement), (s) => s.destroy(), errors.connectTimeout, errors.connectFailed);
    }
    // A server given by name is passed on as a name too, so that a socks `via` lets its
    // own server resolve it (names that only resolve inside the first hop's network work).
    const target: Destination = isIP(server) ? { address: server, port } : { address: server, port, host: server };
    return withDeadline<Duplex>(
      ms,
      ctx.signal,
      (signal) => via.dialTcp(target, withSignal(ctx, signal)),
      (s) => s.destroy(),
      errors.connectTimeout,
      (err) => errors.fromVia(viaTag!, err),
    );
  }

  /** One UDP ASSOCIATE: control connection, relay endpoint, datagram carrier. */
  private async associate(ctx: FlowContext): Promise<PacketChannel> {
    const control = await this.openTransport(ctx);
    try {
      const bound = await handshake(control, this.request('associate', this.unknownSource(control), 0), this.limits(ctx));
      if (bound.port === 0) throw errors.malformedReply('port 0 for the UDP relay');
      const relay = await this.relayEndpoint(bound, control, ctx);
      const carrier = await this.openCarrier(relay, control, ctx);
      const logger = ctx.logger.child({ outbound: this.tag, relay: formatEndpoint(relay) });
      // A fake-IP flow sends the name, as its TCP flows do: its replies reach the client from the fake address anyway.
      const sendHost = ctx.flow.addressedTo !== undefined;
      return new SocksUdpChannel({ control, carrier, relay, logger, sendHost });
    } catch (err) {
      control.destroy();
      throw err;
    }
  }

  /**
   * The ASSOCIATE's DST: "I do not know my UDP source yet", as 0.0.0.0:0, which
   * strict servers (dante) accept. dante reads the address family from it, so
   * a server reached over IPv6 gets `::` (with 0.0.0.0 it answers reply 8,
   * "no IPv4 address found amongst the internal addresses").
   */
  private unknownSource(control: Duplex): string {
    const peer = this.via === undefined && control instanceof Socket ? control.remoteAddress : this.options.server;
    return peer !== undefined && isIPv6(normalizeIp(peer)) ? '::' : '0.0.0.0';
  }

  /**
   * Where to send datagrams, and the one address replies are accepted from:
   * an IP, resolved here once per session. A server answering 0.0.0.0 or ::
   * means "the address you reached me at": the socket's peer when we
   * connected ourselves, else the configured server (a `via` socket's peer is
   * the previous hop). A relay (or server) given by name is looked up with
   * this host's resolver, preferring the control connection's family.
   */
  private async relayEndpoint(bound: Endpoint, control: Duplex, ctx: FlowContext): Promise<Endpoint> {
    const peer = this.via === undefined && control instanceof Socket ? control.remoteAddress : undefined;
    const host = isUnspecified(bound.address) ? (peer ?? this.options.server) : bound.address;
    if (isIP(host) !== 0) return { address: normalizeIp(host), port: bound.port };
    const family = isIP(peer ?? this.options.server);
    const address = await withDeadline(
      this.options.connect_timeout_ms,
      ctx.signal,
      () => resolveHost(host, family === 4 || family === 6 ? family : undefined),
      () => undefined,
      errors.connectTimeout,
      (err) => errors.relayUnresolved(host, err),
    );
    return { address, port: bound.port };
  }

  /** The datagram path to the relay: our own UDP socket, or the `via` outbound's channel. */
  private openCarrier(relay: Endpoint, control: Duplex, ctx: FlowContext): Promise<PacketChannel> {
    const { connect_timeout_ms: ms, via: viaTag } = this.options;
    const via = this.via;
    if (via === undefined) {
      const local = control instanceof Socket && control.localAddress ? normalizeIp(control.localAddress) : undefined;
      const fail = (err: unknown): SluiceError => new SluiceError(ErrorCode.DIAL, 'socks: cannot open UDP socket', { cause: err });
      return withDeadline(ms, ctx.signal, () => openDgramChannel(relay, local, ctx.logger, this.placement), (c) => c.close(), errors.connectTimeout, fail);
    }
    // Present: the constructor enables UDP only when the via has it.
    const dialUdp = via.dialUdp!.bind(via);
    return withDeadline(
      ms,
      ctx.signal,
      (signal) => dialUdp(withSignal(ctx, signal, towardsRelay(ctx.flow, relay))),
      (c) => c.close(),
      errors.connectTimeout,
      (err) => errors.fromVia(viaTag!, err),
    );
  }
}
