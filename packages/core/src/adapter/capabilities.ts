import type { FlowContext, Destination } from './flow';
import type { Outbound } from './outbound';

/**
 * Optional capability of an outbound whose TCP stream would be a plain TCP
 * socket carrying the flow's bytes unchanged (`direct`): it can hand over the
 * connected, non-blocking fd itself, so the relay moves the bytes in the
 * kernel without a `net.Socket`. Same semantics as {@link Outbound.dialTcp}
 * (errors, `ctx.signal` aborts the connect); the caller owns the fd.
 *
 * Plugin authors never need this: the relay falls back to the stream from
 * `dialTcp`, and even then relays two plain sockets in the kernel.
 */
export interface TcpFdDialer {
  /** Connects to `dst` and resolves with the connected socket's fd, which the caller then owns. */
  dialTcpFd(dst: Destination, ctx: FlowContext): Promise<number>;
}

/**
 * Optional capability of an outbound whose UDP channel would be a plain UDP
 * socket connected to `ctx.flow.dst`, carrying datagrams unchanged (`direct`):
 * it hands over that socket's fd, and the inbound's session relay moves the
 * session's datagrams without JavaScript. The caller owns the fd.
 */
export interface UdpFdDialer {
  /** Opens a UDP socket connected to `ctx.flow.dst` and resolves with its fd, which the caller then owns. */
  dialUdpFd(ctx: FlowContext): Promise<number>;
}

/** True when `o` offers {@link TcpFdDialer}. */
export function isTcpFdDialer(o: Outbound): o is Outbound & TcpFdDialer {
  return typeof (o as Partial<TcpFdDialer>).dialTcpFd === 'function';
}

/** True when `o` offers {@link UdpFdDialer}. */
export function isUdpFdDialer(o: Outbound): o is Outbound & UdpFdDialer {
  return typeof (o as Partial<UdpFdDialer>).dialUdpFd === 'function';
}
